package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/reportd/reportd/internal/testenv"
)

// TestHostileInputAtTheEdge sends what a hostile or broken client might to
// the real API on real Postgres: every answer is a 4xx problem+json naming
// the field (checked against openapi.yaml by env.Do), never a 500 (testenv
// fails the test if the API logs one).
func TestHostileInputAtTheEdge(t *testing.T) {
	env, a := apiEnv(t, nil)
	events := env.CreateClient(t, "Events", "", "events:write")
	cursor := func(raw string) string { return base64.RawURLEncoding.EncodeToString([]byte(raw)) }
	placed := func(items, total string) string {
		return `{"events":[{"event_id":"e1","order_id":"o1","sequence":1,"type":"OrderPlaced","occurred_at":"2026-03-01T10:00:00Z",` +
			`"data":{"customer_id":"c","merchant_id":"m","currency":"USD","items":` + items + `,"total_cents":` + total + `}}]}`
	}
	withMeta := func(meta string) string {
		return `{"type":"order_history","format":"pdf","params":{"customer_id":"c","from":"2026-01-01","to":"2026-01-02"},"metadata":` + meta + `}`
	}
	type req struct {
		name, key, method, path, body string
		headers                       []string
		want                          int
		field                         string
	}
	tests := []req{
		{"case-variant key", a.APIKey, "POST", "/v1/reports", strings.Replace(validReport, `"type"`, `"TYPE"`, 1), nil, 400, ""},
		{"far-apart dates", a.APIKey, "POST", "/v1/reports", `{"type":"order_history","format":"pdf","params":{"customer_id":"c","from":"0001-01-01","to":"9999-12-31"}}`, nil, 422, "params.to"},
		{"NUL in metadata", a.APIKey, "POST", "/v1/reports", withMeta(`{"k":"v\u0000"}`), nil, 422, "metadata.k"},
		{"lone surrogate in metadata", a.APIKey, "POST", "/v1/reports", withMeta(`{"k\ud800":"v"}`), nil, 422, ""},
		{"NUL in customer_id", a.APIKey, "POST", "/v1/reports", strings.Replace(validReport, "cus_1", `cus\u0000`, 1), nil, 422, "params.customer_id"},
		{"empty Idempotency-Key", a.APIKey, "POST", "/v1/reports", validReport, []string{"Idempotency-Key", ""}, 422, "Idempotency-Key"},
		{"replay limit 0", a.APIKey, "POST", "/v1/deliveries/replay", `{"status":"dead","limit":0}`, nil, 422, "limit"},
		{"replay limit 1001", a.APIKey, "POST", "/v1/deliveries/replay", `{"status":"dead","limit":1001}`, nil, 422, "limit"},
		{"cursor with NUL", a.APIKey, "GET", "/v1/reports?cursor=" + cursor("1:rep_\x00"), "", nil, 422, "cursor"},
		{"cursor with invalid UTF-8", a.APIKey, "GET", "/v1/reports?cursor=" + cursor("1:rep_\xff\xfe"), "", nil, 422, "cursor"},
		{"cursor of garbage", a.APIKey, "GET", "/v1/deliveries?cursor=" + cursor("garbage"), "", nil, 422, "cursor"},
		{"cursor of another resource", a.APIKey, "GET", "/v1/deliveries?cursor=" + cursor("1:rep_"+strings.Repeat("a", 26)), "", nil, 422, "cursor"},
		{"events: amount over 10^12", events.APIKey, "POST", "/v1/order-events", placed(`[{"sku":"a","qty":1,"unit_price_cents":1000000000001}]`, "1000000000001"), nil, 422, "events[0].data.items[0].unit_price_cents"},
		{"events: int64 max", events.APIKey, "POST", "/v1/order-events", placed(`[{"sku":"a","qty":1,"unit_price_cents":9223372036854775807}]`, "9223372036854775807"), nil, 422, "events[0].data.total_cents"},
		{"events: qty over 10^6", events.APIKey, "POST", "/v1/order-events", placed(`[{"sku":"a","qty":1000001,"unit_price_cents":1}]`, "1000001"), nil, 422, "events[0].data.items[0].qty"},
		{"events: unknown currency", events.APIKey, "POST", "/v1/order-events", strings.Replace(placed(`[{"sku":"a","qty":1,"unit_price_cents":1}]`, "1"), "USD", "ZZZ", 1), nil, 422, "events[0].data.currency"},
		{"events: NUL in sku", events.APIKey, "POST", "/v1/order-events", placed(`[{"sku":"a\u0000","qty":1,"unit_price_cents":1}]`, "1"), nil, 422, "events[0].data.items[0].sku"},
		{"events: lone surrogate", events.APIKey, "POST", "/v1/order-events", placed(`[{"sku":"\udc00","qty":1,"unit_price_cents":1}]`, "1"), nil, 422, "events[0].data.items[0].sku"},
		{"events: case-variant key", events.APIKey, "POST", "/v1/order-events", strings.Replace(placed(`[{"sku":"a","qty":1,"unit_price_cents":1}]`, "1"), `"sku"`, `"SKU"`, 1), nil, 400, "events[0].data.items[0]"},
		{"events: empty Idempotency-Key", events.APIKey, "POST", "/v1/order-events", placed(`[{"sku":"a","qty":1,"unit_price_cents":1}]`, "1"), []string{"Idempotency-Key", ""}, 422, "Idempotency-Key"},
		{"events: over the cap", events.APIKey, "POST", "/v1/order-events", `{"events":[` + strings.Repeat(`{},`, 5000) + `{}]}`, nil, 422, "events"},
	}
	// Every path id that cannot exist is simply not found.
	notFound := make([]req, 0, 30)
	for _, id := range []string{"rep_%00x", "rep_%FFx", "msg_%00x", "msg_%FFx", "rep_" + strings.Repeat("a", 26) + "%00", strings.Repeat("x", 300)} {
		for _, ep := range []struct{ method, path string }{
			{"GET", "/v1/reports/%s"}, {"GET", "/v1/reports/%s/download"}, {"POST", "/v1/reports/%s/cancel"},
			{"GET", "/v1/reports/%s/deliveries"}, {"POST", "/v1/deliveries/%s/redeliver"},
		} {
			path := fmt.Sprintf(ep.path, id)
			notFound = append(notFound, req{ep.method + " " + path, a.APIKey, ep.method, path, "", nil, 404, ""})
		}
	}
	for _, tc := range slices.Concat(tests, notFound) {
		t.Run(tc.name, func(t *testing.T) {
			resp := env.Do(t, tc.key, tc.method, tc.path, tc.body, tc.headers...)
			if resp.StatusCode != tc.want {
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tc.want, b)
			}
			if ct := resp.Header.Get("Content-Type"); ct != "application/problem+json" {
				t.Errorf("Content-Type %q, want application/problem+json", ct)
			}
			p := decode[problemBody](t, resp)
			if tc.field != "" && !hasField(p, tc.field) {
				t.Errorf("errors[] %+v do not name %q", p.Errors, tc.field)
			}
		})
	}

	t.Run("409 names the order and sequence, not the error chain", func(t *testing.T) {
		first := strings.Replace(placed(`[{"sku":"a","qty":1,"unit_price_cents":1}]`, "1"), `"o1"`, `"o409"`, 1)
		expectStatus(t, env.Do(t, events.APIKey, "POST", "/v1/order-events", first), http.StatusOK)
		// A batch of two, the second reusing o409's sequence 1 under another id.
		other := strings.Replace(strings.Replace(first, `"e1"`, `"e2"`, 1), `"o409"`, `"o410"`, 1)
		clash := strings.Replace(first, `"e1"`, `"e3"`, 1)
		batch := strings.TrimSuffix(other, "]}") + "," + strings.TrimPrefix(clash, `{"events":[`)
		resp := env.Do(t, events.APIKey, "POST", "/v1/order-events", batch)
		if resp.StatusCode != http.StatusConflict {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			t.Fatalf("status %d, want 409: %s", resp.StatusCode, b)
		}
		p := decode[problemBody](t, resp)
		if !strings.Contains(p.Detail, "o409") || !strings.Contains(p.Detail, "sequence 1") || strings.Contains(p.Detail, "append") {
			t.Fatalf("409 detail %q: want order o409 and sequence 1, and no internal error", p.Detail)
		}
	})
	t.Run("405 lists Allow", func(t *testing.T) {
		resp := env.Do(t, a.APIKey, "DELETE", "/v1/reports", "")
		resp.Body.Close()
		if resp.StatusCode != http.StatusMethodNotAllowed || resp.Header.Get("Allow") != "GET, POST" {
			t.Fatalf("DELETE /v1/reports: %d Allow %q, want 405 Allow \"GET, POST\"", resp.StatusCode, resp.Header.Get("Allow"))
		}
	})
	t.Run("access log names the client", func(t *testing.T) {
		expectStatus(t, env.Do(t, a.APIKey, "GET", "/v1/reports?limit=1", "", "X-Request-ID", "edge-access-log"), http.StatusOK)
		for line := range strings.Lines(env.Logs.String()) {
			if strings.Contains(line, `"request_id":"edge-access-log"`) && strings.Contains(line, `"msg":"http request"`) {
				if !strings.Contains(line, `"client_id":"`+a.ID+`"`) {
					t.Fatalf("access log line without the client: %s", line)
				}
				return
			}
		}
		t.Fatal("no access log line for the request")
	})
}

