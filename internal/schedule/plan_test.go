package schedule

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/reportd/reportd/internal/report"
)

func TestPlanMakesUpMissedFiresOnce(t *testing.T) {
	due := time.Date(2026, 3, 1, 5, 0, 0, 0, time.UTC) // 06:00 in Berlin
	s := Schedule{ID: "sch_x", ClientID: "cli_x", Cron: "0 6 1 * *", Timezone: "Europe/Berlin", NextRunAt: &due,
		Report: Template{Type: report.TypeMerchantSales, Format: report.FormatCSV, Params: TemplateParams{MerchantID: "mer_1", Period: PreviousMonth}}}
	now := time.Date(2026, 5, 20, 12, 0, 0, 0, time.UTC) // March, April and May's fires missed
	f := Plan(s, now, 0)
	wantAt := time.Date(2026, 5, 1, 4, 0, 0, 0, time.UTC) // 06:00 CEST
	wantNext := time.Date(2026, 6, 1, 4, 0, 0, 0, time.UTC)
	if !f.ScheduledFor.Equal(wantAt) || !f.NextRunAt.Equal(wantNext) || f.Report == nil {
		t.Fatalf("Plan = %+v; want one fire for %s, next %s", f, wantAt, wantNext)
	}
	r := f.Report
	if r.ScheduleID != "sch_x" || !r.ScheduledFor.Equal(wantAt) || r.Params.From != "2026-04-01" || r.Params.To != "2026-04-30" || r.ClientID != "cli_x" {
		t.Errorf("report %+v", r)
	}
}

func TestPlanSkipsAReportThatNoLongerValidates(t *testing.T) {
	due := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	s := Schedule{ID: "sch_x", Cron: "@daily", Timezone: "UTC", NextRunAt: &due,
		Report: Template{Type: report.TypeMerchantSales, Format: report.FormatCSV, Params: TemplateParams{MerchantID: "mer_1", Period: PreviousMonth}}}
	// REPORT_MAX_RANGE was lowered below a month after the schedule was made.
	f := Plan(s, due.Add(time.Minute), 7*24*time.Hour)
	if f.Report != nil || f.Problem == "" || !f.NextRunAt.Equal(due.Add(24*time.Hour)) {
		t.Errorf("Plan = %+v; want no report, a problem, and the next day", f)
	}
}

type fakeStore struct {
	FireScheduleFunc    func(ctx context.Context, now time.Time, plan func(Schedule) Fire) (Fired, bool, error)
	NextScheduleRunFunc func(ctx context.Context) (time.Time, bool, error)
}

func (f *fakeStore) FireSchedule(ctx context.Context, now time.Time, plan func(Schedule) Fire) (Fired, bool, error) {
	return f.FireScheduleFunc(ctx, now, plan)
}

func (f *fakeStore) NextScheduleRun(ctx context.Context) (time.Time, bool, error) {
	return f.NextScheduleRunFunc(ctx)
}

// FireDue fires until the store has nothing due, planning each fire with
// the runner's clock.
func TestFireDueDrainsWhatIsDue(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 10, 0, time.UTC)
	due := []time.Time{now.Add(-10 * time.Second), now.Add(-time.Second)}
	store := &fakeStore{FireScheduleFunc: func(_ context.Context, at time.Time, plan func(Schedule) Fire) (Fired, bool, error) {
		if len(due) == 0 {
			return Fired{}, false, nil
		}
		next := due[0]
		due = due[1:]
		s := Schedule{ID: "sch_x", Cron: "@every 2s", Timezone: "UTC", NextRunAt: &next,
			Report: Template{Type: report.TypeMerchantSales, Format: report.FormatCSV, Params: TemplateParams{MerchantID: "m", Period: PreviousDay}}}
		return Fired{Schedule: s, Fire: plan(s), ReportID: "rep_x"}, true, nil
	}}
	var fired []Fired
	r := &Runner{Store: store, Logger: slog.New(slog.DiscardHandler), Now: func() time.Time { return now }, Fired: func(f Fired) { fired = append(fired, f) }}
	n, err := r.FireDue(context.Background())
	if err != nil || n != 2 || len(fired) != 2 {
		t.Fatalf("FireDue = %d, %v; fired %d", n, err, len(fired))
	}
	// The first was 10s overdue: five ticks missed, one fire for the newest.
	if got := fired[0].ScheduledFor; !got.Equal(now) {
		t.Errorf("first fire for %s, want %s", got, now)
	}
	if got := fired[0].NextRunAt; !got.Equal(now.Add(2 * time.Second)) {
		t.Errorf("next run %s, want %s", got, now.Add(2*time.Second))
	}
}
