package schedule_test

import (
	"context"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/reportd/reportd/internal/domain"
	"github.com/reportd/reportd/internal/ids"
	"github.com/reportd/reportd/internal/pgtest"
	"github.com/reportd/reportd/internal/postgres"
	"github.com/reportd/reportd/internal/report"
	"github.com/reportd/reportd/internal/schedule"
	"github.com/reportd/reportd/internal/testenv"
)

// loops runs n scheduler loops, each with its own pool on the database at
// url, as n workers would; stop ends them and waits.
func loops(t *testing.T, url string, n int, fired func(schedule.Fired)) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	logger := slog.New(slog.DiscardHandler)
	for range n {
		pool, err := postgres.Connect(ctx, url)
		if err != nil {
			t.Fatal(err)
		}
		store := postgres.NewStore(pool)
		wake := make(chan struct{}, 1)
		r := &schedule.Runner{Store: store, Logger: logger, Now: time.Now, Wake: wake, MaxSleep: time.Second, Fired: fired}
		wg.Go(func() { store.WatchSchedules(ctx, logger, wake) })
		wg.Go(func() { r.Run(ctx) })
		t.Cleanup(pool.Close)
	}
	var once sync.Once
	stop = func() { once.Do(func() { cancel(); wg.Wait() }) }
	t.Cleanup(stop)
	return stop
}

