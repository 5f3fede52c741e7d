package monitoring_test

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/hibiken/asynq"

	"github.com/reportd/reportd/internal/monitoring"
	"github.com/reportd/reportd/internal/testenv"
)

const token = "op-token-Secret-123"

// serve starts the dashboard, mounted like the API mounts it, on a leased
// Redis database that holds one report task with a secret in its payload.
func serve(t *testing.T, readOnly bool) string {
	t.Helper()
	if testing.Short() {
		t.Skip("needs Redis; -short skips it")
	}
	opt, err := asynq.ParseRedisURI(testenv.RedisURL(t))
	if err != nil {
		t.Fatal(err)
	}
	client := asynq.NewClient(opt)
	defer client.Close()
	payload := `{"report_id":"rep_1","client_id":"cli_2","webhook_secret":"whsec_TOPSECRET","email":"alice@example.com"}`
	if _, err := client.Enqueue(asynq.NewTask("report:generate", []byte(payload)), asynq.Queue("reports"), asynq.TaskID("rep_1")); err != nil {
		t.Fatalf("enqueue: %v", err)
	}
	h, err := monitoring.New(monitoring.Options{RedisConnOpt: opt, Token: token, ReadOnly: readOnly,
		Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := h.Close(); err != nil {
			t.Error(err)
		}
	})
	mux := http.NewServeMux()
	mux.Handle("/monitoring/", h)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv.URL
}

func get(t *testing.T, url string, auth func(*http.Request)) (*http.Response, string) {
	t.Helper()
	return do(t, http.MethodGet, url, auth)
}

func do(t *testing.T, method, url string, auth func(*http.Request)) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if auth != nil {
		auth(req)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	return res, string(body)
}

func bearer(tok string) func(*http.Request) {
	return func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+tok) }
}

func basic(user, pass string) func(*http.Request) {
	return func(r *http.Request) { r.SetBasicAuth(user, pass) }
}

func TestCredentials(t *testing.T) {
	base := serve(t, true)
	tests := []struct {
		name string
		auth func(*http.Request)
		want int
	}{
		{"none", nil, http.StatusUnauthorized},
		{"wrong bearer", bearer("op-token-Secret-12"), http.StatusUnauthorized},
		{"empty bearer", bearer(""), http.StatusUnauthorized},
		{"wrong basic password", basic("ops", "nope"), http.StatusUnauthorized},
		{"token as basic user", basic(token, ""), http.StatusUnauthorized},
		{"other scheme", func(r *http.Request) { r.Header.Set("Authorization", "Token "+token) }, http.StatusUnauthorized},
		{"bearer", bearer(token), http.StatusOK},
		{"bearer, lower-case scheme", func(r *http.Request) { r.Header.Set("Authorization", "bearer "+token) }, http.StatusOK},
		{"basic, any user", basic("anyone", token), http.StatusOK},
		{"basic, no user", basic("", token), http.StatusOK},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, path := range []string{"/monitoring/", "/monitoring/api/queues"} {
				res, body := get(t, base+path, tt.auth)
				if res.StatusCode != tt.want {
					t.Fatalf("GET %s = %d, want %d; body: %.200s", path, res.StatusCode, tt.want, body)
				}
				if tt.want == http.StatusUnauthorized {
					if got := res.Header.Get("WWW-Authenticate"); !strings.HasPrefix(got, `Basic realm="reportd operators"`) {
						t.Errorf("WWW-Authenticate = %q, want a basic challenge for the reportd operators realm", got)
					}
					if strings.Contains(body, "reports") {
						t.Errorf("401 body leaks queue data: %s", body)
					}
				}
			}
		})
	}
}

