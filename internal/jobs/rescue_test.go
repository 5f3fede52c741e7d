package jobs

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/reportd/reportd/internal/domain"
)

type rescueFixture struct {
	r       *Rescuer
	clock   *fakeClock
	orphans []domain.OrphanedRun
	listErr error
	listed  int
	queued  []string // report:run
	failOn  string   // a report whose rescue enqueue fails
	cleared int
	lead    bool
	stale   []domain.ProcessAddr
	active  []ActiveTask
	copied  []string // task ids
	queuedR []string // reports still queued
}

func newRescueFixture() *rescueFixture {
	f := &rescueFixture{clock: &fakeClock{now: time.Date(2026, 4, 1, 10, 0, 0, 0, time.UTC)}, lead: true}
	store := &fakeRescueStore{
		OrphanedRunsFunc: func(_ context.Context, worker string, timeout time.Duration, limit int) ([]domain.OrphanedRun, error) {
			f.listed++
			if worker != "wrk_me" || timeout != 5*time.Second || limit != rescueBatch {
				return nil, errors.New("unexpected arguments")
			}
			return f.orphans, f.listErr
		},
		StaleProcessesFunc: func(_ context.Context, worker string, _ time.Duration) (bool, []domain.ProcessAddr, error) {
			return f.lead && worker == "wrk_me", f.stale, nil
		},
		UnstartedReportsFunc: func(_ context.Context, ids []string) ([]string, error) {
			var out []string
			for _, id := range ids {
				if slices.Contains(f.queuedR, id) {
					out = append(out, id)
				}
			}
			return out, nil
		},
		DeleteStaleHeartbeatsFunc: func(_ context.Context, age time.Duration) (int64, error) {
			f.cleared++
			return 1, nil
		},
	}
	queue := &fakeRescueQueue{RescueReportFunc: func(_ context.Context, p ReportPayload, run int64) error {
		if p.ReportID == f.failOn {
			return errors.New("redis: connection refused")
		}
		f.queued = append(f.queued, p.ReportID+":"+RescueTaskID(p.ReportID, run)+":"+p.ClientID+":"+p.RequestID)
		return nil
	}}
	tasks := &fakeTaskRescuer{
		ActiveTasksFunc: func(context.Context) ([]ActiveTask, error) { return f.active, nil },
		RescueTaskFunc: func(_ context.Context, t ActiveTask) error {
			f.copied = append(f.copied, t.ID)
			return nil
		},
	}
	f.r = &Rescuer{Store: store, Queue: queue, WorkerID: "wrk_me", Logger: discard(), Timeout: 5 * time.Second, Now: f.clock.Now, Tasks: tasks}
	return f
}

// TestRescuerWaitsATimeoutOfItsOwnHealthFirst: a rescuer just started (or
// just back from a Postgres outage) has not yet given the other workers a
// chance to beat, so it judges nobody for one Timeout.
func TestRescuerWaitsATimeoutOfItsOwnHealthFirst(t *testing.T) {
	f := newRescueFixture()
	f.orphans = []domain.OrphanedRun{{ID: "rep_1", ClientID: "cli_1", Worker: "wrk_dead", Run: 1}}
	for range 4 {
		if n := f.r.RescueOnce(t.Context()); n != 0 || f.listed != 0 {
			t.Fatalf("rescued %d (listed %d times) within the first Timeout", n, f.listed)
		}
		f.clock.advance(time.Second)
	}
	f.clock.advance(time.Second)
	if n := f.r.RescueOnce(t.Context()); n != 1 {
		t.Fatalf("rescued %d after a Timeout, want 1", n)
	}
	if diff := cmp.Diff([]string{"rep_1:rep_1:rescue:1:cli_1:"}, f.queued); diff != "" {
		t.Errorf("queued (-want +got):\n%s", diff)
	}
	if f.cleared != 1 {
		t.Errorf("stale heartbeats cleared %d times, want 1", f.cleared)
	}
}

// TestRescuerStartsOverAfterAnOutage: a failed query means every heartbeat
// may look old only because nobody could write one; the rescuer waits a
// whole Timeout again.
func TestRescuerStartsOverAfterAnOutage(t *testing.T) {
	f := newRescueFixture()
	f.clock.advance(0)
	f.r.RescueOnce(t.Context()) // healthy from now
	f.clock.advance(6 * time.Second)
	f.listErr = errors.New("connection refused")
	if n := f.r.RescueOnce(t.Context()); n != 0 || f.listed != 1 {
		t.Fatalf("rescued %d, listed %d, want 0 and 1", n, f.listed)
	}
	f.listErr = nil
	f.orphans = []domain.OrphanedRun{{ID: "rep_1", ClientID: "cli_1", Run: 2}}
	f.clock.advance(time.Second)
	f.r.RescueOnce(t.Context()) // the first pass back: healthy from now
	f.clock.advance(4 * time.Second)
	if n := f.r.RescueOnce(t.Context()); n != 0 || f.listed != 1 {
		t.Fatalf("rescued %d (listed %d) 4 s after the outage, want nothing yet", n, f.listed)
	}
	f.clock.advance(time.Second)
	if n := f.r.RescueOnce(t.Context()); n != 1 {
		t.Fatalf("rescued %d a Timeout after the outage, want 1", n)
	}
}

