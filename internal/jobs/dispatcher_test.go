package jobs

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/reportd/reportd/internal/domain"
)

func outboxRows(n int) []domain.QueuedReport {
	out := make([]domain.QueuedReport, n)
	for i := range out {
		out[i] = domain.QueuedReport{ID: fmt.Sprintf("rep_%03d", i), ClientID: "cli_1", RequestID: fmt.Sprintf("req_%03d", i)}
	}
	return out
}

// recordingReportQueue is a ReportQueue that records what it queued and fails
// the reports in fail.
func recordingReportQueue(fail ...string) (*fakeReportQueue, func() []ReportPayload) {
	var mu sync.Mutex
	var queued []ReportPayload
	q := &fakeReportQueue{EnqueueReportFunc: func(_ context.Context, p ReportPayload) error {
		if slices.Contains(fail, p.ReportID) {
			return errors.New("redis away")
		}
		mu.Lock()
		defer mu.Unlock()
		queued = append(queued, p)
		return nil
	}}
	return q, func() []ReportPayload {
		mu.Lock()
		defer mu.Unlock()
		return slices.SortedFunc(slices.Values(queued), func(a, b ReportPayload) int { return strings.Compare(a.ReportID, b.ReportID) })
	}
}

func newFakeDispatcher(store *fakeOutboxStore, queue *fakeReportQueue) *Dispatcher {
	return &Dispatcher{Store: store, Queue: queue, Logger: slog.New(slog.DiscardHandler), Interval: time.Hour}
}

func TestDispatchOnceQueuesWhatItClaims(t *testing.T) {
	claimed := outboxRows(3)
	store := &fakeOutboxStore{ClaimReportsToEnqueueFunc: func(_ context.Context, limit int) ([]domain.QueuedReport, error) {
		if limit != dispatchBatch {
			t.Errorf("claimed up to %d, want %d", limit, dispatchBatch)
		}
		return claimed, nil
	}}
	queue, queued := recordingReportQueue()
	n, err := newFakeDispatcher(store, queue).DispatchOnce(context.Background())
	if err != nil || n != 3 {
		t.Fatalf("DispatchOnce = %d, %v; want 3, nil", n, err)
	}
	want := []ReportPayload{
		{ReportID: "rep_000", ClientID: "cli_1", RequestID: "req_000"},
		{ReportID: "rep_001", ClientID: "cli_1", RequestID: "req_001"},
		{ReportID: "rep_002", ClientID: "cli_1", RequestID: "req_002"},
	}
	if diff := cmp.Diff(want, queued()); diff != "" {
		t.Errorf("queued (-want +got):\n%s", diff)
	}
}

func TestDispatchOnceEmptyOutbox(t *testing.T) {
	store := &fakeOutboxStore{ClaimReportsToEnqueueFunc: func(context.Context, int) ([]domain.QueuedReport, error) { return nil, nil }}
	if n, err := newFakeDispatcher(store, &fakeReportQueue{}).DispatchOnce(context.Background()); n != 0 || err != nil {
		t.Fatalf("DispatchOnce = %d, %v; want 0, nil", n, err)
	}
}

func TestDispatchOnceClaimFails(t *testing.T) {
	store := &fakeOutboxStore{ClaimReportsToEnqueueFunc: func(context.Context, int) ([]domain.QueuedReport, error) {
		return nil, domain.ErrUnavailable
	}}
	if n, err := newFakeDispatcher(store, &fakeReportQueue{}).DispatchOnce(context.Background()); n != 0 || !errors.Is(err, domain.ErrUnavailable) {
		t.Fatalf("DispatchOnce = %d, %v; want 0, ErrUnavailable", n, err)
	}
}

// TestDispatchOnceUnclaimsWhatItCouldNotQueue: reports whose enqueue
// failed go back to the outbox, and only those, even when the context
// has ended by then.
func TestDispatchOnceUnclaimsWhatItCouldNotQueue(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	var unclaimed []string
	store := &fakeOutboxStore{
		ClaimReportsToEnqueueFunc: func(context.Context, int) ([]domain.QueuedReport, error) { return outboxRows(4), nil },
		UnclaimReportsFunc: func(ctx context.Context, ids []string) error {
			if ctx.Err() != nil {
				t.Errorf("UnclaimReports got an ended context: %v", ctx.Err())
			}
			unclaimed = slices.Sorted(slices.Values(ids))
			return nil
		},
	}
	queue, queued := recordingReportQueue("rep_001", "rep_003")
	inner := queue.EnqueueReportFunc
	queue.EnqueueReportFunc = func(ctx context.Context, p ReportPayload) error {
		err := inner(ctx, p)
		if err != nil {
			cancel() // shutdown begins as Redis fails
		}
		return err
	}
	n, err := newFakeDispatcher(store, queue).DispatchOnce(ctx)
	if err != nil || n != 4 {
		t.Fatalf("DispatchOnce = %d, %v; want 4, nil", n, err)
	}
	if diff := cmp.Diff([]string{"rep_001", "rep_003"}, unclaimed); diff != "" {
		t.Errorf("unclaimed (-want +got):\n%s", diff)
	}
	if got := len(queued()); got != 2 {
		t.Errorf("queued %d, want 2", got)
	}
}

