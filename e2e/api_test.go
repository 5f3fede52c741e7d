package e2e

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/reportd/reportd/internal/testenv"
)

type problemBody struct {
	Type   string `json:"type"`
	Title  string `json:"title"`
	Status int    `json:"status"`
	Detail string `json:"detail"`
	Errors []struct {
		Field   string `json:"field"`
		Message string `json:"message"`
	} `json:"errors"`
}

// apiEnv runs an API without a worker, so reports stay queued and every
// answer depends on the API alone.
func apiEnv(t *testing.T, vars map[string]string) (*testenv.Env, testenv.Client) {
	t.Helper()
	env := testenv.New(t, vars)
	client := env.CreateClient(t, "Client A", "https://hooks.example.com/a", "reports")
	env.StartAPI(t)
	return env, client
}

const validReport = `{"type":"order_history","format":"pdf","params":{"customer_id":"cus_1","from":"2026-01-01","to":"2026-03-31"}}`

func TestAPIStatusCodes(t *testing.T) {
	env, a := apiEnv(t, map[string]string{"WEBHOOK_ALLOW_PRIVATE_NETWORKS": "false"})
	eventsOnly := env.CreateClient(t, "Events Only", "", "events:write")
	big := `{"type":"order_history","format":"pdf","params":{"customer_id":"cus_1","from":"2026-01-01","to":"2026-03-31"},"metadata":{"x":"` + strings.Repeat("a", 70<<10) + `"}}`
	tests := []struct {
		name, key, method, path, body string
		headers                       []string
		want                          int
		field                         string // a field the problem's errors[] must name
	}{
		{"accepted", a.APIKey, "POST", "/v1/reports", validReport, nil, 202, ""},
		{"no key", "", "POST", "/v1/reports", validReport, nil, 401, ""},
		{"bad key", "rk_aaaaaaaaaaaaaaaa_" + strings.Repeat("b", 52), "POST", "/v1/reports", validReport, nil, 401, ""},
		{"garbage key", "hunter2", "GET", "/v1/reports", "", nil, 401, ""},
		{"wrong scope", eventsOnly.APIKey, "POST", "/v1/reports", validReport, nil, 403, ""},
		{"wrong scope for events", a.APIKey, "POST", "/v1/order-events", `{"events":[]}`, nil, 403, ""},
		{"malformed json", a.APIKey, "POST", "/v1/reports", `{"type":`, nil, 400, ""},
		{"unknown field", a.APIKey, "POST", "/v1/reports", `{"type":"order_history","format":"pdf","colour":"red","params":{"customer_id":"c","from":"2026-01-01","to":"2026-01-02"}}`, nil, 400, ""},
		{"unknown param", a.APIKey, "POST", "/v1/reports", `{"type":"order_history","format":"pdf","params":{"customer_id":"c","from":"2026-01-01","to":"2026-01-02","x":1}}`, nil, 400, ""},
		{"two objects", a.APIKey, "POST", "/v1/reports", validReport + validReport, nil, 400, ""},
		{"array body", a.APIKey, "POST", "/v1/reports", `[1]`, nil, 400, ""},
		{"wrong json type", a.APIKey, "POST", "/v1/reports", `{"type":7}`, nil, 400, ""},
		{"replay bad since", a.APIKey, "POST", "/v1/deliveries/replay", `{"status":"dead","since":"yesterday"}`, nil, 422, "since"},
		{"unknown type", a.APIKey, "POST", "/v1/reports", `{"type":"tax","format":"pdf","params":{"customer_id":"c","from":"2026-01-01","to":"2026-01-02"}}`, nil, 422, "type"},
		{"bad format", a.APIKey, "POST", "/v1/reports", `{"type":"order_history","format":"docx","params":{"customer_id":"c","from":"2026-01-01","to":"2026-01-02"}}`, nil, 422, "format"},
		{"from after to", a.APIKey, "POST", "/v1/reports", `{"type":"order_history","format":"pdf","params":{"customer_id":"c","from":"2026-02-01","to":"2026-01-02"}}`, nil, 422, "params.to"},
		{"bad date", a.APIKey, "POST", "/v1/reports", `{"type":"order_history","format":"pdf","params":{"customer_id":"c","from":"2026-02-30","to":"2026-03-02"}}`, nil, 422, "params.from"},
		{"range too long", a.APIKey, "POST", "/v1/reports", `{"type":"order_history","format":"pdf","params":{"customer_id":"c","from":"2000-01-01","to":"2026-01-02"}}`, nil, 422, "params.to"},
		{"missing customer", a.APIKey, "POST", "/v1/reports", `{"type":"order_history","format":"pdf","params":{"from":"2026-01-01","to":"2026-01-02"}}`, nil, 422, "params.customer_id"},
		{"loopback webhook", a.APIKey, "POST", "/v1/reports", `{"type":"order_history","format":"pdf","params":{"customer_id":"c","from":"2026-01-01","to":"2026-01-02"},"webhook_url":"https://127.0.0.1/x"}`, nil, 422, "webhook_url"},
		{"metadata not object", a.APIKey, "POST", "/v1/reports", `{"type":"order_history","format":"pdf","params":{"customer_id":"c","from":"2026-01-01","to":"2026-01-02"},"metadata":[1]}`, nil, 422, "metadata"},
		{"negative min_position", a.APIKey, "POST", "/v1/reports", `{"type":"order_history","format":"pdf","params":{"customer_id":"c","from":"2026-01-01","to":"2026-01-02"},"min_position":-1}`, nil, 422, "min_position"},
		{"too large", a.APIKey, "POST", "/v1/reports", big, nil, 413, ""},
		{"long idempotency key", a.APIKey, "POST", "/v1/reports", validReport, []string{"Idempotency-Key", strings.Repeat("k", 256)}, 422, "Idempotency-Key"},
		{"not found", a.APIKey, "GET", "/v1/reports/rep_doesnotexist", "", nil, 404, ""},
		{"bad limit", a.APIKey, "GET", "/v1/reports?limit=1000", "", nil, 422, "limit"},
		{"bad status filter", a.APIKey, "GET", "/v1/reports?status=done", "", nil, 422, "status"},
		{"bad cursor", a.APIKey, "GET", "/v1/reports?cursor=!!!", "", nil, 422, "cursor"},
		{"bad wait", a.APIKey, "GET", "/v1/reports/rep_x?wait=forever", "", nil, 422, "wait"},
		{"method not allowed", a.APIKey, "DELETE", "/v1/reports", "", nil, 405, ""},
		{"unknown path", a.APIKey, "GET", "/v1/nothing", "", nil, 404, ""},
		{"replay bad status", a.APIKey, "POST", "/v1/deliveries/replay", `{"status":"delivered"}`, nil, 422, "status"},
		{"events malformed", eventsOnly.APIKey, "POST", "/v1/order-events", `{"events":`, nil, 400, ""},
		{"events empty", eventsOnly.APIKey, "POST", "/v1/order-events", `{"events":[]}`, nil, 422, ""},
		{"healthz", "", "GET", "/healthz", "", nil, 200, ""},
		{"readyz", "", "GET", "/readyz", "", nil, 200, ""},
		{"openapi", "", "GET", "/openapi.yaml", "", nil, 200, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			resp := env.Do(t, tc.key, tc.method, tc.path, tc.body, tc.headers...)
			if resp.StatusCode != tc.want {
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tc.want, b)
			}
			if tc.want < 400 {
				resp.Body.Close()
				return
			}
			if ct := resp.Header.Get("Content-Type"); ct != "application/problem+json" {
				t.Errorf("Content-Type %q, want application/problem+json", ct)
			}
			p := decode[problemBody](t, resp)
			if p.Status != tc.want || p.Type == "" || p.Title == "" {
				t.Errorf("problem body: %+v", p)
			}
			if tc.field != "" && !hasField(p, tc.field) {
				t.Errorf("errors[] %+v do not name %q", p.Errors, tc.field)
			}
		})
	}

	t.Run("unsupported media type", func(t *testing.T) {
		req, _ := http.NewRequest(http.MethodPost, env.APIURL+"/v1/reports", strings.NewReader(validReport))
		req.Header.Set("Authorization", "Bearer "+a.APIKey)
		req.Header.Set("Content-Type", "text/plain")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		expectStatus(t, resp, http.StatusUnsupportedMediaType)
		resp.Body.Close()
	})
}

