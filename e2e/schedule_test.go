package e2e

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/reportd/reportd/internal/testenv"
)

type scheduleBody struct {
	ID       string `json:"id"`
	Object   string `json:"object"`
	Cron     string `json:"cron"`
	Timezone string `json:"timezone"`
	Report   struct {
		Type   string            `json:"type"`
		Params map[string]string `json:"params"`
	} `json:"report"`
	Paused       bool       `json:"paused"`
	NextRunAt    *time.Time `json:"next_run_at"`
	LastRunAt    *time.Time `json:"last_run_at"`
	LastReportID *string    `json:"last_report_id"`
}

type scheduledReport struct {
	reportBody

	Params       map[string]string `json:"params"`
	ScheduleID   *string           `json:"schedule_id"`
	ScheduledFor *time.Time        `json:"scheduled_for"`
}

// mer is a valid schedule report.
const mer = `{"type":"merchant_sales","format":"csv","params":{"merchant_id":"mer_7","period":"previous_day"}}`

const validSchedule = `{"cron":"0 6 1 * *","timezone":"Europe/Berlin","report":{"type":"merchant_sales","format":"csv","params":{"merchant_id":"mer_7","period":"previous_month"}}}`

func scheduleWith(cron, tz, report string) string {
	return `{"cron":` + quote(cron) + `,"timezone":` + quote(tz) + `,"report":` + report + `}`
}

func quote(s string) string { b, _ := json.Marshal(s); return string(b) }

// TestScheduleCRUD drives /v1/schedules through the API alone (responses
// checked against openapi.yaml by env.Do).
func TestScheduleCRUD(t *testing.T) {
	env, a := apiEnv(t, nil)

	resp := env.Do(t, a.APIKey, "POST", "/v1/schedules", validSchedule)
	expectStatus(t, resp, http.StatusCreated)
	loc := resp.Header.Get("Location")
	s := decode[scheduleBody](t, resp)
	berlin, _ := time.LoadLocation("Europe/Berlin")
	if loc != "/v1/schedules/"+s.ID || s.Object != "schedule" || s.Paused || s.NextRunAt == nil || s.LastRunAt != nil ||
		s.Report.Params["period"] != "previous_month" {
		t.Fatalf("created %+v at %q", s, loc)
	}
	if n := s.NextRunAt.In(berlin); n.Day() != 1 || n.Hour() != 6 || n.Minute() != 0 || !n.After(time.Now()) {
		t.Errorf("next_run_at %s, want the next 1st of a month at 06:00 Berlin time", n)
	}
	if got := decode[scheduleBody](t, env.Do(t, a.APIKey, "GET", loc, "")); got.ID != s.ID || got.Cron != "0 6 1 * *" {
		t.Errorf("GET %s = %+v", loc, got)
	}

	// Pause, resume, change.
	paused := decode[scheduleBody](t, env.Do(t, a.APIKey, "PATCH", loc, `{"paused":true}`))
	if !paused.Paused || paused.NextRunAt != nil {
		t.Errorf("paused: %+v, want paused with no next_run_at", paused)
	}
	resumed := decode[scheduleBody](t, env.Do(t, a.APIKey, "PATCH", loc, `{"paused":false}`))
	if resumed.Paused || resumed.NextRunAt == nil || !resumed.NextRunAt.Equal(*s.NextRunAt) {
		t.Errorf("resumed: %+v, want next_run_at %s again", resumed, s.NextRunAt)
	}
	changed := decode[scheduleBody](t, env.Do(t, a.APIKey, "PATCH", loc,
		`{"cron":"@every 1h","timezone":"UTC","report":{"type":"order_history","format":"pdf","params":{"customer_id":"cus_1","period":"previous_week"}}}`))
	if changed.Cron != "@every 1h" || changed.Timezone != "UTC" || changed.Report.Type != "order_history" || changed.NextRunAt == nil ||
		time.Until(*changed.NextRunAt) > time.Hour+time.Second || time.Until(*changed.NextRunAt) < 58*time.Minute {
		t.Errorf("changed: %+v, want @every 1h with the next run an hour away", changed)
	}
	resp = env.Do(t, a.APIKey, "PATCH", loc, `{"timezone":"Mars/Olympus"}`)
	expectStatus(t, resp, http.StatusUnprocessableEntity)
	if p := decode[problemBody](t, resp); !hasField(p, "timezone") {
		t.Errorf("bad timezone patch: %+v", p)
	}

	// Delete.
	expectStatus(t, env.Do(t, a.APIKey, "DELETE", loc, ""), http.StatusNoContent)
	expectStatus(t, env.Do(t, a.APIKey, "GET", loc, ""), http.StatusNotFound)
	expectStatus(t, env.Do(t, a.APIKey, "DELETE", loc, ""), http.StatusNotFound)
}

