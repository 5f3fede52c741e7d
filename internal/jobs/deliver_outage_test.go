package jobs

import (
	stdcmp "cmp"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/hibiken/asynq"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/reportd/reportd/internal/domain"
	"github.com/reportd/reportd/internal/webhook"
)

// Errors of our own dependencies being away, as their clients return them.
var (
	// Postgres stopped: pgx cannot connect.
	pgRefused = fmt.Errorf("query delivery: %w", &net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)})
	// Postgres shutting down under an open connection.
	pgShutdown = fmt.Errorf("record attempt: %w", &pgconn.PgError{Code: "57P01", Message: "terminating connection due to administrator command"})
)

// outageDeliverer is a Deliverer whose store fails at one step (down names
// it) while down is set, with a clock the test moves.
type outageDeliverer struct {
	d        *Deliverer
	del      domain.Delivery
	down     string // "load", "admit", "record", "disable", "settle"; "" when Postgres answers
	err      error  // what a step fails with while down
	now      time.Time
	sends    int
	recorded []recordedAttempt
	disabled int
}

func newOutageDeliverer(t *testing.T, del domain.Delivery, res webhook.Result) *outageDeliverer {
	t.Helper()
	o := &outageDeliverer{del: del, now: deliverNow, err: pgRefused}
	fail := func(step string) error {
		if o.down == step {
			return o.err
		}
		return nil
	}
	store := &fakeDeliveryStore{
		LoadDeliveryToSendFunc: func(context.Context, string) (domain.Delivery, []string, error) {
			return o.del, []string{"whsec_k"}, fail("load")
		},
		RecordAttemptFunc: func(_ context.Context, id string, a domain.AttemptRecord, status domain.DeliveryStatus, next time.Time) (int, error) {
			if err := fail("record"); err != nil {
				return 0, err
			}
			o.recorded = append(o.recorded, recordedAttempt{ID: id, Attempt: a, Status: status, Next: next})
			o.del.Attempts++
			o.del.Status = status
			return o.del.Attempts, nil
		},
		DisableWebhookFunc: func(context.Context, string, string) error {
			if err := fail("disable"); err != nil {
				return err
			}
			o.disabled++
			return nil
		},
	}
	sender := &fakeSender{SendFunc: func(context.Context, webhook.Message) webhook.Result {
		o.sends++
		return res
	}}
	o.d, _ = newFakeDeliverer(store, sender)
	o.d.Now = func() time.Time { return o.now }
	return o
}

// run is one task run at place retried of a three-attempt schedule.
func (o *outageDeliverer) run(retried int) error {
	if eps, ok := o.d.Endpoints.(*fakeEndpointStore); ok {
		eps.AdmitErr, eps.SettleErr = nil, nil
		switch o.down {
		case "admit":
			eps.AdmitErr = o.err
		case "settle":
			eps.SettleErr = o.err
		}
	}
	return o.d.deliver(context.Background(), DeliveryPayload{DeliveryID: o.del.ID}, retried, retried >= deliverSchedule.MaxRetry())
}

// wantOutageWait checks that err is a wait asynq does not count, due after
// OutageBackoff of an outage that has lasted elapsed.
func wantOutageWait(t *testing.T, err error, elapsed time.Duration) {
	t.Helper()
	w, ok := errors.AsType[*waitError](err)
	if !ok || IsFailure(err) {
		t.Fatalf("error %v (%T): want a wait that asynq does not count", err, err)
	}
	hi := min(max(elapsed/2, OutageRetryMin), OutageRetryMax)
	if w.delay < hi*3/4 || w.delay > hi {
		t.Errorf("waits %s after an outage of %s, want OutageBackoff: between %s and %s", w.delay, elapsed, hi*3/4, hi)
	}
	if got := RetryDelay(0, err, asynq.NewTask(TypeDeliverWebhook, nil)); got != w.delay {
		t.Errorf("asynq would wait %s, the handler chose %s", got, w.delay)
	}
}

