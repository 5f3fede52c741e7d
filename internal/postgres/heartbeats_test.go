package postgres_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/reportd/reportd/internal/domain"
	"github.com/reportd/reportd/internal/ids"
	"github.com/reportd/reportd/internal/pgtest"
	"github.com/reportd/reportd/internal/postgres"
	"github.com/reportd/reportd/internal/report"
)

// TestOnlyTheCurrentRunFinishesAReport: a run that a newer one (a rescue)
// started after can neither finish the report nor give an attempt back;
// the newer one finishes it once, with one report.succeeded delivery.
func TestOnlyTheCurrentRunFinishesAReport(t *testing.T) {
	ctx := context.Background()
	store := postgres.NewStore(pgtest.New(t))
	client := newClient(t, store, "https://example.com/hook")
	created, err := store.CreateReport(ctx, newReport(client), 0, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	old, _, err := store.StartReport(ctx, created.ID, "wrk_a")
	if err != nil {
		t.Fatal(err)
	}
	rescue, _, err := store.StartReport(ctx, created.ID, "wrk_b")
	if err != nil {
		t.Fatal(err)
	}
	if old.Run != 1 || rescue.Run != 2 || rescue.Attempts != 2 {
		t.Fatalf("runs %d and %d, attempts %d; want 1, 2 and 2", old.Run, rescue.Run, rescue.Attempts)
	}
	event := func(r domain.Report) *domain.NewDelivery {
		ev, err := domain.NewEvent(r, domain.EventSucceeded, ids.New("msg"), time.Now())
		if err != nil {
			t.Fatal(err)
		}
		return &ev
	}
	if err := store.ReleaseAttempt(ctx, created.ID, old.Run); err != nil {
		t.Fatal(err)
	}
	if _, err := store.SucceedReport(ctx, created.ID, old.Run, domain.Result{ObjectKey: "old"}, event(old)); !errors.Is(err, domain.ErrConflict) {
		t.Fatalf("the old run's SucceedReport: %v, want ErrConflict", err)
	}
	if _, err := store.FailReport(ctx, created.ID, old.Run, "x", "y", nil); !errors.Is(err, domain.ErrConflict) {
		t.Fatalf("the old run's FailReport: %v, want ErrConflict", err)
	}
	deliveries, err := store.SucceedReport(ctx, created.ID, rescue.Run, domain.Result{ObjectKey: "new"}, event(rescue))
	if err != nil || len(deliveries) != 1 {
		t.Fatalf("the current run's SucceedReport: %v %v, want one delivery", deliveries, err)
	}
	if _, err := store.SucceedReport(ctx, created.ID, rescue.Run, domain.Result{ObjectKey: "new"}, event(rescue)); !errors.Is(err, domain.ErrConflict) {
		t.Fatalf("a second SucceedReport: %v, want ErrConflict", err)
	}
	got, err := store.LoadReport(ctx, created.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Status != domain.StatusSucceeded || got.ObjectKey != "new" || got.Attempts != 2 {
		t.Errorf("report %s, key %q, attempts %d; want succeeded, new, 2", got.Status, got.ObjectKey, got.Attempts)
	}
	// Expiry learns how many runs may have left a file.
	expiring, err := store.ExpiringReports(ctx, 10)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]domain.ExpiredFile{{ID: created.ID, ObjectKey: "new", ClientID: client, Format: report.FormatPDF, Runs: 2}}, expiring); diff != "" {
		t.Errorf("expiring (-want +got):\n%s", diff)
	}
	// A late run of the original task finds it finished and counts nothing.
	if _, ok, err := store.StartReport(ctx, created.ID, "wrk_a"); ok || err != nil {
		t.Errorf("a late start of a finished report: ok %t, %v", ok, err)
	}
	if got, _ := store.LoadReport(ctx, created.ID); got.Attempts != 2 || got.Run != 2 {
		t.Errorf("after the late start: attempts %d, run %d; want 2 and 2", got.Attempts, got.Run)
	}
}

