package api

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/reportd/reportd/internal/schedule"
)

// FuzzCreateScheduleRequest feeds arbitrary bodies through the decode and
// validation of POST /v1/schedules: every input ends in a client problem or
// a schedule that is valid, whose next run can be computed.
func FuzzCreateScheduleRequest(f *testing.F) {
	for _, seed := range []string{
		`{"cron":"0 6 1 * *","timezone":"Europe/Berlin","report":{"type":"merchant_sales","format":"csv","params":{"merchant_id":"mer_7","period":"previous_month"}}}`,
		`{"cron":"@every 90s","timezone":"UTC","report":{"type":"order_history","format":"pdf","params":{"customer_id":"c","period":"month_to_date"},"metadata":{"a":1}}}`,
		`{"cron":"0 0 30 2 *","timezone":"UTC","report":{}}`, `{"cron":"TZ=UTC * * * * *"}`, `{"cron":"@every 1ns"}`,
		`{"cron":"@every 9223372036s"}`, `{"timezone":"../../../etc/passwd"}`, `{"timezone":"Local"}`, `{"timezone":"\u0000"}`,
		`{"cron":"*/0 * * * *"}`, `{"cron":"0-59/1000 * * * *"}`, `{"cron":"@every -5m"}`, `{"report":{"params":{"period":"x","from":"2026-01-01"}}}`,
		`{}`, `[]`, `null`, "\xff",
	} {
		f.Add(seed)
	}
	settings := Settings{MaxReportRange: 400 * 24 * time.Hour, MinScheduleInterval: time.Minute}
	now := time.Date(2026, 10, 25, 1, 30, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, body string) {
		r := httptest.NewRequest(http.MethodPost, "/v1/schedules", strings.NewReader(body))
		r.Header.Set("Content-Type", "application/json")
		var req createScheduleRequest
		if err := decodeJSON(httptest.NewRecorder(), r, &req); err != nil {
			var p *Problem
			if !errors.As(err, &p) || p.Status < 400 || p.Status >= 500 {
				t.Fatalf("decode error is not a client problem: %v", err)
			}
			return
		}
		s := schedule.Schedule{Cron: strings.TrimSpace(req.Cron), Timezone: req.Timezone, Report: req.Report}
		errs := validateSchedule(s, settings, now)
		for _, fe := range errs {
			if fe.Field == "" || fe.Message == "" {
				t.Fatalf("validation error without field or message: %+v", fe)
			}
		}
		if len(errs) == 0 {
			next := schedule.NextRun(s, now)
			if next == nil || !next.After(now) {
				t.Fatalf("a valid schedule %+v has next run %v", s, next)
			}
		}
	})
}

// An id that cannot be a schedule's is 404 on every schedule route, and the
// store never sees it (Schedules is nil here: a call would panic).
func TestHostileScheduleIDsAreNotFound(t *testing.T) {
	s := newEdgeServer(t)
	for _, id := range []string{"sch_%00x", "sch_%FFx", "rep_" + strings.Repeat("a", 26), "sch_" + strings.Repeat("A", 26), "sch_" + strings.Repeat("a", 27), "x"} {
		for _, method := range []string{http.MethodGet, http.MethodPatch, http.MethodDelete} {
			body := ""
			if method == http.MethodPatch {
				body = `{"paused":true}`
			}
			target := "/v1/schedules/" + id
			if p := clientError(t, s.do(t, method, target, body), method+" "+target); p.Status != http.StatusNotFound {
				t.Errorf("%s %s: %d, want 404", method, target, p.Status)
			}
		}
	}
}