// TestDeliverWaitsOutAnOutage: wherever Postgres fails in a run, the run
// waits without counting a retry; the next run, with Postgres back and
// asynq's retry count unmoved, makes the attempt at the same place in the
// schedule. An attempt made before the failure is recorded by the next run,
// not sent again, so the attempts counted are those the receiver saw.
func TestDeliverWaitsOutAnOutage(t *testing.T) {
	failed := webhook.Result{Outcome: webhook.OutcomeFailed, StartedAt: attemptStarted, StatusCode: 500, Err: errors.New("receiver answered 500")}
	ok := webhook.Result{Outcome: webhook.OutcomeDelivered, StartedAt: attemptStarted, StatusCode: 204}
	gone := webhook.Result{Outcome: webhook.OutcomeGone, StartedAt: attemptStarted, StatusCode: 410, Err: errors.New("receiver answered 410 Gone")}
	tests := []struct {
		name     string
		down     string
		err      error
		endpoint bool
		res      webhook.Result
		retried  int // asynq's retries so far: the schedule's place
		// What the two runs did together.
		wantSends     int
		wantStatus    domain.DeliveryStatus
		wantDelay     time.Duration // failing: the schedule's delay at retried
		wantSecondErr deliverErrKind
	}{
		{name: "Postgres down on load: nothing is sent", down: "load", res: ok, wantSends: 1, wantStatus: domain.DeliveryDelivered},
		{name: "Postgres down on load before the last attempt: it stays the last", down: "load", res: failed, retried: 2,
			wantSends: 1, wantStatus: domain.DeliveryDead, wantSecondErr: deliverSkipRetry},
		{name: "Postgres shutting down on load", down: "load", err: pgShutdown, res: failed, retried: 1,
			wantSends: 1, wantStatus: domain.DeliveryFailing, wantDelay: deliverSchedule[1], wantSecondErr: deliverRetryAfter},
		{name: "Postgres down on admission", down: "admit", endpoint: true, res: ok, wantSends: 1, wantStatus: domain.DeliveryDelivered},
		{name: "Postgres down on the record of a delivered attempt: recorded, not sent again", down: "record", res: ok,
			wantSends: 1, wantStatus: domain.DeliveryDelivered},
		{name: "Postgres down on the record of a failed attempt: recorded at its place", down: "record", err: pgShutdown, res: failed, retried: 1,
			wantSends: 1, wantStatus: domain.DeliveryFailing, wantDelay: deliverSchedule[1], wantSecondErr: deliverRetryAfter},
		{name: "Postgres down on the record of the last attempt: it is dead", down: "record", res: failed, retried: 2,
			wantSends: 1, wantStatus: domain.DeliveryDead, wantSecondErr: deliverSkipRetry},
		{name: "Postgres down on the record of an endpoint's attempt", down: "record", endpoint: true, res: ok,
			wantSends: 1, wantStatus: domain.DeliveryDelivered},
		{name: "Postgres down on disabling a 410's URL: disabled and recorded next run", down: "disable", res: gone,
			wantSends: 1, wantStatus: domain.DeliveryDisabled},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			del := deliveryFixture("d1", domain.DeliveryFailing)
			if tt.endpoint {
				del = endpointDelivery("d1")
			}
			o := newOutageDeliverer(t, del, tt.res)
			if tt.endpoint {
				o.d.Endpoints = &fakeEndpointStore{Health: webhook.Health{Status: webhook.EndpointActive}}
				o.d.Wake = &fakeWaker{}
				o.d.Breaker = webhook.BreakerPolicy{Failures: 3, DisableAfter: time.Hour, Probes: webhook.Schedule{time.Minute}, Concurrency: 2}
			}
			o.down, o.err = tt.down, stdcmp.Or(tt.err, pgRefused)

			wantOutageWait(t, o.run(tt.retried), 0)
			if len(o.recorded) != 0 {
				t.Fatalf("recorded %+v while Postgres was down", o.recorded)
			}

			o.down, o.now = "", o.now.Add(3*time.Second) // back; asynq did not count the wait
			err := o.run(tt.retried)
			if got := deliverErrKindOf(err); got != tt.wantSecondErr {
				t.Errorf("second run: error %v: %s, want %s", err, got, tt.wantSecondErr)
			}
			if o.sends != tt.wantSends {
				t.Errorf("sent %d times, want %d", o.sends, tt.wantSends)
			}
			if len(o.recorded) != 1 {
				t.Fatalf("recorded %d attempts, want 1: %+v", len(o.recorded), o.recorded)
			}
			rec := o.recorded[0]
			if rec.Status != tt.wantStatus || !rec.Attempt.StartedAt.Equal(attemptStarted) {
				t.Errorf("recorded %s started at %s, want %s started at %s", rec.Status, rec.Attempt.StartedAt, tt.wantStatus, attemptStarted)
			}
			if tt.wantDelay > 0 {
				if late := rec.Next.Sub(o.now) - tt.wantDelay; late < 0 || late > retrySlack(tt.wantDelay) {
					t.Errorf("next attempt %s after the record, want the schedule's %s at place %d", rec.Next.Sub(o.now), tt.wantDelay, tt.retried)
				}
			}
			if tt.down == "disable" && o.disabled != 1 {
				t.Errorf("URL disabled %d times, want 1", o.disabled)
			}
		})
	}
}

