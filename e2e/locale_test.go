package e2e

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/reportd/reportd/internal/testenv"
)

// TestLocaleAndTimeZoneValidation: an unknown locale or time zone is a 422
// naming the field, for a report and for a schedule's report (answers
// checked against openapi.yaml by env.Do).
func TestLocaleAndTimeZoneValidation(t *testing.T) {
	env, a := apiEnv(t, nil)
	report := func(extra string) string {
		return `{"type":"order_history","format":"pdf","params":{"customer_id":"cus_1","from":"2026-04-01","to":"2026-04-30"` + extra + `}}`
	}
	tests := []struct {
		name, path, body, field string
	}{
		{"unknown locale", "/v1/reports", report(`,"locale":"tlh-KX"`), "params.locale"},
		{"unsupported region", "/v1/reports", report(`,"locale":"de-CH"`), "params.locale"},
		{"not a tag", "/v1/reports", report(`,"locale":"de DE"`), "params.locale"},
		{"unknown zone", "/v1/reports", report(`,"timezone":"Mars/Olympus"`), "params.timezone"},
		{"host zone", "/v1/reports", report(`,"timezone":"Local"`), "params.timezone"},
		{"schedule: unknown locale", "/v1/schedules", scheduleWith("0 6 1 * *", "Europe/Berlin",
			`{"type":"merchant_sales","format":"pdf","params":{"merchant_id":"mer_7","period":"previous_month","locale":"xx"}}`), "report.params.locale"},
		{"schedule: unknown zone", "/v1/schedules", scheduleWith("0 6 1 * *", "Europe/Berlin",
			`{"type":"merchant_sales","format":"pdf","params":{"merchant_id":"mer_7","period":"previous_month","timezone":"Europe/Atlantis"}}`), "report.params.timezone"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			resp := env.Do(t, a.APIKey, http.MethodPost, tc.path, tc.body)
			expectStatus(t, resp, http.StatusUnprocessableEntity)
			if p := decode[problemBody](t, resp); !hasField(p, tc.field) {
				t.Errorf("problem %+v does not name %s", p, tc.field)
			}
		})
	}
	resp := env.Do(t, a.APIKey, http.MethodPost, "/v1/reports", report(`,"locale":"de-DE","timezone":"Europe/Berlin"`))
	expectStatus(t, resp, http.StatusAccepted)
	resp = env.Do(t, a.APIKey, http.MethodPost, "/v1/schedules", scheduleWith("0 6 1 * *", "Europe/Berlin",
		`{"type":"merchant_sales","format":"pdf","params":{"merchant_id":"mer_7","period":"previous_month","locale":"ja-JP"}}`))
	expectStatus(t, resp, http.StatusCreated)
	if s := decode[scheduleBody](t, resp); s.Report.Params["locale"] != "ja-JP" {
		t.Errorf("schedule report params %v, want locale ja-JP kept", s.Report.Params)
	}
}

// TestLocaleTimeZoneReportThroughTheWorker: an order placed at
// 2026-03-31T23:30Z is on 1 April in Berlin; a de-DE merchant_sales PDF of
// April in Europe/Berlin, built by the worker from ingested events, shows
// it on 01.04.2026 in German with German numbers.
func TestLocaleTimeZoneReportThroughTheWorker(t *testing.T) {
	t.Parallel()
	env := testenv.New(t, nil)
	client := env.CreateClient(t, "Berliner Laden", "")
	env.StartAPI(t)
	env.StartWorker(t)
	resp := env.Do(t, client.APIKey, http.MethodPost, "/v1/order-events", `{"events":[
	 {"event_id":"evt_late","order_id":"ord_late","sequence":1,"type":"OrderPlaced","occurred_at":"2026-03-31T23:30:00Z",
	  "data":{"customer_id":"cus_b","merchant_id":"mer_b","currency":"EUR","items":[{"sku":"tea","qty":1,"unit_price_cents":123456}],"total_cents":123456}},
	 {"event_id":"evt_noon","order_id":"ord_noon","sequence":1,"type":"OrderPlaced","occurred_at":"2026-03-31T12:00:00Z",
	  "data":{"customer_id":"cus_b","merchant_id":"mer_b","currency":"EUR","items":[{"sku":"tea","qty":1,"unit_price_cents":100}],"total_cents":100}}]}`)
	expectStatus(t, resp, http.StatusOK)
	pos := decode[appendBody](t, resp).Position

	id := submit(t, env, client.APIKey, fmt.Sprintf(`{"type":"merchant_sales","format":"pdf","min_position":%d,
		"params":{"merchant_id":"mer_b","from":"2026-04-01","to":"2026-04-30","locale":"de-DE","timezone":"Europe/Berlin"}}`, pos))
	rep := waitReport(t, env, client.APIKey, id)
	if rep.Status != "succeeded" || rep.Result.Rows != 1 {
		t.Fatalf("report: %+v, want one April day", rep)
	}
	text := strings.Join(strings.Fields(strings.ReplaceAll(pdfText(t, download(t, env, client.APIKey, id, pdfType)), "\u00a0", " ")), " ")
	for _, want := range []string{"Händlerumsätze", "01.04.2026 – 30.04.2026 (Europe/Berlin)", "01.04.2026 EUR 1 0 1.234,56 0,00 1.234,56",
		"Nettoumsatz in EUR 1.234,56 €"} {
		if !strings.Contains(text, want) {
			t.Errorf("the PDF lacks %q:\n%s", want, text)
		}
	}
	if strings.Contains(text, "31.03.2026 EUR") {
		t.Errorf("the PDF has a March row:\n%s", text)
	}
}