// The SPA is served under /monitoring/ with its assets and API rooted there.
func TestServesUnderRootPath(t *testing.T) {
	base := serve(t, true)
	auth := bearer(token)
	res, index := get(t, base+"/monitoring/", auth)
	if res.StatusCode != http.StatusOK || !strings.Contains(index, `window.FLAG_ROOT_PATH="\/monitoring"`) {
		t.Fatalf("GET /monitoring/ = %d, want the SPA rooted at /monitoring; body: %.300s", res.StatusCode, index)
	}
	if !strings.Contains(index, `window.FLAG_READ_ONLY="true"`) {
		t.Errorf("index does not tell the UI it is read-only")
	}
	if got := res.Header.Get("X-Frame-Options"); got != "DENY" {
		t.Errorf("X-Frame-Options = %q, want DENY", got)
	}
	scripts := regexp.MustCompile(`src="(/monitoring/static/js/[^"]+\.js)"`).FindAllStringSubmatch(index, -1)
	if len(scripts) == 0 {
		t.Fatalf("index names no /monitoring/static/js script: %.500s", index)
	}
	for _, s := range scripts {
		res, _ := get(t, base+s[1], auth)
		if ct := res.Header.Get("Content-Type"); res.StatusCode != http.StatusOK || !strings.HasPrefix(ct, "application/javascript") {
			t.Errorf("GET %s = %d %q, want 200 application/javascript", s[1], res.StatusCode, ct)
		}
	}

	_, body := get(t, base+"/monitoring/api/queues", auth)
	var queues struct {
		Queues []struct {
			Queue   string `json:"queue"`
			Pending int    `json:"pending"`
		} `json:"queues"`
	}
	if err := json.Unmarshal([]byte(body), &queues); err != nil {
		t.Fatalf("decode /api/queues: %v: %s", err, body)
	}
	if len(queues.Queues) != 1 || queues.Queues[0].Queue != "reports" || queues.Queues[0].Pending != 1 {
		t.Errorf("queues = %+v, want reports with 1 pending", queues.Queues)
	}
}

func TestPayloadsRedacted(t *testing.T) {
	base := serve(t, true)
	for _, path := range []string{"/monitoring/api/queues/reports/pending_tasks", "/monitoring/api/queues/reports/tasks/rep_1"} {
		res, body := get(t, base+path, bearer(token))
		if res.StatusCode != http.StatusOK {
			t.Fatalf("GET %s = %d: %s", path, res.StatusCode, body)
		}
		for _, secret := range []string{"TOPSECRET", "alice@example.com", "webhook_secret", "email"} {
			if strings.Contains(body, secret) {
				t.Errorf("GET %s shows %q: %s", path, secret, body)
			}
		}
		want := `{\"report_id\":\"rep_1\",\"client_id\":\"cli_2\",\"hidden_fields\":2}`
		if !strings.Contains(body, want) {
			t.Errorf("GET %s lacks the redacted payload %s: %s", path, want, body)
		}
	}
}

func TestReadOnlyAndCrossOrigin(t *testing.T) {
	pause := "/monitoring/api/queues/reports:pause"
	ro := serve(t, true)
	if res, body := do(t, http.MethodPost, ro+pause, bearer(token)); res.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("read-only POST %s = %d, want 405: %s", pause, res.StatusCode, body)
	}

	rw := serve(t, false)
	crossSite := func(r *http.Request) {
		basic("ops", token)(r)
		r.Header.Set("Sec-Fetch-Site", "cross-site")
	}
	if res, body := do(t, http.MethodPost, rw+pause, crossSite); res.StatusCode != http.StatusForbidden {
		t.Errorf("cross-site POST %s = %d, want 403: %s", pause, res.StatusCode, body)
	}
	if res, body := do(t, http.MethodPost, rw+pause, bearer(token)); res.StatusCode != http.StatusNoContent {
		t.Errorf("POST %s = %d, want 204: %s", pause, res.StatusCode, body)
	}
}

func TestDisabledWithoutToken(t *testing.T) {
	h, err := monitoring.New(monitoring.Options{Token: ""})
	if err != nil || h != nil {
		t.Fatalf("New without a token = %v, %v; want nil, nil", h, err)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/monitoring/", nil))
	if diff := cmp.Diff(http.StatusNotFound, rec.Code); diff != "" {
		t.Errorf("disabled dashboard status (-want +got):\n%s", diff)
	}
	if err := h.Close(); err != nil {
		t.Errorf("Close on a disabled dashboard: %v", err)
	}
}

func TestNeedsRedis(t *testing.T) {
	if _, err := monitoring.New(monitoring.Options{Token: token}); err == nil {
		t.Error("New with a token but no Redis: want an error")
	}
}