// TestDeliverOutageOutlastsOutageMax: a delivery waits while the outage
// lasts less than OutageMax, with waits that grow as it goes on; past it,
// a run counts as a failed attempt on the webhook schedule, so a delivery
// cannot wait for ever. Once Postgres answers, the clock starts afresh.
func TestDeliverOutageOutlastsOutageMax(t *testing.T) {
	o := newOutageDeliverer(t, deliveryFixture("d1", domain.DeliveryFailing), webhook.Result{Outcome: webhook.OutcomeDelivered, StatusCode: 204})
	o.d.OutageMax = time.Minute
	o.down = "load"
	start := o.now

	wantOutageWait(t, o.run(1), 0)
	o.now = start.Add(40 * time.Second)
	wantOutageWait(t, o.run(1), 40*time.Second)

	o.now = start.Add(time.Minute)
	err := o.run(1)
	ra, ok := errors.AsType[*retryAfterError](err)
	if !ok || !IsFailure(err) || !errors.Is(err, syscall.ECONNREFUSED) {
		t.Fatalf("past OutageMax: error %v (%T), want a counted failure carrying the outage", err, err)
	}
	if want := deliverSchedule[1]; ra.delay < want || ra.delay > want+retrySlack(want) {
		t.Errorf("past OutageMax the retry waits %s, want the schedule's %s at place 1", ra.delay, want)
	}
	if o.sends != 0 || len(o.recorded) != 0 {
		t.Errorf("sent %d, recorded %v while Postgres was down", o.sends, o.recorded)
	}

	o.down = ""
	if err := o.run(2); err != nil {
		t.Fatalf("with Postgres back: %v", err)
	}
	o.down = "load"
	o.now = o.now.Add(time.Second)
	wantOutageWait(t, o.run(0), 0) // a new outage is timed from its start
}

// TestDeliverReceiverRefusingConnectionsBurnsAttempts: a receiver that
// refuses connections fails with the same kind of error as a Postgres that
// is down (Unavailable says so), yet it is the receiver's failure: it is
// recorded and counted on the schedule, up to a dead letter.
func TestDeliverReceiverRefusingConnectionsBurnsAttempts(t *testing.T) {
	refused := &net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}
	if !Unavailable(refused) {
		t.Fatal("Unavailable no longer classifies a refused dial as an outage; this test guards the distinction")
	}
	tests := []struct {
		name       string
		res        webhook.Result
		retried    int
		wantStatus domain.DeliveryStatus
		wantErr    deliverErrKind
	}{
		{name: "refused: a failed attempt", res: webhook.Result{Outcome: webhook.OutcomeFailed, StartedAt: attemptStarted, Err: fmt.Errorf("post: %w", refused)},
			wantStatus: domain.DeliveryFailing, wantErr: deliverRetryAfter},
		{name: "refused on the last attempt: dead", res: webhook.Result{Outcome: webhook.OutcomeFailed, StartedAt: attemptStarted, Err: fmt.Errorf("post: %w", refused)},
			retried: 2, wantStatus: domain.DeliveryDead, wantErr: deliverSkipRetry},
		{name: "timeout: a failed attempt", res: webhook.Result{Outcome: webhook.OutcomeTimeout, StartedAt: attemptStarted, Err: fmt.Errorf("post: %w", context.DeadlineExceeded)},
			wantStatus: domain.DeliveryFailing, wantErr: deliverRetryAfter},
		{name: "503: a failed attempt", res: webhook.Result{Outcome: webhook.OutcomeFailed, StartedAt: attemptStarted, StatusCode: 503, Err: errors.New("receiver answered 503")},
			wantStatus: domain.DeliveryFailing, wantErr: deliverRetryAfter},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := newOutageDeliverer(t, deliveryFixture("d1", domain.DeliveryFailing), tt.res)
			err := o.run(tt.retried)
			if got := deliverErrKindOf(err); got != tt.wantErr || (tt.wantErr == deliverRetryAfter && !IsFailure(err)) {
				t.Errorf("error %v: %s, want %s (counted by asynq)", err, got, tt.wantErr)
			}
			if len(o.recorded) != 1 || o.recorded[0].Status != tt.wantStatus {
				t.Errorf("recorded %+v, want one %s attempt", o.recorded, tt.wantStatus)
			}
		})
	}
}

