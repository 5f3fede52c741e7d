package jobs

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/hibiken/asynq"
	"golang.org/x/sync/semaphore"

	"github.com/reportd/reportd/internal/domain"
	"github.com/reportd/reportd/internal/webhook"
)

// deliverNow is the deliverer's clock in these tests.
var deliverNow = time.Date(2026, 4, 1, 12, 0, 0, 0, time.UTC)

// deliverSchedule is the webhook schedule of these tests: three attempts.
var deliverSchedule = webhook.Schedule{5 * time.Second, 5 * time.Minute}

func newFakeDeliverer(store *fakeDeliveryStore, sender *fakeSender) (*Deliverer, *fakeDeliveryObserver) {
	obs := &fakeDeliveryObserver{}
	return &Deliverer{
		Store: store, Retries: &fakeRetryScheduler{}, Sender: sender, Schedule: deliverSchedule, Observer: obs,
		Logger: slog.New(slog.DiscardHandler), Now: func() time.Time { return deliverNow },
	}, obs
}

func deliveryFixture(id string, status domain.DeliveryStatus) domain.Delivery {
	return domain.Delivery{
		ID: id, ReportID: "rep_" + id, ClientID: "cli_1", EventType: domain.EventSucceeded,
		URL: "https://hooks.example/" + id, Body: []byte(`{"type":"report.succeeded"}`), Status: status,
		CreatedAt: deliverNow.Add(-3 * time.Second),
	}
}

// recordedAttempt is one RecordAttempt call.
type recordedAttempt struct {
	ID      string
	Attempt domain.AttemptRecord
	Status  domain.DeliveryStatus
	Next    time.Time
}

// deliveryObserved is what the observer was told.
type deliveryObserved struct {
	Attempts  []string
	Delivered []time.Duration
	Dead      int
}

func (o *fakeDeliveryObserver) got() deliveryObserved {
	o.mu.Lock()
	defer o.mu.Unlock()
	return deliveryObserved{Attempts: o.attempts, Delivered: o.delivered, Dead: o.dead}
}

// deliverErrKind is how a handler's error tells asynq to go on.
type deliverErrKind int

const (
	deliverDone       deliverErrKind = iota // done
	deliverRetryAfter                       // retry after the delay the attempt recorded
	deliverSkipRetry                        // archive: no retry will help
	deliverRetry                            // retry on asynq's backoff: the attempt was not made or not recorded
	deliverWait                             // a wait that asynq does not count (IsFailure is false)
)

func (k deliverErrKind) String() string {
	return [...]string{"nil", "retry after the recorded delay", "skip retry", "transient", "wait"}[k]
}

func deliverErrKindOf(err error) deliverErrKind {
	_, retryAfter := errors.AsType[*retryAfterError](err)
	switch {
	case err == nil:
		return deliverDone
	case !IsFailure(err):
		return deliverWait
	case errors.Is(err, asynq.SkipRetry):
		return deliverSkipRetry
	case retryAfter:
		return deliverRetryAfter
	default:
		return deliverRetry
	}
}

// scheduleJitter bounds the schedule's additive jitter on delay d.
func scheduleJitter(d time.Duration) time.Duration {
	return min(time.Duration(float64(d)*webhook.JitterFraction), webhook.MaxJitter)
}

// retrySlack is how much later than its scheduled delay a retry may be due:
// the jitter, and the rounding up to a whole second that keeps asynq from
// running it early (notEarly).
func retrySlack(d time.Duration) time.Duration { return scheduleJitter(d) + time.Second }

var attemptStarted = deliverNow.Add(-time.Second)