// TestScheduleFiresReportsThroughTheWorker: a schedule's fires are reports
// like any other (queued, built, announced by a signed webhook), marked
// with their schedule and fire time, one per tick with two workers.
func TestScheduleFiresReportsThroughTheWorker(t *testing.T) {
	env := testenv.New(t, map[string]string{"SCHEDULE_MIN_INTERVAL": "1s"})
	client, receiver := env.CreateClientWithReceiver(t, "Timetable Co")
	env.StartAPI(t)
	env.StartWorker(t)
	env.StartWorker(t)
	customer := seedOrders(t, env, client.ID, 1, 5).Customers[0]

	resp := env.Do(t, client.APIKey, "POST", "/v1/schedules", scheduleWith("@every 2s", "Asia/Tokyo",
		`{"type":"order_history","format":"csv","params":{"customer_id":"`+customer+`","period":"month_to_date"},"metadata":{"ref":"monthly"}}`))
	expectStatus(t, resp, http.StatusCreated)
	s := decode[scheduleBody](t, resp)

	mine := func() []scheduledReport {
		list := decode[struct {
			Data []scheduledReport `json:"data"`
		}](t, env.Do(t, client.APIKey, "GET", "/v1/reports?limit=100", ""))
		var out []scheduledReport
		for _, r := range list.Data {
			if r.ScheduleID != nil && *r.ScheduleID == s.ID {
				out = append(out, r)
			}
		}
		return out
	}
	testenv.Eventually(t, 60*time.Second, "three scheduled reports", func() bool { return len(mine()) >= 3 })
	expectStatus(t, env.Do(t, client.APIKey, "PATCH", "/v1/schedules/"+s.ID, `{"paused":true}`), http.StatusOK)

	got := mine()
	tokyo, _ := time.LoadLocation("Asia/Tokyo")
	fires := map[time.Time]int{}
	for _, r := range got {
		if r.ScheduledFor == nil {
			t.Fatalf("report %s has no scheduled_for", r.ID)
		}
		fires[*r.ScheduledFor]++
		day := r.ScheduledFor.In(tokyo)
		if r.Params["from"] != day.Format("2006-01")+"-01" || r.Params["to"] != day.Format(time.DateOnly) {
			t.Errorf("report %s for %s covers %s..%s, want month_to_date in Tokyo", r.ID, day, r.Params["from"], r.Params["to"])
		}
	}
	for at, n := range fires {
		if n != 1 {
			t.Errorf("fire %s made %d reports", at, n)
		}
	}
	// Each becomes a finished report with a webhook that names its fire.
	first := got[len(got)-1]
	if rep := waitReport(t, env, client.APIKey, first.ID); rep.Status != "succeeded" {
		t.Fatalf("scheduled report %s is %s: %+v", first.ID, rep.Status, rep.Error)
	}
	deliveries := receiver.WaitFor(t, 30*time.Second, "the scheduled report's webhook", func(ds []testenv.Delivery) bool {
		for _, d := range ds {
			if strings.Contains(string(d.Body), first.ID) {
				return true
			}
		}
		return false
	})
	for _, d := range deliveries {
		var ev struct {
			Data scheduledReport `json:"data"`
		}
		if err := json.Unmarshal(d.Body, &ev); err != nil || ev.Data.ID != first.ID {
			continue
		}
		if d.Verified != nil || ev.Data.ScheduleID == nil || *ev.Data.ScheduleID != s.ID || ev.Data.ScheduledFor == nil || !ev.Data.ScheduledFor.Equal(*first.ScheduledFor) {
			t.Errorf("webhook for %s: verified %v, data %+v", first.ID, d.Verified, ev.Data)
		}
	}
	sched := decode[scheduleBody](t, env.Do(t, client.APIKey, "GET", "/v1/schedules/"+s.ID, ""))
	if sched.LastReportID == nil || sched.LastRunAt == nil || !sched.Paused {
		t.Errorf("schedule after its fires: %+v", sched)
	}
}