// TestDeliverEndpointHealthOutageAfterTheRecord: the attempt is recorded
// but the endpoint's health cannot be: the run ends on the attempt's own
// outcome, so asynq's count stays in step with the attempts recorded.
func TestDeliverEndpointHealthOutageAfterTheRecord(t *testing.T) {
	o := newOutageDeliverer(t, endpointDelivery("d1"), webhook.Result{Outcome: webhook.OutcomeFailed, StartedAt: attemptStarted, StatusCode: 500, Err: errors.New("500")})
	o.d.Endpoints = &fakeEndpointStore{Health: webhook.Health{Status: webhook.EndpointActive}}
	o.d.Breaker = webhook.BreakerPolicy{Failures: 3, DisableAfter: time.Hour, Probes: webhook.Schedule{time.Minute}, Concurrency: 2}
	o.down = "settle"
	err := o.run(0)
	if deliverErrKindOf(err) != deliverRetryAfter {
		t.Fatalf("error %v, want the failed attempt's retry on the schedule", err)
	}
	if len(o.recorded) != 1 || o.recorded[0].Status != domain.DeliveryFailing {
		t.Errorf("recorded %+v, want one failing attempt", o.recorded)
	}
}

// TestProcessBatchWaitsOutAnOutage: a batch that meets an outage waits
// without spending its retries, and attempts it made but could not record
// are recorded by its next run, not sent again.
func TestProcessBatchWaitsOutAnOutage(t *testing.T) {
	results := map[string]webhook.Result{
		"d1": {Outcome: webhook.OutcomeDelivered, StartedAt: attemptStarted, StatusCode: 204},
		"d2": {Outcome: webhook.OutcomeFailed, StartedAt: attemptStarted, StatusCode: 500, Err: errors.New("500")},
	}
	pending := func() []domain.Delivery {
		return []domain.Delivery{deliveryFixture("d1", domain.DeliveryPending), deliveryFixture("d2", domain.DeliveryPending)}
	}

	t.Run("on load", func(t *testing.T) {
		r := newBatchRun(t, pending(), results)
		store := r.d.Store.(*fakeDeliveryStore)
		load := store.LoadDeliveriesToSendFunc
		store.LoadDeliveriesToSendFunc = func(context.Context, string, []string) ([]domain.Delivery, []string, error) {
			return nil, nil, pgRefused
		}
		wantOutageWait(t, r.run(t, context.Background()), 0)
		store.LoadDeliveriesToSendFunc = load
		if err := r.run(t, context.Background()); err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff([]string{"d1", "d2"}, r.sentIDs()); diff != "" {
			t.Errorf("sent (-want +got):\n%s", diff)
		}
	})
	t.Run("on the record after sending", func(t *testing.T) {
		r := newBatchRun(t, pending(), results)
		store := r.d.Store.(*fakeDeliveryStore)
		record := store.RecordAttemptsFunc
		store.RecordAttemptsFunc = func(context.Context, []domain.AttemptOutcome) error { return pgShutdown }
		wantOutageWait(t, r.run(t, context.Background()), 0)
		if len(r.scheduled) != 0 {
			t.Fatalf("scheduled %+v for attempts not recorded", r.scheduled)
		}
		store.RecordAttemptsFunc = record
		if err := r.run(t, context.Background()); err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff([]string{"d1", "d2"}, r.sentIDs()); diff != "" {
			t.Errorf("sent (-want +got): each once, the second run records without sending:\n%s", diff)
		}
		if len(r.recorded) != 1 || len(r.recorded[0]) != 2 {
			t.Fatalf("recorded %+v, want both attempts in one call", r.recorded)
		}
		got := map[string]domain.DeliveryStatus{}
		for _, o := range r.recorded[0] {
			got[o.DeliveryID] = o.Status
			if !o.Attempt.StartedAt.Equal(attemptStarted) {
				t.Errorf("%s recorded an attempt started at %s, want the first run's %s", o.DeliveryID, o.Attempt.StartedAt, attemptStarted)
			}
		}
		if diff := cmp.Diff(map[string]domain.DeliveryStatus{"d1": domain.DeliveryDelivered, "d2": domain.DeliveryFailing}, got); diff != "" {
			t.Errorf("recorded statuses (-want +got):\n%s", diff)
		}
		if len(r.scheduled) != 1 || r.scheduled[0].Payload.DeliveryID != "d2" || r.scheduled[0].Payload.PriorAttempts != 1 {
			t.Errorf("scheduled %+v, want d2's retry after its one attempt", r.scheduled)
		}
		if n := len(r.obs.got().Attempts); n != 2 {
			t.Errorf("observer told of %d attempts, want 2", n)
		}
	})
	t.Run("Redis down scheduling a retry", func(t *testing.T) {
		r := newBatchRun(t, pending(), results)
		r.d.Retries = &fakeRetryScheduler{ScheduleDeliveryRetryFunc: func(context.Context, DeliveryPayload, time.Duration) error {
			return fmt.Errorf("enqueue: %w", &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED})
		}}
		wantOutageWait(t, r.run(t, context.Background()), 0)
		if len(r.recorded) != 1 {
			t.Errorf("recorded %+v, want the batch's attempts recorded once", r.recorded)
		}
	})
	t.Run("past OutageMax the batch's run counts", func(t *testing.T) {
		r := newBatchRun(t, pending(), results)
		r.d.OutageMax = time.Minute
		now := deliverNow
		r.d.Now = func() time.Time { return now }
		r.d.Store.(*fakeDeliveryStore).LoadDeliveriesToSendFunc = func(context.Context, string, []string) ([]domain.Delivery, []string, error) {
			return nil, nil, pgRefused
		}
		wantOutageWait(t, r.run(t, context.Background()), 0)
		now = now.Add(time.Minute)
		err := r.run(t, context.Background())
		if deliverErrKindOf(err) != deliverRetry || !errors.Is(err, syscall.ECONNREFUSED) {
			t.Fatalf("error %v, want a counted failure carrying the outage", err)
		}
	})
}

