package schedule

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/reportd/reportd/internal/report"
)

// TestReportParamsLocaleAndTimezone: a schedule's report keeps its locale,
// and its days are local days of the schedule's zone unless the template
// names another.
func TestReportParamsLocaleAndTimezone(t *testing.T) {
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 4, 1, 6, 0, 0, 0, berlin)
	tmpl := Template{Type: report.TypeMerchantSales, Format: report.FormatPDF,
		Params: TemplateParams{MerchantID: "mer_1", Period: PreviousMonth, Locale: "de-DE"}}
	got, err := tmpl.ReportParams(at, berlin)
	if err != nil {
		t.Fatal(err)
	}
	want := report.Params{MerchantID: "mer_1", From: "2026-03-01", To: "2026-03-31", Locale: "de-DE", Timezone: "Europe/Berlin"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	tmpl.Params.Timezone = "Asia/Tokyo"
	if got, err = tmpl.ReportParams(at, berlin); err != nil || got.Timezone != "Asia/Tokyo" {
		t.Errorf("template zone: %+v, %v; want Asia/Tokyo", got, err)
	}
}
