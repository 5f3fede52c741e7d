package testenv

import (
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/reportd/reportd"
)

// errorRecorder is a testing.TB that collects Errorf calls instead of failing.
type errorRecorder struct {
	testing.TB

	errs []string
}

func (r *errorRecorder) Errorf(format string, args ...any) {
	r.errs = append(r.errs, fmt.Sprintf(format, args...))
}

const validReport = `{"id":"rep_abcdefghijklmnopqrstuvwxyz","object":"report","status":"queued","type":"order_history","format":"pdf",
 "params":{"customer_id":"cus_42","from":"2026-01-01","to":"2026-03-31"},"metadata":{"ref":"abc"},"attempts":0,
 "created_at":"2026-04-01T09:30:00.123456Z","started_at":null,"completed_at":null,"error":null,"result":null,
 "webhook":{"status":"pending","attempts":0}}`

func exchange(method, target, reqBody string, reqHeader http.Header, status int, respHeader http.Header, respBody string) (*http.Request, *http.Response) {
	req := httptest.NewRequest(method, target, strings.NewReader(reqBody))
	maps.Copy(req.Header, reqHeader)
	resp := &http.Response{StatusCode: status, Header: respHeader, Body: io.NopCloser(strings.NewReader(respBody)), Request: req}
	return req, resp
}

func TestSpecValidatorCheck(t *testing.T) {
	v := NewSpecValidator(t)
	auth := http.Header{"Authorization": {"Bearer rk_x_y"}}
	jsonAuth := http.Header{"Authorization": {"Bearer rk_x_y"}, "Content-Type": {"application/json"}}
	jsonResp := func(extra ...string) http.Header {
		h := http.Header{"Content-Type": {"application/json"}, "X-Request-Id": {"req_1"}}
		for i := 0; i+1 < len(extra); i += 2 {
			h.Set(extra[i], extra[i+1])
		}
		return h
	}
	problemResp := http.Header{"Content-Type": {"application/problem+json"}, "X-Request-Id": {"req_1"}}
	problem := `{"type":"https://reportd.dev/problems/not-found","title":"Not found","status":404,"detail":"No such resource."}`
	created := strings.TrimSuffix(validReport, "}") + `,"estimated_start_at":"2026-04-01T09:30:01Z"}`
	createBody := `{"type":"order_history","format":"pdf","params":{"customer_id":"cus_42","from":"2026-01-01","to":"2026-03-31"}}`

	tests := []struct {
		name       string
		method     string
		target     string
		reqBody    string
		reqHeader  http.Header
		status     int
		respHeader http.Header
		respBody   string
		wantErrs   int
	}{
		{"valid report", "GET", "/v1/reports/rep_abcdefghijklmnopqrstuvwxyz?wait=5s", "", auth, 200, jsonResp(), validReport, 0},
		{"valid create", "POST", "/v1/reports", createBody, jsonAuth, 202, jsonResp("Location", "/v1/reports/rep_abcdefghijklmnopqrstuvwxyz"), created, 0},
		{"unknown path answered 404", "GET", "/v2/nothing", "", auth, 404, problemResp, problem, 0},
		{"bad request refused", "POST", "/v1/reports", `{"type":"order_history"}`, jsonAuth, 422, problemResp,
			`{"type":"https://reportd.dev/problems/validation-error","title":"Validation failed","status":422,"errors":[{"field":"format","message":"is required"}]}`, 0},
		{"method not in spec answered 405", "DELETE", "/v1/reports", "", auth, 405, problemResp,
			`{"type":"https://reportd.dev/problems/method-not-allowed","title":"Method not allowed","status":405}`, 0},
		{"monitoring without credentials", "GET", "/monitoring/", "", nil, 401,
			http.Header{"Content-Type": {"text/plain; charset=utf-8"}, "X-Request-Id": {"req_1"},
				"Www-Authenticate": {`Basic realm="reportd operators", charset="UTF-8"`}}, "operator credentials required\n", 0},
		{"started_at omitted", "GET", "/v1/reports/rep_abcdefghijklmnopqrstuvwxyz", "", auth, 200, jsonResp(),
			strings.Replace(validReport, `"started_at":null,`, "", 1), 1},
		{"result without sha256", "GET", "/v1/reports/rep_abcdefghijklmnopqrstuvwxyz", "", auth, 200, jsonResp(),
			strings.Replace(validReport, `"result":null`, `"result":{"download":"/d","size_bytes":1,"content_type":"application/pdf","pages":1,"rows":1,"data_position":1}`, 1), 1},
		{"undocumented status", "GET", "/v1/reports/rep_abcdefghijklmnopqrstuvwxyz", "", auth, 418, problemResp, problem, 1},
		{"missing X-Request-ID", "GET", "/v1/reports/rep_abcdefghijklmnopqrstuvwxyz", "", auth, 200, http.Header{"Content-Type": {"application/json"}}, validReport, 1},
		{"202 without Location", "POST", "/v1/reports", createBody, jsonAuth, 202, jsonResp(), created, 1},
		{"bad request accepted", "POST", "/v1/reports", `{"type":"order_history"}`, jsonAuth, 202, jsonResp("Location", "/v1/reports/rep_abcdefghijklmnopqrstuvwxyz"), created, 1},
		{"unknown path answered 200", "GET", "/v2/nothing", "", auth, 200, jsonResp(), `{}`, 1},
		{"spec too loose", "POST", "/v1/reports", createBody, jsonAuth, 400, problemResp,
			`{"type":"https://reportd.dev/problems/malformed-request","title":"Malformed request","status":400}`, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, resp := exchange(tt.method, tt.target, tt.reqBody, tt.reqHeader, tt.status, tt.respHeader, tt.respBody)
			rec := &errorRecorder{TB: t}
			v.Check(rec, req, []byte(tt.reqBody), resp, []byte(tt.respBody))
			if len(rec.errs) != tt.wantErrs {
				t.Errorf("got %d mismatches, want %d:\n%s", len(rec.errs), tt.wantErrs, strings.Join(rec.errs, "\n"))
			}
		})
	}
}