func hasField(p problemBody, field string) bool {
	for _, e := range p.Errors {
		if e.Field == field {
			return true
		}
	}
	return false
}

// TestTenantIsolation: client B gets 404 on every endpoint that touches
// client A's report.
func TestTenantIsolation(t *testing.T) {
	env, a := apiEnv(t, nil)
	b := env.CreateClient(t, "Client B", "https://hooks.example.com/b")
	resp := env.Do(t, a.APIKey, "POST", "/v1/reports", validReport)
	expectStatus(t, resp, http.StatusAccepted)
	id := decode[reportBody](t, resp).ID
	for _, ep := range []struct{ method, path string }{
		{"GET", "/v1/reports/" + id},
		{"GET", "/v1/reports/" + id + "?wait=1s"},
		{"GET", "/v1/reports/" + id + "/download"},
		{"POST", "/v1/reports/" + id + "/cancel"},
		{"GET", "/v1/reports/" + id + "/deliveries"},
	} {
		resp := env.Do(t, b.APIKey, ep.method, ep.path, "")
		if resp.StatusCode != http.StatusNotFound {
			t.Errorf("%s %s as client B: %d, want 404", ep.method, ep.path, resp.StatusCode)
		}
		resp.Body.Close()
	}
	list := decode[struct {
		Data []reportBody `json:"data"`
	}](t, env.Do(t, b.APIKey, "GET", "/v1/reports", ""))
	if len(list.Data) != 0 {
		t.Errorf("client B lists %d reports, want none of A's", len(list.Data))
	}
	// A still sees its report, untouched.
	if rep := decode[reportBody](t, env.Do(t, a.APIKey, "GET", "/v1/reports/"+id, "")); rep.Status != "queued" {
		t.Errorf("A's report is %s after B's attempts, want queued", rep.Status)
	}
}