func TestDispatchOnceUnclaimFails(t *testing.T) {
	store := &fakeOutboxStore{
		ClaimReportsToEnqueueFunc: func(context.Context, int) ([]domain.QueuedReport, error) { return outboxRows(2), nil },
		UnclaimReportsFunc:        func(context.Context, []string) error { return domain.ErrUnavailable },
	}
	queue, _ := recordingReportQueue("rep_000")
	n, err := newFakeDispatcher(store, queue).DispatchOnce(context.Background())
	if n != 2 || !errors.Is(err, domain.ErrUnavailable) {
		t.Fatalf("DispatchOnce = %d, %v; want 2 and the unclaim's error (the sweeper finds those rows)", n, err)
	}
}

// runDispatcher runs d until the test ends or stop is called; stop
// returns once Run has.
func runDispatcher(t *testing.T, d *Dispatcher) func() {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		d.Run(ctx)
	}()
	stop := func() {
		cancel()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Error("Run did not return after its context ended")
		}
	}
	var once sync.Once
	t.Cleanup(func() { once.Do(stop) })
	return func() { once.Do(stop) }
}

// outboxClaims is an outbox whose nth claim returns batches[n-1] (nothing past
// the end), reporting each claim on the returned channel.
func outboxClaims(batches ...[]domain.QueuedReport) (*fakeOutboxStore, <-chan int) {
	var mu sync.Mutex
	n := 0
	claims := make(chan int, 100)
	return &fakeOutboxStore{ClaimReportsToEnqueueFunc: func(context.Context, int) ([]domain.QueuedReport, error) {
		mu.Lock()
		defer mu.Unlock()
		n++
		claims <- n
		if n <= len(batches) {
			return batches[n-1], nil
		}
		return nil, nil
	}}, claims
}

func waitDispatcherClaim(t *testing.T, claims <-chan int, want int, why string) {
	t.Helper()
	select {
	case got := <-claims:
		if got != want {
			t.Fatalf("claim %d, want claim %d %s", got, want, why)
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("no claim %d within 10s %s", want, why)
	}
}

func noDispatcherClaim(t *testing.T, claims <-chan int, why string) {
	t.Helper()
	select {
	case n := <-claims:
		t.Fatalf("claim %d %s", n, why)
	default:
	}
}

// TestDispatcherRunContinuesFullBatches: a full batch means more are
// waiting, so the next claim comes at once, not after Interval (an hour
// here).
func TestDispatcherRunContinuesFullBatches(t *testing.T) {
	store, claims := outboxClaims(outboxRows(dispatchBatch), outboxRows(dispatchBatch), outboxRows(1))
	queue, _ := recordingReportQueue()
	stop := runDispatcher(t, newFakeDispatcher(store, queue))
	waitDispatcherClaim(t, claims, 1, "at start")
	waitDispatcherClaim(t, claims, 2, "after a full batch")
	waitDispatcherClaim(t, claims, 3, "after a second full batch")
	stop() // waits for Run to return, so a fourth claim would have been made by now
	noDispatcherClaim(t, claims, "after a partial batch: the dispatcher should have waited")
}

// TestDispatcherRunWakesOnSignal: a wake-up claims at once; the hour-long
// poll never comes into it.
func TestDispatcherRunWakesOnSignal(t *testing.T) {
	store, claims := outboxClaims(nil, outboxRows(2))
	queue, queued := recordingReportQueue()
	wake := make(chan struct{}, 1)
	d := newFakeDispatcher(store, queue)
	d.Wake = wake
	stop := runDispatcher(t, d)
	waitDispatcherClaim(t, claims, 1, "at start")
	wake <- struct{}{}
	waitDispatcherClaim(t, claims, 2, "after a wake-up")
	wake <- struct{}{}
	waitDispatcherClaim(t, claims, 3, "after another wake-up")
	stop()
	noDispatcherClaim(t, claims, "without a wake-up")
	if got := len(queued()); got != 2 {
		t.Errorf("queued %d, want the 2 claimed", got)
	}
}

// TestDispatcherRunPollsWithoutSignals: with no wake-up (lost, or no
// listener) the dispatcher still claims every Interval.
func TestDispatcherRunPollsWithoutSignals(t *testing.T) {
	store, claims := outboxClaims()
	d := newFakeDispatcher(store, &fakeReportQueue{})
	d.Interval = time.Millisecond
	runDispatcher(t, d)
	for i := 1; i <= 3; i++ {
		waitDispatcherClaim(t, claims, i, "on the poll")
	}
}

// TestDispatcherRunSurvivesClaimFailures: a failed claim is logged and
// tried again on the next wake-up.
func TestDispatcherRunSurvivesClaimFailures(t *testing.T) {
	var mu sync.Mutex
	n := 0
	claims := make(chan int, 10)
	store := &fakeOutboxStore{ClaimReportsToEnqueueFunc: func(context.Context, int) ([]domain.QueuedReport, error) {
		mu.Lock()
		defer mu.Unlock()
		n++
		claims <- n
		if n == 1 {
			return nil, domain.ErrUnavailable
		}
		return nil, nil
	}}
	wake := make(chan struct{}, 1)
	d := newFakeDispatcher(store, &fakeReportQueue{})
	d.Wake = wake
	runDispatcher(t, d)
	waitDispatcherClaim(t, claims, 1, "at start")
	wake <- struct{}{}
	waitDispatcherClaim(t, claims, 2, "after a failed claim and a wake-up")
}