// TestOrphanedRuns: the running reports of a worker whose heartbeat is old
// (or gone) are listed, only to the leader (the live worker that started
// first); released and finished runs are not, nor a clean shutdown's.
func TestOrphanedRuns(t *testing.T) {
	ctx := context.Background()
	pool := pgtest.New(t)
	store := postgres.NewStore(pool)
	client := newClient(t, store, "")
	start := func(worker string) domain.Report {
		created, err := store.CreateReport(ctx, newReport(client), 0, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		r, _, err := store.StartReport(ctx, created.ID, worker)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	// a started first, then b, then c: the leader is a, then b, then c.
	for i, w := range []string{"wrk_a", "wrk_b", "wrk_c"} {
		if err := store.Beat(ctx, w, "host-1", 100+i); err != nil {
			t.Fatal(err)
		}
		if _, err := pool.Exec(ctx, `UPDATE worker_heartbeats SET started_at = now() - $2::interval WHERE worker_id = $1`,
			w, time.Duration(3-i)*time.Minute); err != nil {
			t.Fatal(err)
		}
	}
	onA, onA2, onB, released := start("wrk_a"), start("wrk_a"), start("wrk_b"), start("wrk_a")
	queued, err := store.CreateReport(ctx, newReport(client), 0, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := store.ReleaseAttempt(ctx, released.ID, released.Run); err != nil {
		t.Fatal(err)
	}
	if _, err := store.SucceedReport(ctx, onA2.ID, onA2.Run, domain.Result{ObjectKey: "k"}, nil); err != nil {
		t.Fatal(err)
	}
	orphans := func(worker string) []domain.OrphanedRun {
		t.Helper()
		list, err := store.OrphanedRuns(ctx, worker, 5*time.Second, 100)
		if err != nil {
			t.Fatal(err)
		}
		return list
	}
	if got := orphans("wrk_a"); len(got) != 0 {
		t.Fatalf("every worker beats, yet orphans %v", got)
	}
	// a stops beating: b, now the first live worker, sees a's running report.
	if _, err := pool.Exec(ctx, `UPDATE worker_heartbeats SET seen_at = now() - interval '6 seconds' WHERE worker_id = 'wrk_a'`); err != nil {
		t.Fatal(err)
	}
	want := []domain.OrphanedRun{{ID: onA.ID, ClientID: client, Worker: "wrk_a", Run: 1}}
	for worker, wantLead := range map[string]bool{"wrk_a": false, "wrk_b": true, "wrk_c": false} {
		lead, stale, err := store.StaleProcesses(ctx, worker, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		var wantStale []domain.ProcessAddr
		if wantLead {
			wantStale = []domain.ProcessAddr{{Host: "host-1", PID: 100}}
		}
		if lead != wantLead || !cmp.Equal(wantStale, stale, cmpopts.EquateEmpty()) {
			t.Errorf("StaleProcesses for %s: %t %v, want %t %v", worker, lead, stale, wantLead, wantStale)
		}
	}
	if unstarted, err := store.UnstartedReports(ctx, []string{onA.ID, queued.ID, onA2.ID}); err != nil || !cmp.Equal([]string{queued.ID}, unstarted) {
		t.Errorf("UnstartedReports: %v %v, want only the queued one", unstarted, err)
	}
	if diff := cmp.Diff(want, orphans("wrk_b")); diff != "" {
		t.Errorf("orphans for the leader (-want +got):\n%s", diff)
	}
	for _, w := range []string{"wrk_a", "wrk_c"} {
		if got := orphans(w); len(got) != 0 {
			t.Errorf("%s is not the leader, yet is given %v", w, got)
		}
	}
	if n, err := store.DeleteStaleHeartbeats(ctx, 5*time.Second); err != nil || n != 1 {
		t.Errorf("deleted %d stale heartbeats (%v), want 1", n, err)
	}
	if diff := cmp.Diff(want, orphans("wrk_b")); diff != "" {
		t.Errorf("orphans once a's heartbeat is gone (-want +got):\n%s", diff)
	}
	// b shuts down cleanly: its run is let go, not orphaned; c leads.
	if err := store.EndHeartbeat(ctx, "wrk_b"); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, orphans("wrk_c")); diff != "" {
		t.Errorf("orphans after b's clean shutdown (-want +got):\n%s", diff)
	}
	if got, _ := store.LoadReport(ctx, onB.ID); got.Status != domain.StatusRunning {
		t.Errorf("b's report is %s after b's shutdown, want still running", got.Status)
	}
	// a was only stopped: it beats again and its run is its own once more.
	if err := store.Beat(ctx, "wrk_a", "host-1", 100); err != nil {
		t.Fatal(err)
	}
	if got := orphans("wrk_a"); len(got) != 0 {
		t.Errorf("a beats again, yet orphans %v", got)
	}
}
