package jobs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/hibiken/asynq"
	"golang.org/x/sync/semaphore"

	"github.com/reportd/reportd/internal/domain"
	"github.com/reportd/reportd/internal/webhook"
)

func batchTask(t *testing.T, ids ...string) *asynq.Task {
	t.Helper()
	b, err := json.Marshal(DeliveryBatchPayload{ClientID: "cli_1", DeliveryIDs: ids, RequestID: "req_1"})
	if err != nil {
		t.Fatal(err)
	}
	return asynq.NewTask(TypeDeliverBatch, b)
}

// batchRun is a batch's deliverer with fakes that record what it did.
type batchRun struct {
	d       *Deliverer
	obs     *fakeDeliveryObserver
	members []domain.Delivery
	secrets []string

	mu        sync.Mutex
	sent      []string
	recorded  [][]domain.AttemptOutcome
	disabled  []string
	scheduled []scheduledRetry
}

type scheduledRetry struct {
	Payload DeliveryPayload
	Delay   time.Duration
}

// newBatchRun answers each member's attempt with results[its id]; a
// member without a result must not be sent.
func newBatchRun(t *testing.T, members []domain.Delivery, results map[string]webhook.Result) *batchRun {
	t.Helper()
	r := &batchRun{members: members, secrets: []string{"whsec_k"}}
	store := &fakeDeliveryStore{
		LoadDeliveriesToSendFunc: func(_ context.Context, clientID string, ids []string) ([]domain.Delivery, []string, error) {
			if clientID != "cli_1" {
				t.Errorf("loaded the batch of %q, want cli_1", clientID)
			}
			return r.members, r.secrets, nil
		},
		RecordAttemptsFunc: func(ctx context.Context, outcomes []domain.AttemptOutcome) error {
			if ctx.Err() != nil {
				t.Errorf("RecordAttempts got an ended context: %v", ctx.Err())
			}
			r.recorded = append(r.recorded, outcomes)
			return nil
		},
		DisableWebhookFunc: func(_ context.Context, clientID, url string) error {
			r.disabled = append(r.disabled, clientID+" "+url)
			return nil
		},
	}
	sender := &fakeSender{SendFunc: func(_ context.Context, m webhook.Message) webhook.Result {
		res, ok := results[m.ID]
		if !ok {
			t.Errorf("sent %s, which is not pending", m.ID)
		}
		r.mu.Lock()
		r.sent = append(r.sent, m.ID)
		r.mu.Unlock()
		return res
	}}
	r.d, r.obs = newFakeDeliverer(store, sender)
	r.d.Retries = &fakeRetryScheduler{ScheduleDeliveryRetryFunc: func(ctx context.Context, p DeliveryPayload, delay time.Duration) error {
		if ctx.Err() != nil {
			t.Errorf("ScheduleDeliveryRetry got an ended context: %v", ctx.Err())
		}
		r.scheduled = append(r.scheduled, scheduledRetry{Payload: p, Delay: delay})
		return nil
	}}
	return r
}

func (r *batchRun) run(t *testing.T, ctx context.Context) error {
	t.Helper()
	ids := make([]string, len(r.members))
	for i, m := range r.members {
		ids[i] = m.ID
	}
	return r.d.ProcessBatch(ctx, batchTask(t, ids...))
}

func (r *batchRun) sentIDs() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Sorted(slices.Values(r.sent))
}

