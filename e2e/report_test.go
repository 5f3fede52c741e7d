package e2e

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/reportd/reportd/internal/readmodel"
	"github.com/reportd/reportd/internal/seed"
	"github.com/reportd/reportd/internal/testenv"
)

func decode[T any](t *testing.T, resp *http.Response) T {
	t.Helper()
	defer resp.Body.Close()
	var v T
	body, _ := io.ReadAll(resp.Body)
	if err := json.Unmarshal(body, &v); err != nil {
		t.Fatalf("decode %s: %v\n%s", resp.Request.URL.Path, err, body)
	}
	return v
}

func expectStatus(t *testing.T, resp *http.Response, want int) {
	t.Helper()
	if resp.StatusCode != want {
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		t.Fatalf("%s %s: status %d, want %d\n%s", resp.Request.Method, resp.Request.URL.Path, resp.StatusCode, want, body)
	}
}

// seedOrders loads demo orders through the event path and waits until the
// projector has applied them.
func seedOrders(t *testing.T, env *testenv.Env, clientID string, customers, orders int) seed.Summary {
	t.Helper()
	ctx := context.Background()
	pool := env.DB(t)
	rm := readmodel.NewStore(pool, pool, slog.New(slog.DiscardHandler))
	sum, err := seed.Run(ctx, rm, clientID, seed.Options{Customers: customers, OrdersPerCustomer: orders, Seed: 7}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	// Wait for the worker's projector, so tests see the data they seeded.
	testenv.Eventually(t, 60*time.Second, "the projector to catch up (is a worker running?)", func() bool {
		status, err := rm.Status(ctx)
		if err != nil {
			t.Fatal(err)
		}
		lag := int64(0)
		for _, p := range status {
			lag += p.LagEvents
		}
		return lag == 0
	})
	return sum
}

type reportBody struct {
	ID       string          `json:"id"`
	Status   string          `json:"status"`
	Metadata json.RawMessage `json:"metadata"`
	Error    *struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
	Result *struct {
		URL          string `json:"url"`
		SizeBytes    int64  `json:"size_bytes"`
		SHA256       string `json:"sha256"`
		ContentType  string `json:"content_type"`
		Pages        int    `json:"pages"`
		Rows         int    `json:"rows"`
		DataPosition int64  `json:"data_position"`
	} `json:"result"`
	Webhook struct {
		Status   string `json:"status"`
		Attempts int    `json:"attempts"`
	} `json:"webhook"`
}

type webhookEvent struct {
	Type string     `json:"type"`
	Data reportBody `json:"data"`
}

// TestWholePath is the skeleton's promise: request → 202 → PDF in S3 →
// signed webhook, on real Postgres, Redis and the S3 gateway.
func TestWholePath(t *testing.T) {
	env := testenv.New(t, nil)
	client, receiver := env.CreateClientWithReceiver(t, "Acme Corp")
	env.StartAPI(t)
	env.StartWorker(t)
	sum := seedOrders(t, env, client.ID, 3, 12)
	customer := sum.Customers[0]

	body := fmt.Sprintf(`{"type":"order_history","format":"pdf","params":{"customer_id":%q,"from":"2026-01-01","to":"2026-03-31"},"metadata":{"ref":"abc"}}`, customer)
	resp := env.Do(t, client.APIKey, http.MethodPost, "/v1/reports", body, "X-Request-ID", "req-whole-path-1")
	expectStatus(t, resp, http.StatusAccepted)
	if resp.Header.Get("X-Request-ID") != "req-whole-path-1" {
		t.Fatalf("X-Request-ID was not echoed: %q", resp.Header.Get("X-Request-ID"))
	}
	if loc := resp.Header.Get("Location"); !strings.HasPrefix(loc, "/v1/reports/rep_") {
		t.Fatalf("Location = %q", loc)
	}
	created := decode[reportBody](t, resp)
	if created.Status != "queued" || string(created.Metadata) != `{"ref":"abc"}` {
		t.Fatalf("202 body: %+v", created)
	}

	got := receiver.WaitFor(t, 60*time.Second, "the report.succeeded webhook", func(ds []testenv.Delivery) bool { return len(ds) >= 1 })
	d := got[0]
	if d.Verified != nil {
		t.Fatalf("webhook signature does not verify: %v", d.Verified)
	}
	if !strings.HasPrefix(d.ID, "msg_") || !strings.HasPrefix(d.Signature, "v1,") {
		t.Fatalf("webhook headers: id %q signature %q", d.ID, d.Signature)
	}
	var ev webhookEvent
	if err := json.Unmarshal(d.Body, &ev); err != nil {
		t.Fatal(err)
	}
	if ev.Type != "report.succeeded" || ev.Data.ID != created.ID || ev.Data.Result == nil || string(ev.Data.Metadata) != `{"ref":"abc"}` {
		t.Fatalf("webhook body: %s", d.Body)
	}
	testenv.NewSpecValidator(t).CheckWebhook(t, "report.succeeded", d.Header, d.Body)
	if len(d.Body) > 20<<10 {
		t.Fatalf("webhook body is %d bytes, want under 20 KB", len(d.Body))
	}

	rep := decode[reportBody](t, env.Do(t, client.APIKey, http.MethodGet, "/v1/reports/"+created.ID, ""))
	if rep.Status != "succeeded" || rep.Result == nil || rep.Result.URL == "" {
		t.Fatalf("GET report: %+v", rep)
	}
	if rep.Result.SHA256 != ev.Data.Result.SHA256 || rep.Result.Pages < 1 || rep.Result.Rows != 12 {
		t.Fatalf("result: %+v (webhook sha256 %s)", rep.Result, ev.Data.Result.SHA256)
	}

	// The file's bytes match the sha256 and size the signed webhook vouched for.
	pdf := download(t, env, client.APIKey, created.ID, pdfType)
	if sum := sha256.Sum256(pdf); hex.EncodeToString(sum[:]) != ev.Data.Result.SHA256 || int64(len(pdf)) != ev.Data.Result.SizeBytes {
		t.Fatalf("downloaded file does not match the webhook's sha256/size")
	}
	text := pdfText(t, pdf)
	for _, want := range []string{"Order history", customer, "Acme Corp", "Page 1 of"} {
		if !strings.Contains(text, want) {
			t.Errorf("PDF text lacks %q:\n%s", want, text)
		}
	}

	// Settled: the webhook shows as delivered once the attempt is recorded.
	testenv.Eventually(t, 10*time.Second, "the webhook to show as delivered", func() bool {
		if rep.Webhook.Status == "delivered" {
			return true
		}
		rep = decode[reportBody](t, env.Do(t, client.APIKey, http.MethodGet, "/v1/reports/"+created.ID, ""))
		return rep.Webhook.Status == "delivered"
	})
	if rep.Webhook.Attempts != 1 {
		t.Fatalf("webhook summary: %+v", rep.Webhook)
	}
	checkNoSecretsLogged(t, env, client)
	checkMetrics(t, env)
	// The request id travels from the API through both tasks into the worker's logs.
	for _, msg := range []string{"report succeeded", "webhook delivered"} {
		if !logLineHas(env.Logs.String(), msg, `"request_id":"req-whole-path-1"`) {
			t.Errorf("the worker's %q log line does not carry the request id", msg)
		}
	}
}

// checkMetrics scrapes the API and the worker after a whole run.
func checkMetrics(t *testing.T, env *testenv.Env) {
	t.Helper()
	scrape := func(url string) string {
		resp, err := http.Get(url)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return string(b)
	}
	apiMetrics := scrape(env.APIURL + "/metrics")
	for _, want := range []string{
		`reportd_http_requests_total{method="POST",route="/v1/reports",status="202"} 1`,
		`reportd_reports_total{format="pdf",status="queued",type="order_history"} 1`,
		`reportd_http_request_duration_seconds_bucket{method="GET",route="/v1/reports/{id}"`,
	} {
		if !strings.Contains(apiMetrics, want) {
			t.Errorf("API metrics lack %s", want)
		}
	}
	workerMetrics := scrape(env.WorkerMetricsURL)
	for _, want := range []string{
		`reportd_reports_total{format="pdf",status="succeeded",type="order_history"} 1`,
		`reportd_webhook_attempts_total{outcome="2xx"} 1`,
		`reportd_render_duration_seconds_count{format="pdf",type="order_history"} 1`,
		`reportd_webhook_delivery_latency_seconds_count 1`,
		`reportd_queue_size{queue="reports",state="pending"}`,
		`reportd_projection_lag_events{projection="customer_order_history"}`,
	} {
		if !strings.Contains(workerMetrics, want) {
			t.Errorf("worker metrics lack %s", want)
		}
	}
}

// logLineHas reports whether a JSON log line with msg also contains want.
func logLineHas(logs, msg, want string) bool {
	for line := range strings.SplitSeq(logs, "\n") {
		if strings.Contains(line, `"msg":"`+msg+`"`) && strings.Contains(line, want) {
			return true
		}
	}
	return false
}

func pdfText(t *testing.T, pdf []byte) string {
	t.Helper()
	if _, err := exec.LookPath("pdftotext"); err != nil {
		t.Fatal("pdftotext is missing: install poppler-utils (scripts/test-deps.sh does)")
	}
	path := filepath.Join(t.TempDir(), "report.pdf")
	if err := os.WriteFile(path, pdf, 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("pdftotext", "-layout", path, "-").CombinedOutput()
	if err != nil {
		t.Fatalf("pdftotext: %v\n%s", err, out)
	}
	return string(out)
}

// checkNoSecretsLogged greps everything the API and worker logged for the
// client's API key and webhook secret.
func checkNoSecretsLogged(t *testing.T, env *testenv.Env, c testenv.Client) {
	t.Helper()
	logs := env.Logs.String()
	if logs == "" {
		t.Fatal("no logs were captured")
	}
	secretPart := strings.TrimPrefix(c.Secret, "whsec_")
	for name, s := range map[string]string{"api key": c.APIKey, "webhook secret": secretPart} {
		if strings.Contains(logs, s) {
			t.Errorf("the logs contain the %s", name)
		}
	}
}