func TestDeliver(t *testing.T) {
	failed500 := webhook.Result{Outcome: webhook.OutcomeFailed, StartedAt: attemptStarted, StatusCode: 500, Latency: 40 * time.Millisecond,
		Body: []byte("oops"), Err: errors.New("receiver answered 500 Internal Server Error")}
	failedRecord := domain.AttemptRecord{StartedAt: attemptStarted, StatusCode: 500, Latency: 40 * time.Millisecond, Outcome: "failed",
		Error: "receiver answered 500 Internal Server Error", ResponseBody: "oops"}
	tests := []struct {
		name    string
		status  domain.DeliveryStatus
		loadErr error
		noKeys  bool
		res     *webhook.Result // nil: nothing may be sent
		retried int
		final   bool
		prior   int // attempts a batch made before this task
		// recordErr and disableErr make those store calls fail.
		recordErr, disableErr error

		wantRecord   *recordedAttempt // nil: nothing may be recorded
		wantJitter   bool             // wantRecord.Next is the earliest allowed; jitter may follow
		wantDisabled bool
		wantErr      deliverErrKind
		wantObserved deliveryObserved
	}{
		{
			name: "2xx is delivered", status: domain.DeliveryPending,
			res: &webhook.Result{Outcome: webhook.OutcomeDelivered, StartedAt: attemptStarted, StatusCode: 204, Latency: 30 * time.Millisecond, Body: []byte("ok\xff")},
			wantRecord: &recordedAttempt{Status: domain.DeliveryDelivered, Next: deliverNow, Attempt: domain.AttemptRecord{
				StartedAt: attemptStarted, StatusCode: 204, Latency: 30 * time.Millisecond, Outcome: "delivered", ResponseBody: "ok\uFFFD"}},
			wantObserved: deliveryObserved{Attempts: []string{"delivered:204"}, Delivered: []time.Duration{3 * time.Second}},
		},
		{
			name: "a retry that succeeds is delivered", status: domain.DeliveryFailing, retried: 1,
			res:          &webhook.Result{Outcome: webhook.OutcomeDelivered, StartedAt: attemptStarted, StatusCode: 200},
			wantRecord:   &recordedAttempt{Status: domain.DeliveryDelivered, Next: deliverNow, Attempt: domain.AttemptRecord{StartedAt: attemptStarted, StatusCode: 200, Outcome: "delivered"}},
			wantObserved: deliveryObserved{Attempts: []string{"delivered:200"}, Delivered: []time.Duration{3 * time.Second}},
		},
		{
			name: "a failure retries on the schedule", status: domain.DeliveryPending, res: &failed500,
			wantRecord: &recordedAttempt{Status: domain.DeliveryFailing, Next: deliverNow.Add(5 * time.Second), Attempt: failedRecord}, wantJitter: true,
			wantErr: deliverRetryAfter, wantObserved: deliveryObserved{Attempts: []string{"failed:500"}},
		},
		{
			name: "the second failure waits the schedule's second delay", status: domain.DeliveryFailing, res: &failed500, retried: 1,
			wantRecord: &recordedAttempt{Status: domain.DeliveryFailing, Next: deliverNow.Add(5 * time.Minute), Attempt: failedRecord}, wantJitter: true,
			wantErr: deliverRetryAfter, wantObserved: deliveryObserved{Attempts: []string{"failed:500"}},
		},
		{
			name: "after a batch the schedule goes on from its attempt", status: domain.DeliveryFailing, res: &failed500, prior: 1,
			wantRecord: &recordedAttempt{Status: domain.DeliveryFailing, Next: deliverNow.Add(5 * time.Minute), Attempt: failedRecord}, wantJitter: true,
			wantErr: deliverRetryAfter, wantObserved: deliveryObserved{Attempts: []string{"failed:500"}},
		},
		{
			name: "a failure on the last attempt is dead", status: domain.DeliveryFailing, res: &failed500, retried: 2, final: true,
			wantRecord: &recordedAttempt{Status: domain.DeliveryDead, Next: deliverNow, Attempt: failedRecord},
			wantErr:    deliverSkipRetry, wantObserved: deliveryObserved{Attempts: []string{"failed:500"}, Dead: 1},
		},
		{
			name: "a timeout retries", status: domain.DeliveryPending,
			res: &webhook.Result{Outcome: webhook.OutcomeTimeout, StartedAt: attemptStarted, Latency: time.Second, Err: errors.New("no response within 1s")},
			wantRecord: &recordedAttempt{Status: domain.DeliveryFailing, Next: deliverNow.Add(5 * time.Second), Attempt: domain.AttemptRecord{
				StartedAt: attemptStarted, Latency: time.Second, Outcome: "timeout", Error: "no response within 1s"}}, wantJitter: true,
			wantErr: deliverRetryAfter, wantObserved: deliveryObserved{Attempts: []string{"timeout:0"}},
		},
		{
			name: "429 with a later Retry-After waits for it", status: domain.DeliveryPending,
			res: &webhook.Result{Outcome: webhook.OutcomeFailed, StartedAt: attemptStarted, StatusCode: 429, RetryAfter: 8 * time.Second, Err: errors.New("receiver answered 429 Too Many Requests")},
			wantRecord: &recordedAttempt{Status: domain.DeliveryFailing, Next: deliverNow.Add(8 * time.Second), Attempt: domain.AttemptRecord{
				StartedAt: attemptStarted, StatusCode: 429, Outcome: "failed", Error: "receiver answered 429 Too Many Requests"}},
			wantErr: deliverRetryAfter, wantObserved: deliveryObserved{Attempts: []string{"failed:429"}},
		},
		{
			name: "503 with a Retry-After past the cap waits for the cap", status: domain.DeliveryPending,
			res: &webhook.Result{Outcome: webhook.OutcomeFailed, StartedAt: attemptStarted, StatusCode: 503, RetryAfter: time.Hour, Err: errors.New("receiver answered 503 Service Unavailable")},
			wantRecord: &recordedAttempt{Status: domain.DeliveryFailing, Next: deliverNow.Add(10 * time.Second), Attempt: domain.AttemptRecord{
				StartedAt: attemptStarted, StatusCode: 503, Outcome: "failed", Error: "receiver answered 503 Service Unavailable"}},
			wantErr: deliverRetryAfter, wantObserved: deliveryObserved{Attempts: []string{"failed:503"}},
		},
		{
			name: "410 disables the URL and stops", status: domain.DeliveryFailing, retried: 1,
			res: &webhook.Result{Outcome: webhook.OutcomeGone, StartedAt: attemptStarted, StatusCode: 410, Err: errors.New("receiver answered 410 Gone")},
			wantRecord: &recordedAttempt{Status: domain.DeliveryDisabled, Next: deliverNow, Attempt: domain.AttemptRecord{
				StartedAt: attemptStarted, StatusCode: 410, Outcome: "gone", Error: "receiver answered 410 Gone"}},
			wantDisabled: true, wantObserved: deliveryObserved{Attempts: []string{"gone:410"}},
		},
		{
			// The URL is disabled before the attempt is recorded: a run that
			// cannot disable it records nothing yet.
			name: "410 whose URL cannot be disabled returns the error", status: domain.DeliveryPending, disableErr: errors.New("constraint violated"),
			res:          &webhook.Result{Outcome: webhook.OutcomeGone, StartedAt: attemptStarted, StatusCode: 410, Err: errors.New("receiver answered 410 Gone")},
			wantDisabled: true, wantErr: deliverRetry, wantObserved: deliveryObserved{Attempts: []string{"gone:410"}},
		},
		{
			name: "a blocked URL is dead on its first attempt", status: domain.DeliveryPending,
			res: &webhook.Result{Outcome: webhook.OutcomeBlocked, StartedAt: attemptStarted, Err: fmt.Errorf("%w: address 10.1.2.3 is not public", webhook.ErrBlocked)},
			wantRecord: &recordedAttempt{Status: domain.DeliveryDead, Next: deliverNow, Attempt: domain.AttemptRecord{
				StartedAt: attemptStarted, Outcome: "blocked", Error: "webhook destination blocked: address 10.1.2.3 is not public"}},
			wantErr: deliverSkipRetry, wantObserved: deliveryObserved{Attempts: []string{"blocked:0"}, Dead: 1},
		},
		{
			name: "an invalid secret is dead on its first attempt", status: domain.DeliveryPending,
			res: &webhook.Result{Outcome: webhook.OutcomeFailed, StartedAt: attemptStarted, Err: fmt.Errorf("secret 0: %w: bad base64", webhook.ErrInvalidSecret)},
			wantRecord: &recordedAttempt{Status: domain.DeliveryDead, Next: deliverNow, Attempt: domain.AttemptRecord{
				StartedAt: attemptStarted, Outcome: "failed", Error: "secret 0: invalid webhook secret: bad base64"}},
			wantErr: deliverSkipRetry, wantObserved: deliveryObserved{Attempts: []string{"failed:0"}, Dead: 1},
		},
		{
			name: "an attempt that cannot be recorded is retried", status: domain.DeliveryPending, recordErr: errors.New("postgres away"),
			res: &failed500, wantRecord: &recordedAttempt{Status: domain.DeliveryFailing, Next: deliverNow.Add(5 * time.Second), Attempt: failedRecord}, wantJitter: true,
			wantErr: deliverRetry, wantObserved: deliveryObserved{Attempts: []string{"failed:500"}},
		},
		// A task runs at least once: one that finds its delivery settled
		// (a duplicate, a replay's batch that got there first) sends nothing.
		{name: "already delivered: nothing is sent", status: domain.DeliveryDelivered},
		{name: "already disabled: nothing is sent", status: domain.DeliveryDisabled},
		{name: "already dead: nothing is sent", status: domain.DeliveryDead, retried: 2, final: true},
		{name: "a missing delivery is not retried", loadErr: fmt.Errorf("delivery d1: %w", domain.ErrNotFound), wantErr: deliverSkipRetry},
		{name: "a load that meets an outage waits", loadErr: fmt.Errorf("%w: connection refused", domain.ErrUnavailable), wantErr: deliverWait},
		{name: "a load that fails otherwise is retried", loadErr: errors.New("column does not exist"), wantErr: deliverRetry},
		{name: "a client without a secret is not retried", status: domain.DeliveryPending, noKeys: true, wantErr: deliverSkipRetry},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			del := deliveryFixture("d1", tt.status)
			secrets := []string{"whsec_new", "whsec_old"}
			if tt.noKeys {
				secrets = nil
			}
			var recorded *recordedAttempt
			var disabled []string
			store := &fakeDeliveryStore{
				LoadDeliveryToSendFunc: func(_ context.Context, id string) (domain.Delivery, []string, error) {
					if id != "d1" {
						t.Errorf("loaded delivery %q, want d1", id)
					}
					return del, secrets, tt.loadErr
				},
			}
			if tt.wantRecord != nil {
				store.RecordAttemptFunc = func(_ context.Context, id string, a domain.AttemptRecord, status domain.DeliveryStatus, next time.Time) (int, error) {
					if recorded != nil {
						t.Error("RecordAttempt called twice")
					}
					recorded = &recordedAttempt{ID: id, Attempt: a, Status: status, Next: next}
					return tt.retried + 1, tt.recordErr
				}
			}
			if tt.wantDisabled {
				store.DisableWebhookFunc = func(_ context.Context, clientID, url string) error {
					disabled = append(disabled, clientID+" "+url)
					return tt.disableErr
				}
			}
			sender := &fakeSender{}
			if tt.res != nil {
				sender.SendFunc = func(_ context.Context, m webhook.Message) webhook.Result {
					want := webhook.Message{ID: del.ID, URL: del.URL, Body: del.Body, Secrets: secrets}
					if diff := cmp.Diff(want, m); diff != "" {
						t.Errorf("sent message (-want +got):\n%s", diff)
					}
					return *tt.res
				}
			}
			d, obs := newFakeDeliverer(store, sender)

			err := d.deliver(context.Background(), DeliveryPayload{DeliveryID: "d1", ReportID: del.ReportID, ClientID: "cli_1", PriorAttempts: tt.prior}, tt.retried, tt.final)

			if got := deliverErrKindOf(err); got != tt.wantErr {
				t.Errorf("error %v: %s, want %s", err, got, tt.wantErr)
			}
			var want *recordedAttempt
			if tt.wantRecord != nil {
				w := *tt.wantRecord
				w.ID = "d1"
				want = &w
			}
			if _, ok := errors.AsType[*retryAfterError](err); ok && recorded != nil {
				// asynq waits exactly the delay the row says.
				if got, want := RetryDelay(tt.retried, err, asynq.NewTask(TypeDeliverWebhook, nil)), recorded.Next.Sub(deliverNow); got != want {
					t.Errorf("asynq would wait %s, the row says %s", got, want)
				}
			}
			if tt.wantJitter && recorded != nil {
				if late := recorded.Next.Sub(want.Next); late < 0 || late > retrySlack(want.Next.Sub(deliverNow)) {
					t.Errorf("next attempt at %s, want %s plus at most the jitter and a second", recorded.Next, want.Next)
				}
				recorded.Next = want.Next
			}
			if diff := cmp.Diff(want, recorded); diff != "" {
				t.Errorf("recorded attempt (-want +got):\n%s", diff)
			}
			var wantDisabled []string
			if tt.wantDisabled {
				wantDisabled = []string{"cli_1 " + del.URL}
			}
			if diff := cmp.Diff(wantDisabled, disabled); diff != "" {
				t.Errorf("disabled webhooks (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.wantObserved, obs.got()); diff != "" {
				t.Errorf("deliveryObserved (-want +got):\n%s", diff)
			}
		})
	}
}

