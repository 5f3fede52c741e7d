package api

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestRecoveryAnswersProblemJSON: a handler panic becomes a 500 problem and
// a logged stack trace, never a dropped connection. (The fuzz targets and
// the chaos suite's log checks are what prove no client input gets here.)
func TestRecoveryAnswersProblemJSON(t *testing.T) {
	var logs bytes.Buffer
	logger := slog.New(slog.NewJSONHandler(&logs, nil))
	h := withRecovery(logger)(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {
		panic("boom")
	}))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/v1/reports", nil))

	if rec.Code != http.StatusInternalServerError || rec.Header().Get("Content-Type") != "application/problem+json" {
		t.Fatalf("got %d %q, want 500 application/problem+json", rec.Code, rec.Header().Get("Content-Type"))
	}
	var p Problem
	if err := json.Unmarshal(rec.Body.Bytes(), &p); err != nil || p.Status != http.StatusInternalServerError || strings.Contains(rec.Body.String(), "boom") {
		t.Fatalf("problem body %s (err %v): want a generic 500 that does not leak the panic", rec.Body, err)
	}
	if !strings.Contains(logs.String(), `"panic":"boom"`) || !strings.Contains(logs.String(), "goroutine") {
		t.Fatalf("the panic and its stack were not logged: %s", logs.String())
	}
}