func firesOf(t *testing.T, pool *pgxpool.Pool, scheduleID string) []time.Time {
	t.Helper()
	rows, err := pool.Query(context.Background(), `SELECT scheduled_for FROM reports WHERE schedule_id = $1 ORDER BY scheduled_for`, scheduleID)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []time.Time
	for rows.Next() {
		var at time.Time
		if err := rows.Scan(&at); err != nil {
			t.Fatal(err)
		}
		out = append(out, at)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestTwoWorkersFireEachTickOnceAndMakeUpMissedTicksOnce runs two scheduler
// loops on one database with an @every 2s schedule: every tick makes
// exactly one report. Then both stop for several ticks and start again:
// the missed ticks make one report, for the newest of them.
func TestTwoWorkersFireEachTickOnceAndMakeUpMissedTicksOnce(t *testing.T) {
	const every = 2 * time.Second
	url := pgtest.NewURL(t)
	pool, err := postgres.Connect(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	store := postgres.NewStore(pool)
	clientID := ids.New("cli")
	if err := store.CreateClient(context.Background(), postgres.NewClient{
		ID: clientID, Name: "Test", KeyID: ids.Random(10), KeyHash: []byte(ids.Random(16)), Scopes: []string{"reports"}, Secret: "whsec_x",
	}); err != nil {
		t.Fatal(err)
	}
	sch := schedule.Schedule{
		ID: ids.New(schedule.IDPrefix), ClientID: clientID, Cron: "@every 2s", Timezone: "Europe/Berlin",
		Report: schedule.Template{Type: report.TypeMerchantSales, Format: report.FormatCSV,
			Params: schedule.TemplateParams{MerchantID: "mer_1", Period: schedule.PreviousDay}},
	}
	sch.NextRunAt = schedule.NextRun(sch, time.Now())
	if _, err := store.CreateSchedule(context.Background(), sch, 100); err != nil {
		t.Fatal(err)
	}

	var mu sync.Mutex
	var duplicates int
	fired := func(f schedule.Fired) {
		mu.Lock()
		defer mu.Unlock()
		if f.Duplicate || f.ReportID == "" {
			duplicates++
		}
	}
	stop := loops(t, url, 2, fired)
	testenv.Eventually(t, 30*time.Second, "four fires", func() bool { return len(firesOf(t, pool, sch.ID)) >= 4 })
	stop()
	before := firesOf(t, pool, sch.ID)
	for i := 1; i < len(before); i++ {
		if gap := before[i].Sub(before[i-1]); gap != every {
			t.Errorf("fires %d and %d are %s apart, want %s: %v", i-1, i, gap, every, before)
		}
	}
	last := before[len(before)-1]

	// Nothing runs for at least three ticks.
	testenv.Eventually(t, 30*time.Second, "three ticks to pass", func() bool { return time.Since(last) > 3*every+every/2 })
	restart := time.Now()
	loops(t, url, 2, fired)
	testenv.Eventually(t, 30*time.Second, "two more fires", func() bool { return len(firesOf(t, pool, sch.ID)) >= len(before)+2 })
	after := firesOf(t, pool, sch.ID)[len(before):]
	makeUp := after[0]
	if makeUp.Sub(last) < 3*every || makeUp.After(restart) || restart.Sub(makeUp) >= every {
		t.Errorf("make-up fire for %s; want the newest tick at or before the restart %s, at least three ticks after %s", makeUp, restart, last)
	}
	if gap := after[1].Sub(makeUp); gap != every {
		t.Errorf("the fire after the make-up came %s later, want %s", gap, every)
	}
	mu.Lock()
	defer mu.Unlock()
	if duplicates > 0 {
		t.Errorf("%d fires made no new report", duplicates)
	}

	// The reports carry their fire and a resolved period.
	rep, err := store.ListReports(context.Background(), clientID, domain.ListFilter{Limit: 1})
	if err != nil || len(rep) == 0 {
		t.Fatalf("list reports: %v, %d", err, len(rep))
	}
	r := rep[0]
	berlin, _ := time.LoadLocation("Europe/Berlin")
	wantDay := r.ScheduledFor.In(berlin).AddDate(0, 0, -1).Format(time.DateOnly)
	if r.ScheduleID != sch.ID || r.Params.From != wantDay || r.Params.To != wantDay || r.Params.MerchantID != "mer_1" {
		t.Errorf("report %+v: want schedule %s and previous_day %s", r, sch.ID, wantDay)
	}
	got, err := store.GetSchedule(context.Background(), clientID, sch.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.LastReportID == "" || got.NextRunAt == nil || !got.NextRunAt.After(*got.LastRunAt) {
		t.Errorf("schedule after fires: %+v", got)
	}
}

// TestAFireWhoseReportExistsMakesNoOther: the pair (schedule, fire time) is
// the fire's idempotency key. A fire whose report already exists (as after
// a crash that left the schedule due) inserts nothing and only moves on.
func TestAFireWhoseReportExistsMakesNoOther(t *testing.T) {
	ctx := context.Background()
	pool := pgtest.New(t)
	store := postgres.NewStore(pool)
	clientID := ids.New("cli")
	if err := store.CreateClient(ctx, postgres.NewClient{
		ID: clientID, Name: "Test", KeyID: ids.Random(10), KeyHash: []byte(ids.Random(16)), Scopes: []string{"reports"}, Secret: "whsec_x",
	}); err != nil {
		t.Fatal(err)
	}
	at := time.Now().Add(-time.Minute).Truncate(time.Second)
	sch := schedule.Schedule{ID: ids.New(schedule.IDPrefix), ClientID: clientID, Cron: "@every 1m", Timezone: "UTC", NextRunAt: &at,
		Report: schedule.Template{Type: report.TypeMerchantSales, Format: report.FormatCSV, Params: schedule.TemplateParams{MerchantID: "m", Period: schedule.PreviousDay}}}
	if _, err := store.CreateSchedule(ctx, sch, 0); err != nil {
		t.Fatal(err)
	}
	// The first fire leaves the schedule due, as a crash could.
	plan := func(next time.Time) func(schedule.Schedule) schedule.Fire {
		return func(s schedule.Schedule) schedule.Fire {
			f := schedule.Plan(s, at, 0)
			f.NextRunAt = next
			return f
		}
	}
	first, ok, err := store.FireSchedule(ctx, time.Now(), plan(at))
	if err != nil || !ok || first.ReportID == "" {
		t.Fatalf("first fire: %+v, %v, %v", first, ok, err)
	}
	later := at.Add(time.Hour)
	again, ok, err := store.FireSchedule(ctx, time.Now(), plan(later))
	if err != nil || !ok || !again.Duplicate || again.ReportID != "" {
		t.Fatalf("second fire of %s: %+v, %v, %v; want a duplicate that makes nothing", at, again, ok, err)
	}
	if n := len(firesOf(t, pool, sch.ID)); n != 1 {
		t.Errorf("%d reports for one fire", n)
	}
	got, err := store.GetSchedule(ctx, clientID, sch.ID)
	if err != nil || got.NextRunAt == nil || !got.NextRunAt.Equal(later) || got.LastReportID != first.ReportID {
		t.Errorf("schedule after the duplicate: %+v, %v", got, err)
	}
	if _, ok, err := store.FireSchedule(ctx, time.Now(), plan(later)); ok || err != nil {
		t.Errorf("a schedule due in an hour fired now (%v)", err)
	}
}