// TestHostileBodiesKeepMemoryBounded runs the real API binary as its own
// process and sends it 8 concurrent 4 MB bodies of each kind of junk at
// once. On main, 8 bodies of a million {} events alone took it to 898 MiB
// (it materialised every event before counting); its peak RSS (VmHWM) must
// now stay well under 300 MiB.
func TestHostileBodiesKeepMemoryBounded(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the API binary")
	}
	env := testenv.New(t, nil)
	client := env.CreateClient(t, "Events", "", "events:write")
	bin := filepath.Join(t.TempDir(), "api")
	if out, err := exec.Command("go", "build", "-o", bin, "../cmd/api").CombinedOutput(); err != nil {
		t.Fatalf("build api: %v\n%s", err, out)
	}
	addr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	env.Vars["API_ADDR"] = addr
	env.Vars["LOG_LEVEL"] = "info"
	logPath := filepath.Join(t.TempDir(), "api.log")
	logf, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin)
	cmd.Env = env.Environ()
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		logf.Close()
		if logs, _ := os.ReadFile(logPath); bytes.Contains(logs, []byte(`"status":500`)) || bytes.Contains(logs, []byte("handler panicked")) {
			t.Errorf("the API logged a 500 or a panic:\n%s", logs)
		}
	})
	base := "http://" + addr
	waitHealthy(t, base)
	idle := vmHWM(t, cmd.Process.Pid)

	const size = 4<<20 - 64 // just under the 4 MiB limit, so each body is decoded
	pad := func(prefix, unit, suffix string) []byte {
		n := (size - len(prefix) - len(suffix)) / len(unit)
		return []byte(prefix + strings.Repeat(unit, n) + suffix)
	}
	bodies := map[string][]byte{
		"a million {} events": pad(`{"events":[`, `{},`, `{}]}`),
		"a million items":     pad(`{"events":[{"event_id":"e1","order_id":"o1","sequence":1,"type":"OrderPlaced","occurred_at":"2026-03-01T10:00:00Z","data":{"items":[`, `{},`, `{}]}}]}`),
		"deep nesting":        pad(`{"events":[{"data":`, `[`, ``),
		"nested events":       pad(`{"events":`, `[`, ``),
		"a huge string":       pad(`{"events":[{"event_id":"`, `x`, `"}]}`),
		"huge escaped string": pad(`{"events":[{"event_id":"`, `\u00e9`, `"}]}`),
		"a huge unknown key":  pad(`{"`, `k`, `":1}`),
		"many unknown fields": pad(`{"events":[{`, `"a":1,`, `"b":1}]}`),
		"many numbers":        pad(`{"events":[{"event_id":"e","data":[`, `1,`, `1]}]}`),
	}
	hc := &http.Client{Timeout: 2 * time.Minute}
	for name, body := range bodies {
		var wg sync.WaitGroup
		codes := make(chan int, 8)
		for range 8 {
			wg.Go(func() {
				req, _ := http.NewRequestWithContext(context.Background(), http.MethodPost, base+"/v1/order-events", bytes.NewReader(body))
				req.Header.Set("Authorization", "Bearer "+client.APIKey)
				req.Header.Set("Content-Type", "application/json")
				resp, err := hc.Do(req)
				if err != nil {
					t.Errorf("%s: %v", name, err)
					return
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				codes <- resp.StatusCode
			})
		}
		wg.Wait()
		close(codes)
		t.Logf("after %s: %d MiB", name, vmHWM(t, cmd.Process.Pid)>>20)
		for code := range codes {
			if code != http.StatusBadRequest && code != http.StatusUnprocessableEntity {
				t.Errorf("%s: status %d, want 400 or 422", name, code)
			}
		}
	}
	peak := vmHWM(t, cmd.Process.Pid)
	t.Logf("API peak RSS: %d MiB idle, %d MiB after 8 concurrent 4 MiB bodies of each of %d kinds", idle>>20, peak>>20, len(bodies))
	if peak > 300<<20 {
		t.Fatalf("peak RSS %d MiB, want under 300 MiB", peak>>20)
	}
}

func waitHealthy(t *testing.T, base string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		resp, err := http.Get(base + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("the API at %s did not become healthy within 30s", base)
}

// vmHWM reads a process's peak resident set size from /proc.
func vmHWM(t *testing.T, pid int) int64 {
	t.Helper()
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatalf("read peak RSS: %v", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			if err != nil {
				t.Fatalf("parse VmHWM %q: %v", rest, err)
			}
			return kb << 10
		}
	}
	t.Fatal("no VmHWM in /proc/PID/status")
	return 0
}