// TestDeliverRecordThatCommittedIsNotRecordedTwice: the connection broke
// after the record committed, so the run saw an error. The next run finds
// the row's attempts moved on and does not record the remembered attempt
// again; it makes the next attempt of the schedule instead.
func TestDeliverRecordThatCommittedIsNotRecordedTwice(t *testing.T) {
	o := newOutageDeliverer(t, deliveryFixture("d1", domain.DeliveryFailing),
		webhook.Result{Outcome: webhook.OutcomeFailed, StartedAt: attemptStarted, StatusCode: 500, Err: errors.New("500")})
	store := o.d.Store.(*fakeDeliveryStore)
	record := store.RecordAttemptFunc
	store.RecordAttemptFunc = func(ctx context.Context, id string, a domain.AttemptRecord, status domain.DeliveryStatus, next time.Time) (int, error) {
		if _, err := record(ctx, id, a, status, next); err != nil {
			return 0, err
		}
		return 0, pgShutdown // committed, but the answer was lost
	}
	wantOutageWait(t, o.run(0), 0)
	store.RecordAttemptFunc = record
	if err := o.run(0); deliverErrKindOf(err) != deliverRetryAfter {
		t.Fatalf("second run: %v, want a failed attempt retried on the schedule", err)
	}
	if o.sends != 2 || len(o.recorded) != 2 {
		t.Errorf("sent %d, recorded %d; want two attempts, each recorded once", o.sends, len(o.recorded))
	}
}