// TestDeliverRecordsAfterTheTaskEnded: what happened on the wire is
// recorded even when the task's context ended during the attempt.
func TestDeliverRecordsAfterTheTaskEnded(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	recorded := false
	store := &fakeDeliveryStore{
		LoadDeliveryToSendFunc: func(context.Context, string) (domain.Delivery, []string, error) {
			return deliveryFixture("d1", domain.DeliveryPending), []string{"whsec_k"}, nil
		},
		RecordAttemptFunc: func(ctx context.Context, _ string, _ domain.AttemptRecord, status domain.DeliveryStatus, _ time.Time) (int, error) {
			if ctx.Err() != nil {
				t.Errorf("RecordAttempt got an ended context: %v", ctx.Err())
			}
			recorded = status == domain.DeliveryDelivered
			return 1, nil
		},
	}
	sender := &fakeSender{SendFunc: func(context.Context, webhook.Message) webhook.Result {
		cancel() // the task times out just as the receiver answers
		return webhook.Result{Outcome: webhook.OutcomeDelivered, StatusCode: 200}
	}}
	d, _ := newFakeDeliverer(store, sender)
	if err := d.deliver(ctx, DeliveryPayload{DeliveryID: "d1"}, 0, false); err != nil {
		t.Fatal(err)
	}
	if !recorded {
		t.Fatal("the delivered attempt was not recorded")
	}
}