// TestProcessBatch: every member that is pending gets one attempt, all are
// recorded in one call where settle puts them, those that fail go on to
// their own task with the rest of the schedule, and what is no longer
// pending (a batch that runs again after a crash) is not sent again.
func TestProcessBatch(t *testing.T) {
	gone := webhook.Result{Outcome: webhook.OutcomeGone, StartedAt: attemptStarted, StatusCode: 410, Err: errors.New("receiver answered 410 Gone")}
	results := map[string]webhook.Result{
		"ok":      {Outcome: webhook.OutcomeDelivered, StartedAt: attemptStarted, StatusCode: 204, Latency: 20 * time.Millisecond},
		"fails":   {Outcome: webhook.OutcomeFailed, StartedAt: attemptStarted, StatusCode: 500, Err: errors.New("receiver answered 500 Internal Server Error")},
		"slow":    {Outcome: webhook.OutcomeFailed, StartedAt: attemptStarted, StatusCode: 429, RetryAfter: 8 * time.Second, Err: errors.New("receiver answered 429 Too Many Requests")},
		"gone1":   gone,
		"gone2":   gone,
		"blocked": {Outcome: webhook.OutcomeBlocked, StartedAt: attemptStarted, Err: fmt.Errorf("%w: address 127.0.0.1 is not public", webhook.ErrBlocked)},
	}
	var members []domain.Delivery
	for _, id := range []string{"ok", "fails", "slow", "gone1", "gone2", "blocked"} {
		members = append(members, deliveryFixture(id, domain.DeliveryPending))
	}
	members[4].URL = members[3].URL // both 410s are for one URL
	// Recorded by an earlier run of this batch, or sent meanwhile by their own task.
	members = append(members, deliveryFixture("was-delivered", domain.DeliveryDelivered),
		deliveryFixture("was-failing", domain.DeliveryFailing), deliveryFixture("was-dead", domain.DeliveryDead),
		deliveryFixture("was-disabled", domain.DeliveryDisabled))
	r := newBatchRun(t, members, results)

	if err := r.run(t, context.Background()); err != nil {
		t.Fatalf("ProcessBatch: %v", err)
	}

	if diff := cmp.Diff([]string{"blocked", "fails", "gone1", "gone2", "ok", "slow"}, r.sentIDs()); diff != "" {
		t.Errorf("sent (-want +got):\n%s", diff)
	}
	if len(r.recorded) != 1 {
		t.Fatalf("RecordAttempts called %d times, want once for the batch", len(r.recorded))
	}
	got := map[string]domain.AttemptOutcome{}
	for _, o := range r.recorded[0] {
		got[o.DeliveryID] = o
	}
	// The 500's retry comes after the schedule's first delay plus jitter.
	if late := got["fails"].Next.Sub(deliverNow.Add(5 * time.Second)); late < 0 || late > retrySlack(5*time.Second) {
		t.Errorf("next attempt of the 500 at %s, want 5s after now plus at most the jitter and a second", got["fails"].Next)
	}
	failsDelay := got["fails"].Next.Sub(deliverNow)
	o := got["fails"]
	o.Next = deliverNow.Add(5 * time.Second)
	got["fails"] = o
	goneRecord := domain.AttemptRecord{StartedAt: attemptStarted, StatusCode: 410, Outcome: "gone", Error: "receiver answered 410 Gone"}
	want := map[string]domain.AttemptOutcome{
		"ok": {DeliveryID: "ok", Status: domain.DeliveryDelivered, Next: deliverNow,
			Attempt: domain.AttemptRecord{StartedAt: attemptStarted, StatusCode: 204, Latency: 20 * time.Millisecond, Outcome: "delivered"}},
		"fails": {DeliveryID: "fails", Status: domain.DeliveryFailing, Next: deliverNow.Add(5 * time.Second),
			Attempt: domain.AttemptRecord{StartedAt: attemptStarted, StatusCode: 500, Outcome: "failed", Error: "receiver answered 500 Internal Server Error"}},
		"slow": {DeliveryID: "slow", Status: domain.DeliveryFailing, Next: deliverNow.Add(8 * time.Second),
			Attempt: domain.AttemptRecord{StartedAt: attemptStarted, StatusCode: 429, Outcome: "failed", Error: "receiver answered 429 Too Many Requests"}},
		"gone1": {DeliveryID: "gone1", Status: domain.DeliveryDisabled, Next: deliverNow, Attempt: goneRecord},
		"gone2": {DeliveryID: "gone2", Status: domain.DeliveryDisabled, Next: deliverNow, Attempt: goneRecord},
		// Dead at once, as on the delivery's own task: no retry is wasted on it.
		"blocked": {DeliveryID: "blocked", Status: domain.DeliveryDead, Next: deliverNow,
			Attempt: domain.AttemptRecord{StartedAt: attemptStarted, Outcome: "blocked", Error: "webhook destination blocked: address 127.0.0.1 is not public"}},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("recorded outcomes (-want +got):\n%s", diff)
	}

	// Each failure continues on its own task, after the delay its row says,
	// with the retries the batch's attempt left.
	slices.SortFunc(r.scheduled, func(a, b scheduledRetry) int { return strings.Compare(a.Payload.DeliveryID, b.Payload.DeliveryID) })
	wantScheduled := []scheduledRetry{
		{Payload: DeliveryPayload{DeliveryID: "fails", ReportID: "rep_fails", ClientID: "cli_1", RequestID: "req_1", PriorAttempts: 1}, Delay: failsDelay},
		{Payload: DeliveryPayload{DeliveryID: "slow", ReportID: "rep_slow", ClientID: "cli_1", RequestID: "req_1", PriorAttempts: 1}, Delay: 8 * time.Second},
	}
	if diff := cmp.Diff(wantScheduled, r.scheduled); diff != "" {
		t.Errorf("scheduled retries (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"cli_1 " + members[3].URL}, r.disabled); diff != "" {
		t.Errorf("disabled webhooks, once per URL (-want +got):\n%s", diff)
	}
	obs := r.obs.got()
	slices.Sort(obs.Attempts)
	wantObs := deliveryObserved{
		Attempts:  []string{"blocked:0", "delivered:204", "failed:429", "failed:500", "gone:410", "gone:410"},
		Delivered: []time.Duration{3 * time.Second}, Dead: 1,
	}
	if diff := cmp.Diff(wantObs, obs); diff != "" {
		t.Errorf("deliveryObserved (-want +got):\n%s", diff)
	}
}

// TestProcessBatchRunAgainSendsNothingRecorded: a batch that runs again
// after everything was recorded (a crash before asynq heard it finished)
// sends and records nothing.
func TestProcessBatchRunAgainSendsNothingRecorded(t *testing.T) {
	r := newBatchRun(t, []domain.Delivery{
		deliveryFixture("d1", domain.DeliveryDelivered), deliveryFixture("d2", domain.DeliveryFailing), deliveryFixture("d3", domain.DeliveryDead),
	}, nil)
	if err := r.run(t, context.Background()); err != nil {
		t.Fatal(err)
	}
	if len(r.sentIDs()) != 0 || len(r.recorded) != 0 || len(r.scheduled) != 0 {
		t.Fatalf("sent %v, recorded %v, scheduled %v; want nothing", r.sentIDs(), r.recorded, r.scheduled)
	}
}

// TestProcessBatchOneAttemptSchedule: with no retries in the schedule the
// batch's attempt is the last, so a failure is dead.
func TestProcessBatchOneAttemptSchedule(t *testing.T) {
	r := newBatchRun(t, []domain.Delivery{deliveryFixture("d1", domain.DeliveryPending)}, map[string]webhook.Result{
		"d1": {Outcome: webhook.OutcomeFailed, StatusCode: 503, Err: errors.New("503")},
	})
	r.d.Schedule = webhook.Schedule{}
	if err := r.run(t, context.Background()); err != nil {
		t.Fatal(err)
	}
	if len(r.recorded) != 1 || r.recorded[0][0].Status != domain.DeliveryDead || len(r.scheduled) != 0 {
		t.Fatalf("recorded %+v, scheduled %+v; want d1 dead with no retry", r.recorded, r.scheduled)
	}
	if r.obs.got().Dead != 1 {
		t.Error("the dead letter was not counted")
	}
}

// TestProcessBatchTaskEndsBeforeSending: attempts never made stay pending
// for the batch's retry, and nothing is recorded for them.
func TestProcessBatchTaskEndsBeforeSending(t *testing.T) {
	r := newBatchRun(t, []domain.Delivery{deliveryFixture("d1", domain.DeliveryPending), deliveryFixture("d2", domain.DeliveryPending)}, nil)
	r.d.OnTheWire = semaphore.NewWeighted(1)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := r.run(t, ctx)
	if err == nil || errors.Is(err, asynq.SkipRetry) || !strings.Contains(err.Error(), "2 of 2 deliveries not sent") {
		t.Fatalf("error %v, want a retryable \"2 of 2 deliveries not sent\"", err)
	}
	if len(r.recorded) != 0 {
		t.Fatalf("recorded %+v for attempts never made", r.recorded)
	}
}

// TestProcessBatchTaskEndsMidway: the task ends after one attempt: that one
// is recorded (and goes on as usual), the others stay pending for the
// batch's retry.
func TestProcessBatchTaskEndsMidway(t *testing.T) {
	members := []domain.Delivery{deliveryFixture("d1", domain.DeliveryPending), deliveryFixture("d2", domain.DeliveryPending), deliveryFixture("d3", domain.DeliveryPending)}
	r := newBatchRun(t, members, nil)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	r.d.OnTheWire = semaphore.NewWeighted(1) // one at a time, so the others wait for the wire
	r.d.Sender = &fakeSender{SendFunc: func(_ context.Context, m webhook.Message) webhook.Result {
		r.mu.Lock()
		r.sent = append(r.sent, m.ID)
		r.mu.Unlock()
		cancel() // the task times out as the first receiver answers
		return webhook.Result{Outcome: webhook.OutcomeDelivered, StatusCode: 200}
	}}
	err := r.run(t, ctx)
	if err == nil || !strings.Contains(err.Error(), "2 of 3 deliveries not sent") {
		t.Fatalf("error %v, want \"2 of 3 deliveries not sent\"", err)
	}
	sent := r.sentIDs()
	if len(sent) != 1 || len(r.recorded) != 1 || len(r.recorded[0]) != 1 || r.recorded[0][0].DeliveryID != sent[0] {
		t.Fatalf("sent %v, recorded %+v; want exactly the one sent recorded", sent, r.recorded)
	}
}

func TestProcessBatchFailures(t *testing.T) {
	failing := map[string]webhook.Result{
		"d1": {Outcome: webhook.OutcomeFailed, StatusCode: 500, Err: errors.New("500")},
		"d2": {Outcome: webhook.OutcomeFailed, StatusCode: 500, Err: errors.New("500")},
	}
	pending := func() []domain.Delivery {
		return []domain.Delivery{deliveryFixture("d1", domain.DeliveryPending), deliveryFixture("d2", domain.DeliveryPending)}
	}

	t.Run("a load that meets an outage waits", func(t *testing.T) {
		r := newBatchRun(t, nil, nil)
		r.d.Store.(*fakeDeliveryStore).LoadDeliveriesToSendFunc = func(context.Context, string, []string) ([]domain.Delivery, []string, error) {
			return nil, nil, domain.ErrUnavailable
		}
		if err := r.d.ProcessBatch(context.Background(), batchTask(t, "d1")); deliverErrKindOf(err) != deliverWait {
			t.Fatalf("error %v, want a wait", err)
		}
	})
	t.Run("a client without a secret is not retried", func(t *testing.T) {
		r := newBatchRun(t, pending(), nil)
		r.secrets = nil
		if err := r.run(t, context.Background()); !errors.Is(err, asynq.SkipRetry) {
			t.Fatalf("error %v, want SkipRetry", err)
		}
	})
	t.Run("a bad payload is not retried", func(t *testing.T) {
		r := newBatchRun(t, nil, nil)
		if err := r.d.ProcessBatch(context.Background(), asynq.NewTask(TypeDeliverBatch, []byte("["))); !errors.Is(err, asynq.SkipRetry) {
			t.Fatalf("error %v, want SkipRetry", err)
		}
	})
	t.Run("unrecorded attempts schedule nothing and wait", func(t *testing.T) {
		r := newBatchRun(t, pending(), failing)
		r.d.Store.(*fakeDeliveryStore).RecordAttemptsFunc = func(context.Context, []domain.AttemptOutcome) error {
			return domain.ErrUnavailable
		}
		if err := r.run(t, context.Background()); deliverErrKindOf(err) != deliverWait {
			t.Fatalf("error %v, want a wait", err)
		}
		if len(r.scheduled) != 0 {
			t.Fatalf("scheduled %+v for attempts that were not recorded", r.scheduled)
		}
	})
	t.Run("a retry that cannot be scheduled is reported, the others still are", func(t *testing.T) {
		r := newBatchRun(t, pending(), failing)
		var scheduled []string
		r.d.Retries = &fakeRetryScheduler{ScheduleDeliveryRetryFunc: func(_ context.Context, p DeliveryPayload, _ time.Duration) error {
			if p.DeliveryID == "d1" {
				return errors.New("redis away")
			}
			scheduled = append(scheduled, p.DeliveryID)
			return nil
		}}
		if err := r.run(t, context.Background()); err == nil || !strings.Contains(err.Error(), "redis away") {
			t.Fatalf("error %v, want the scheduling failure", err)
		}
		if diff := cmp.Diff([]string{"d2"}, scheduled); diff != "" {
			t.Errorf("scheduled (-want +got):\n%s", diff)
		}
	})
}