func TestIdempotencyKeys(t *testing.T) {
	env, a := apiEnv(t, nil)

	t.Run("replay returns the original", func(t *testing.T) {
		first := env.Do(t, a.APIKey, "POST", "/v1/reports", validReport, "Idempotency-Key", "order-1")
		expectStatus(t, first, http.StatusAccepted)
		firstBody, _ := io.ReadAll(first.Body)
		first.Body.Close()
		// The same request with other spacing is the same request.
		again := env.Do(t, a.APIKey, "POST", "/v1/reports", strings.ReplaceAll(validReport, ",", ", "), "Idempotency-Key", "order-1")
		expectStatus(t, again, http.StatusAccepted)
		againBody, _ := io.ReadAll(again.Body)
		again.Body.Close()
		if again.Header.Get("Idempotent-Replayed") != "true" || string(againBody) != string(firstBody) {
			t.Fatalf("replay: header %q, body equal %v", again.Header.Get("Idempotent-Replayed"), string(againBody) == string(firstBody))
		}
		if again.Header.Get("Location") != first.Header.Get("Location") {
			t.Fatalf("replay Location %q, want %q", again.Header.Get("Location"), first.Header.Get("Location"))
		}
	})

	t.Run("same key, other body", func(t *testing.T) {
		expectStatus(t, env.Do(t, a.APIKey, "POST", "/v1/reports", validReport, "Idempotency-Key", "order-2"), http.StatusAccepted)
		other := strings.Replace(validReport, "pdf", "csv", 1)
		resp := env.Do(t, a.APIKey, "POST", "/v1/reports", other, "Idempotency-Key", "order-2")
		expectStatus(t, resp, http.StatusUnprocessableEntity)
		resp.Body.Close()
	})

	t.Run("100 concurrent duplicates make one report", func(t *testing.T) {
		var wg sync.WaitGroup
		codes := make(chan int, 100)
		for range 100 {
			wg.Go(func() {
				resp := env.Do(t, a.APIKey, "POST", "/v1/reports", validReport, "Idempotency-Key", "storm")
				resp.Body.Close()
				codes <- resp.StatusCode
			})
		}
		wg.Wait()
		close(codes)
		for c := range codes {
			if c != http.StatusAccepted && c != http.StatusConflict {
				t.Errorf("a duplicate got %d, want 202 or 409", c)
			}
		}
		list := decode[struct {
			Data []reportBody `json:"data"`
		}](t, env.Do(t, a.APIKey, "GET", "/v1/reports?limit=100", ""))
		// Two from the subtests above, plus exactly one from the storm.
		if len(list.Data) != 3 {
			t.Fatalf("%d reports exist, want 3 (exactly one from the storm)", len(list.Data))
		}
	})
}

func TestInFlightQuotaAnd429(t *testing.T) {
	env, a := apiEnv(t, map[string]string{"MAX_IN_FLIGHT": "2"})
	for range 2 {
		expectStatus(t, env.Do(t, a.APIKey, "POST", "/v1/reports", validReport), http.StatusAccepted)
	}
	resp := env.Do(t, a.APIKey, "POST", "/v1/reports", validReport)
	expectStatus(t, resp, http.StatusTooManyRequests)
	if ra, err := strconv.Atoi(resp.Header.Get("Retry-After")); err != nil || ra < 1 {
		t.Fatalf("Retry-After %q", resp.Header.Get("Retry-After"))
	}
	resp.Body.Close()
}