// TestSpecValidatorTransport checks that the transport reports a mismatch and
// still hands the whole body to the caller.
func TestSpecValidatorTransport(t *testing.T) {
	v := NewSpecValidator(t)
	const body = `{"status":"fine"}`
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("X-Request-ID", "req_1")
		_, _ = io.WriteString(w, body)
	}))
	defer srv.Close()

	rec := &errorRecorder{TB: t}
	client := v.Client(rec, srv.Client())
	resp, err := client.Get(srv.URL + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(body, string(got)); diff != "" {
		t.Errorf("body seen by the caller (-want +got):\n%s", diff)
	}
	if len(rec.errs) != 1 || !strings.Contains(rec.errs[0], "status") {
		t.Errorf("want one mismatch about status, got %q", rec.errs)
	}
}

func TestSpecValidatorWebhook(t *testing.T) {
	v := NewSpecValidator(t)
	succeeded := strings.NewReplacer(`"status":"queued"`, `"status":"succeeded"`, `"result":null`,
		`"result":{"download":"/v1/reports/rep_abcdefghijklmnopqrstuvwxyz/download","size_bytes":10,"sha256":"9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08","content_type":"application/pdf","pages":1,"rows":2,"data_position":3},"sequence":2`).
		Replace(validReport)
	headers := http.Header{
		"Content-Type":      {"application/json"},
		"Webhook-Id":        {"msg_1"},
		"Webhook-Timestamp": {"1775035802"},
		"Webhook-Signature": {"v1,K5oZfzN95Z9UVu1EsfQmfVNQhnkZ2pj9o9NDN/H/pI4="},
	}
	tests := []struct {
		name     string
		event    string
		header   http.Header
		body     string
		wantErrs int
	}{
		{"valid", "report.succeeded", headers, `{"type":"report.succeeded","timestamp":"2026-04-01T09:30:02Z","data":` + succeeded + `}`, 0},
		{"wrong type", "report.succeeded", headers, `{"type":"report.failed","timestamp":"2026-04-01T09:30:02Z","data":` + succeeded + `}`, 1},
		{"no signature", "report.succeeded", http.Header{"Content-Type": {"application/json"}, "Webhook-Id": {"msg_1"}, "Webhook-Timestamp": {"1"}},
			`{"type":"report.succeeded","timestamp":"2026-04-01T09:30:02Z","data":` + succeeded + `}`, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := &errorRecorder{TB: t}
			v.CheckWebhook(rec, tt.event, tt.header, []byte(tt.body))
			if len(rec.errs) != tt.wantErrs {
				t.Errorf("got %d mismatches, want %d:\n%s", len(rec.errs), tt.wantErrs, strings.Join(rec.errs, "\n"))
			}
		})
	}
}

// BenchmarkSpecLoad measures loading and validating the spec, which the
// first NewSpecValidator of a test binary pays.
func BenchmarkSpecLoad(b *testing.B) {
	for b.Loop() {
		if _, err := newSpecValidator(b.Context(), reportd.OpenAPI); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSpecCheck measures checking one exchange.
func BenchmarkSpecCheck(b *testing.B) {
	v := NewSpecValidator(b)
	req, resp := exchange("GET", "/v1/reports/rep_abcdefghijklmnopqrstuvwxyz", "", http.Header{"Authorization": {"Bearer rk_x_y"}}, 200,
		http.Header{"Content-Type": {"application/json"}, "X-Request-Id": {"req_1"}}, validReport)
	for b.Loop() {
		if errs := v.check(req, nil, resp, []byte(validReport)); len(errs) > 0 {
			b.Fatal(errs)
		}
	}
}