// TestDeliverWaitsForAPlaceOnTheWire: a task whose context ends while every
// place on the wire is taken sends and records nothing, and is retried.
func TestDeliverWaitsForAPlaceOnTheWire(t *testing.T) {
	store := &fakeDeliveryStore{
		LoadDeliveryToSendFunc: func(context.Context, string) (domain.Delivery, []string, error) {
			return deliveryFixture("d1", domain.DeliveryPending), []string{"whsec_k"}, nil
		},
	}
	d, obs := newFakeDeliverer(store, &fakeSender{})
	d.OnTheWire = semaphore.NewWeighted(1)
	if !d.OnTheWire.TryAcquire(1) {
		t.Fatal("acquire the only place")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := d.deliver(ctx, DeliveryPayload{DeliveryID: "d1"}, 0, false)
	if deliverErrKindOf(err) != deliverRetry || !errors.Is(err, context.Canceled) {
		t.Fatalf("error %v, want a retryable context.Canceled", err)
	}
	if diff := cmp.Diff(deliveryObserved{}, obs.got()); diff != "" {
		t.Errorf("deliveryObserved (-want +got):\n%s", diff)
	}
}

func TestProcessTaskRejectsABadPayload(t *testing.T) {
	d, _ := newFakeDeliverer(&fakeDeliveryStore{}, &fakeSender{})
	err := d.ProcessTask(context.Background(), asynq.NewTask(TypeDeliverWebhook, []byte("{")))
	if !errors.Is(err, asynq.SkipRetry) {
		t.Fatalf("error %v, want SkipRetry", err)
	}
}