func TestCancelAndList(t *testing.T) {
	env, a := apiEnv(t, nil)
	ids := make([]string, 0, 5)
	for range 5 {
		resp := env.Do(t, a.APIKey, "POST", "/v1/reports", validReport)
		expectStatus(t, resp, http.StatusAccepted)
		ids = append(ids, decode[reportBody](t, resp).ID)
	}
	resp := env.Do(t, a.APIKey, "POST", "/v1/reports/"+ids[0]+"/cancel", "")
	expectStatus(t, resp, http.StatusOK)
	if rep := decode[reportBody](t, resp); rep.Status != "canceled" {
		t.Fatalf("after cancel: %s", rep.Status)
	}
	resp = env.Do(t, a.APIKey, "POST", "/v1/reports/"+ids[0]+"/cancel", "")
	expectStatus(t, resp, http.StatusConflict)
	resp.Body.Close()
	dl := env.Do(t, a.APIKey, "GET", "/v1/reports/"+ids[1]+"/download", "")
	expectStatus(t, dl, http.StatusConflict)
	dl.Body.Close()

	// Page through with limit=2: every report exactly once, newest first.
	seen := map[string]bool{}
	cursor := ""
	for pages := 0; ; pages++ {
		if pages > 5 {
			t.Fatal("pagination does not end")
		}
		page := decode[struct {
			Data       []reportBody `json:"data"`
			HasMore    bool         `json:"has_more"`
			NextCursor *string      `json:"next_cursor"`
		}](t, env.Do(t, a.APIKey, "GET", "/v1/reports?limit=2"+cursor, ""))
		for _, r := range page.Data {
			if seen[r.ID] {
				t.Fatalf("report %s listed twice", r.ID)
			}
			seen[r.ID] = true
		}
		if !page.HasMore {
			break
		}
		cursor = "&cursor=" + *page.NextCursor
	}
	if len(seen) != 5 {
		t.Fatalf("listed %d reports, want 5", len(seen))
	}
	canceled := decode[struct {
		Data []reportBody `json:"data"`
	}](t, env.Do(t, a.APIKey, "GET", "/v1/reports?status=canceled", ""))
	if len(canceled.Data) != 1 || canceled.Data[0].ID != ids[0] {
		t.Fatalf("status=canceled lists %+v", canceled.Data)
	}
}

// TestRedisDownAnswers503 runs the API on a private Redis and stops it: the
// API must answer 503 with Retry-After, never 500 and never hang.
func TestRedisDownAnswers503(t *testing.T) {
	port := freePort(t)
	redis := exec.Command("redis-server", "--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no")
	if err := redis.Start(); err != nil {
		t.Fatalf("start a private redis-server: %v (install redis-server)", err)
	}
	t.Cleanup(func() { _ = redis.Process.Kill(); _ = redis.Wait() })
	waitTCP(t, port)
	env, a := apiEnv(t, map[string]string{"REDIS_URL": fmt.Sprintf("redis://127.0.0.1:%d/0", port)})
	expectStatus(t, env.Do(t, a.APIKey, "POST", "/v1/reports", validReport), http.StatusAccepted)

	_ = redis.Process.Kill()
	_ = redis.Wait()

	// The API caches the queue's health for a second: until it looks again
	// a report is still accepted (its row needs only Postgres).
	var resp *http.Response
	testenv.Eventually(t, 10*time.Second, "the API to answer 503 with Redis down", func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, env.APIURL+"/v1/reports", strings.NewReader(validReport))
		req.Header.Set("Authorization", "Bearer "+a.APIKey)
		req.Header.Set("Content-Type", "application/json")
		var err error
		if resp, err = http.DefaultClient.Do(req); err != nil {
			t.Fatalf("POST with Redis down: %v (it must answer, not hang)", err)
		}
		if resp.StatusCode == http.StatusAccepted {
			resp.Body.Close()
			return false
		}
		expectStatus(t, resp, http.StatusServiceUnavailable)
		return true
	})
	if resp.Header.Get("Retry-After") == "" {
		t.Fatal("503 without Retry-After")
	}
	resp.Body.Close()
	ready := env.Do(t, "", "GET", "/readyz", "")
	expectStatus(t, ready, http.StatusServiceUnavailable)
	if body, _ := io.ReadAll(ready.Body); !strings.Contains(string(body), `"redis":"unavailable"`) {
		t.Fatalf("/readyz does not name redis: %s", body)
	}
}

func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

func waitTCP(t *testing.T, port int) {
	t.Helper()
	testenv.Eventually(t, 5*time.Second, fmt.Sprintf("a listener on port %d", port), func() bool {
		c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port))
		if err == nil {
			c.Close()
		}
		return err == nil
	})
}