// TestRescuerStopsAPassWhenTheQueueFails: the rest is met on the next
// pass; the run ids make a repeat harmless.
func TestRescuerStopsAPassWhenTheQueueFails(t *testing.T) {
	f := newRescueFixture()
	f.r.RescueOnce(t.Context())
	f.clock.advance(5 * time.Second)
	f.orphans = []domain.OrphanedRun{
		{ID: "rep_1", ClientID: "cli_1", RequestID: "req_1", Run: 1},
		{ID: "rep_2", ClientID: "cli_1", Run: 4},
		{ID: "rep_3", ClientID: "cli_2", Run: 1},
	}
	f.failOn = "rep_2"
	if n := f.r.RescueOnce(t.Context()); n != 1 {
		t.Fatalf("rescued %d, want 1 (stopped at the failing enqueue)", n)
	}
	f.failOn = ""
	if n := f.r.RescueOnce(t.Context()); n != 3 {
		t.Fatalf("next pass rescued %d, want 3", n)
	}
	want := []string{"rep_1:rep_1:rescue:1:cli_1:req_1", "rep_1:rep_1:rescue:1:cli_1:req_1",
		"rep_2:rep_2:rescue:4:cli_1:", "rep_3:rep_3:rescue:1:cli_2:"}
	if diff := cmp.Diff(want, f.queued); diff != "" {
		t.Errorf("queued (-want +got):\n%s", diff)
	}
}

// TestHeartbeatEndsWithItsContext: Run renews until ctx ends, then removes
// the row, even though ctx is done by then.
func TestHeartbeatEndsWithItsContext(t *testing.T) {
	beats := make(chan string, 100)
	ended := make(chan error, 1)
	h := &Heartbeat{WorkerID: "wrk_me", Interval: time.Millisecond, Logger: discard(), Store: &fakeHeartbeatStore{
		BeatFunc: func(_ context.Context, w, _ string, _ int) error { beats <- w; return nil },
		EndHeartbeatFunc: func(ctx context.Context, w string) error {
			ended <- ctx.Err()
			return nil
		},
	}}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() { defer close(done); h.Run(ctx) }()
	if w := <-beats; w != "wrk_me" {
		t.Errorf("beat for %q", w)
	}
	cancel()
	<-done
	if err := <-ended; err != nil {
		t.Errorf("EndHeartbeat ran with a done context: %v", err)
	}
}

// TestRescuerFollowsItsLeader: a worker that does not lead rescues nothing.
func TestRescuerFollowsItsLeader(t *testing.T) {
	f := newRescueFixture()
	f.lead = false
	f.r.RescueOnce(t.Context())
	f.clock.advance(10 * time.Second)
	if n := f.r.RescueOnce(t.Context()); n != 0 || f.listed != 0 {
		t.Errorf("a follower rescued %d (listed %d)", n, f.listed)
	}
}

// TestRescuerCopiesOrphanedTasks: a webhook task whose process has a stale
// heartbeat is copied at once, one that no live asynq server lists only
// after absenceGrace, one a live process runs never; each once. A report
// task is copied only while its report has not started (a started one is
// the run rescue's).
func TestRescuerCopiesOrphanedTasks(t *testing.T) {
	f := newRescueFixture()
	deadProc := domain.ProcessAddr{Host: "h", PID: 1}
	liveProc := domain.ProcessAddr{Host: "h", PID: 2}
	f.stale = []domain.ProcessAddr{deadProc}
	report := func(id string) []byte { return []byte(`{"report_id":"` + id + `","client_id":"cli_1"}`) }
	f.active = []ActiveTask{
		{ID: "msg_dead", Type: TypeDeliverWebhook, Server: &deadProc},
		{ID: "msg_live", Type: TypeDeliverWebhook, Server: &liveProc},
		{ID: "msg_unlisted", Type: TypeDeliverWebhook},
		{ID: "rep_queued", Type: TypeGenerateReport, Payload: report("rep_queued"), Server: &deadProc},
		{ID: "rep_running", Type: TypeGenerateReport, Payload: report("rep_running"), Server: &deadProc},
		{ID: "batch_1", Type: TypeDeliverBatch, Server: &deadProc},
	}
	f.queuedR = []string{"rep_queued"}
	f.r.RescueOnce(t.Context()) // the health gate starts; it only watches
	if len(f.copied) != 0 {
		t.Fatalf("copied %v during the health gate", f.copied)
	}
	f.clock.advance(5 * time.Second)
	f.r.RescueOnce(t.Context())
	if diff := cmp.Diff([]string{"msg_dead", "rep_queued"}, f.copied); diff != "" {
		t.Fatalf("copied at once (-want +got):\n%s", diff)
	}
	// msg_unlisted has been unlisted since the gate's first pass.
	f.clock.advance(absenceGrace - 5*time.Second - time.Second)
	f.r.RescueOnce(t.Context())
	if len(f.copied) != 2 {
		t.Fatalf("copied %v before absenceGrace", f.copied)
	}
	f.clock.advance(time.Second)
	f.r.RescueOnce(t.Context())
	f.r.RescueOnce(t.Context())
	if diff := cmp.Diff([]string{"msg_dead", "rep_queued", "msg_unlisted"}, f.copied); diff != "" {
		t.Errorf("copied (-want +got):\n%s", diff)
	}
	// A task that shows up in a live server's list is not orphaned.
	f.active = []ActiveTask{{ID: "msg_late", Type: TypeDeliverWebhook}}
	f.r.RescueOnce(t.Context())
	f.active = []ActiveTask{{ID: "msg_late", Type: TypeDeliverWebhook, Server: &liveProc}}
	f.clock.advance(absenceGrace)
	f.r.RescueOnce(t.Context())
	f.active = []ActiveTask{{ID: "msg_late", Type: TypeDeliverWebhook}}
	f.r.RescueOnce(t.Context())
	if len(f.copied) != 3 {
		t.Errorf("copied %v; msg_late was listed by a live server in between", f.copied)
	}
}