// TestScheduleValidation: every bad value is refused at the door, naming
// its field.
func TestScheduleValidation(t *testing.T) {
	env, a := apiEnv(t, map[string]string{"SCHEDULE_MIN_INTERVAL": "5s", "WEBHOOK_ALLOW_PRIVATE_NETWORKS": "false"})
	for _, tc := range []struct {
		name, body string
		want       int
		field      string
	}{
		{"bad cron", scheduleWith("every day", "UTC", mer), 422, "cron"},
		{"six fields", scheduleWith("0 0 6 1 * *", "UTC", mer), 422, "cron"},
		{"zone in cron", scheduleWith("TZ=UTC 0 6 * * *", "UTC", mer), 422, "cron"},
		{"every below the floor", scheduleWith("@every 2s", "UTC", mer), 422, "cron"},
		{"every in fractions", scheduleWith("@every 5500ms", "UTC", mer), 422, "cron"},
		{"never fires", scheduleWith("0 0 30 2 *", "UTC", mer), 422, "cron"},
		{"missing cron", `{"timezone":"UTC","report":` + mer + `}`, 422, "cron"},
		{"unknown timezone", scheduleWith("@daily", "Europe/Atlantis", mer), 422, "timezone"},
		{"local timezone", scheduleWith("@daily", "Local", mer), 422, "timezone"},
		{"path timezone", scheduleWith("@daily", "../../etc/passwd", mer), 422, "timezone"},
		{"unknown period", scheduleWith("@daily", "UTC", `{"type":"merchant_sales","format":"csv","params":{"merchant_id":"m","period":"last_year"}}`), 422, "report.params.period"},
		{"missing period", scheduleWith("@daily", "UTC", `{"type":"merchant_sales","format":"csv","params":{"merchant_id":"m"}}`), 422, "report.params.period"},
		{"from instead of period", scheduleWith("@daily", "UTC", `{"type":"merchant_sales","format":"csv","params":{"merchant_id":"m","period":"previous_day","from":"2026-01-01"}}`), 422, "report.params.from"},
		{"missing merchant", scheduleWith("@daily", "UTC", `{"type":"merchant_sales","format":"csv","params":{"period":"previous_day"}}`), 422, "report.params.merchant_id"},
		{"bad type", scheduleWith("@daily", "UTC", `{"type":"tax","format":"csv","params":{"period":"previous_day"}}`), 422, "report.type"},
		{"loopback webhook", scheduleWith("@daily", "UTC", `{"type":"merchant_sales","format":"csv","params":{"merchant_id":"m","period":"previous_day"},"webhook_url":"https://127.0.0.1/x"}`), 422, "report.webhook_url"},
		{"unknown field", `{"cron":"@daily","timezone":"UTC","colour":"red","report":` + mer + `}`, 400, ""},
		{"min_position", scheduleWith("@daily", "UTC", `{"type":"merchant_sales","format":"csv","params":{"merchant_id":"m","period":"previous_day"},"min_position":3}`), 400, ""},
		{"wrong json type", `{"cron":7}`, 400, ""},
		{"nul in cron", `{"cron":"@daily\u0000","timezone":"UTC","report":` + mer + `}`, 422, "cron"},
		{"long cron", scheduleWith(strings.Repeat("*", 200), "UTC", mer), 422, "cron"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp := env.Do(t, a.APIKey, "POST", "/v1/schedules", tc.body)
			expectStatus(t, resp, tc.want)
			p := decode[problemBody](t, resp)
			if tc.field != "" && !hasField(p, tc.field) {
				t.Errorf("errors[] %+v do not name %q", p.Errors, tc.field)
			}
		})
	}
}

// TestSchedulePagingCapAndTenancy: lists page like reports, a client's
// schedules are capped, and another client sees none of them.
func TestSchedulePagingCapAndTenancy(t *testing.T) {
	env, a := apiEnv(t, map[string]string{"SCHEDULE_MIN_INTERVAL": "5s", "SCHEDULE_MAX_PER_CLIENT": "3"})
	b := env.CreateClient(t, "Client B", "https://hooks.example.com/b")
	resp := env.Do(t, a.APIKey, "POST", "/v1/schedules", validSchedule)
	expectStatus(t, resp, http.StatusCreated)
	loc := resp.Header.Get("Location")
	s := decode[scheduleBody](t, resp)

	// Paging, and the per-client cap (3 here).
	for range 2 {
		expectStatus(t, env.Do(t, a.APIKey, "POST", "/v1/schedules", scheduleWith("@every 5s", "UTC", mer)), http.StatusCreated)
	}
	resp = env.Do(t, a.APIKey, "POST", "/v1/schedules", validSchedule)
	expectStatus(t, resp, http.StatusConflict)
	if p := decode[problemBody](t, resp); !strings.HasSuffix(p.Type, "/too-many-schedules") {
		t.Errorf("over the cap: %+v", p)
	}
	type page struct {
		Data       []scheduleBody `json:"data"`
		HasMore    bool           `json:"has_more"`
		NextCursor *string        `json:"next_cursor"`
	}
	seen := map[string]bool{}
	for cursor := ""; ; {
		p := decode[page](t, env.Do(t, a.APIKey, "GET", "/v1/schedules?limit=2"+cursor, ""))
		for _, s := range p.Data {
			seen[s.ID] = true
		}
		if !p.HasMore {
			break
		}
		cursor = "&cursor=" + *p.NextCursor
	}
	if len(seen) != 3 || !seen[s.ID] {
		t.Errorf("paged through %d schedules, want 3 including %s", len(seen), s.ID)
	}
	expectStatus(t, env.Do(t, a.APIKey, "GET", "/v1/schedules?cursor=!!!", ""), http.StatusUnprocessableEntity)

	// Another client sees none of it.
	for _, ep := range []struct{ method, path, body string }{
		{"GET", loc, ""}, {"PATCH", loc, `{"paused":true}`}, {"DELETE", loc, ""},
	} {
		resp := env.Do(t, b.APIKey, ep.method, ep.path, ep.body)
		expectStatus(t, resp, http.StatusNotFound)
		resp.Body.Close()
	}
	if p := decode[page](t, env.Do(t, b.APIKey, "GET", "/v1/schedules", "")); len(p.Data) != 0 {
		t.Errorf("client B lists %d schedules", len(p.Data))
	}
	expectStatus(t, env.Do(t, a.APIKey, "GET", "/v1/schedules/sch_nope", ""), http.StatusNotFound)

	// A still has it.
	expectStatus(t, env.Do(t, a.APIKey, "GET", loc, ""), http.StatusOK)
}
