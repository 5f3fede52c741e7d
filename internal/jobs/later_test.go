package jobs

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/reportd/reportd/internal/domain"
)

// flakyRedis is an enqueue target that fails with a real dial error while
// down, and records what it queued.
type flakyRedis struct {
	mu     sync.Mutex
	down   bool
	tries  int
	queued map[string]int
	err    error
}

func newFlakyRedis(t *testing.T) *flakyRedis {
	t.Helper()
	return &flakyRedis{down: true, queued: map[string]int{}, err: fmt.Errorf("enqueue: %w", dialError(t))}
}

func (r *flakyRedis) setDown(down bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.down = down
}

func (r *flakyRedis) enqueue(id string) func(context.Context) error {
	return func(context.Context) error {
		r.mu.Lock()
		defer r.mu.Unlock()
		r.tries++
		if r.down {
			return r.err
		}
		r.queued[id]++
		return nil
	}
}

func (r *flakyRedis) EnqueueReport(ctx context.Context, p ReportPayload) error {
	return r.enqueue(p.ReportID)(ctx)
}

func (r *flakyRedis) snapshot() (tries int, queued map[string]int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	q := make(map[string]int, len(r.queued))
	for k, v := range r.queued {
		q[k] = v
	}
	return r.tries, q
}

func TestRetryLaterHoldsAndDrains(t *testing.T) {
	r := newFlakyRedis(t)
	l := NewRetryLater(discard(), RetryLaterConfig{Max: 3})
	for _, id := range []string{"a", "b", "a", "c"} {
		if !l.Add("delivery:"+id, r.enqueue(id)) {
			t.Fatalf("Add(%s) refused below the cap", id)
		}
	}
	if l.Len() != 3 {
		t.Errorf("Len = %d after adding a, b, a, c; want 3 (a key is held once)", l.Len())
	}
	if l.Add("delivery:d", r.enqueue("d")) {
		t.Error("Add beyond Max accepted; what overflows is the sweeper's")
	}
	if l.RetryOnce(t.Context()) {
		t.Error("RetryOnce succeeded while Redis is down")
	}
	if tries, _ := r.snapshot(); tries != 1 {
		t.Errorf("%d tries while down, want 1: the first failure stops the round", tries)
	}
	r.setDown(false)
	if !l.RetryOnce(t.Context()) {
		t.Error("RetryOnce failed once Redis is back")
	}
	_, queued := r.snapshot()
	if len(queued) != 3 || l.Len() != 0 || l.Down() {
		t.Errorf("queued %v, %d left, down %t; want a, b, c once and nothing left", queued, l.Len(), l.Down())
	}
}

func TestRetryLaterDropsWhatIsNotAnOutage(t *testing.T) {
	l := NewRetryLater(discard(), RetryLaterConfig{})
	l.Add("delivery:bad", func(context.Context) error { return errors.New("encode payload: unsupported value") })
	if !l.RetryOnce(t.Context()) || l.Len() != 0 {
		t.Errorf("a non-outage error is kept (%d left); it must go to the sweeper, not block the set", l.Len())
	}
}

func TestRetryLaterRunQueuesAsSoonAsRedisAnswers(t *testing.T) {
	r := newFlakyRedis(t)
	l := NewRetryLater(discard(), RetryLaterConfig{MinDelay: time.Millisecond, MaxDelay: 20 * time.Millisecond})
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	done := make(chan struct{})
	go func() { l.Run(ctx); close(done) }()
	l.Add("report:a", r.enqueue("a"))
	// Wait until it has tried (and failed) a few times, then bring Redis back.
	deadline := time.Now().Add(10 * time.Second)
	for tries, _ := r.snapshot(); tries < 3; tries, _ = r.snapshot() {
		if time.Now().After(deadline) {
			t.Fatalf("only %d tries in 10 s", tries)
		}
		time.Sleep(time.Millisecond)
	}
	r.setDown(false)
	for l.Len() > 0 {
		if time.Now().After(deadline) {
			t.Fatal("still held 10 s after Redis came back")
		}
		time.Sleep(time.Millisecond)
	}
	if _, queued := r.snapshot(); queued["a"] != 1 {
		t.Errorf("queued %v, want a once", queued)
	}
	cancel()
	<-done
}

func TestLaterReports(t *testing.T) {
	r := newFlakyRedis(t)
	l := NewRetryLater(discard(), RetryLaterConfig{Max: 2})
	q := LaterReports{Queue: r, Later: l}
	if err := q.EnqueueReport(t.Context(), ReportPayload{ReportID: "a"}); err != nil {
		t.Errorf("first report while Redis is down: %v, want it held", err)
	}
	if err := q.EnqueueReport(t.Context(), ReportPayload{ReportID: "b"}); err != nil {
		t.Errorf("second report while Redis is down: %v, want it held", err)
	}
	if tries, _ := r.snapshot(); tries != 1 {
		t.Errorf("%d tries; once Redis is known to be down new work goes straight to the set", tries)
	}
	if err := q.EnqueueReport(t.Context(), ReportPayload{ReportID: "c"}); err == nil {
		t.Error("a report beyond the cap was accepted; the dispatcher must see the error and unclaim it")
	}
	r.setDown(false)
	l.RetryOnce(t.Context())
	if err := q.EnqueueReport(t.Context(), ReportPayload{ReportID: "c"}); err != nil {
		t.Errorf("with Redis back: %v", err)
	}
	if _, queued := r.snapshot(); len(queued) != 3 {
		t.Errorf("queued %v, want a, b and c", queued)
	}
}

// TestEnqueuerHandsRedeliveryAndReplayToLater uses a real asynq client on a
// port where no Redis listens.
func TestEnqueuerHandsRedeliveryAndReplayToLater(t *testing.T) {
	opt := asynq.RedisClientOpt{Addr: freeLoopback(t), DialTimeout: time.Second}
	client, inspector := asynq.NewClient(opt), asynq.NewInspector(opt)
	defer client.Close()
	defer inspector.Close()
	later := NewRetryLater(discard(), RetryLaterConfig{})
	enq := NewEnqueuer(client, inspector, EnqueuerConfig{ReportMaxAttempts: 3, ReportTimeout: time.Minute,
		DeliveryMaxRetry: 3, DeliveryTimeout: time.Minute, Later: later})

	if err := enq.Redeliver(t.Context(), domain.WorkRef{ID: "msg_1", ReportID: "rep_1", ClientID: "cli_1"}); err != nil {
		t.Errorf("Redeliver with Redis down: %v, want it held for later", err)
	}
	refs := []domain.WorkRef{{ID: "msg_2", ReportID: "rep_2", ClientID: "cli_1"}, {ID: "msg_3", ReportID: "rep_3", ClientID: "cli_2"}}
	if err := enq.Replay(t.Context(), refs, true, "req_1", nil); err != nil {
		t.Errorf("Replay of dead letters with Redis down: %v, want them held for later", err)
	}
	if err := enq.Replay(t.Context(), refs[:1], false, "req_1", nil); err != nil {
		t.Errorf("Replay of failing deliveries with Redis down: %v", err)
	}
	if later.Len() != 3 {
		t.Errorf("later holds %d, want msg_1, msg_2 and msg_3 once each", later.Len())
	}

	plain := NewEnqueuer(client, inspector, EnqueuerConfig{ReportMaxAttempts: 3, DeliveryMaxRetry: 3})
	if err := plain.Redeliver(t.Context(), domain.WorkRef{ID: "msg_1"}); err == nil {
		t.Error("without Later, Redeliver with Redis down must report the error")
	}
}
