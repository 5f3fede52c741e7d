package jobs

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"
	"unicode/utf8"

	"github.com/hibiken/asynq"
	"golang.org/x/sync/semaphore"

	"github.com/reportd/reportd/internal/domain"
	"github.com/reportd/reportd/internal/webhook"
)

// DeliveryStore is what delivering a webhook needs from the system of record.
type DeliveryStore interface {
	// LoadDeliveryToSend returns the delivery and the secrets that sign it now.
	LoadDeliveryToSend(ctx context.Context, id string) (domain.Delivery, []string, error)
	RecordAttempt(ctx context.Context, id string, a domain.AttemptRecord, status domain.DeliveryStatus, next time.Time) (int, error)
	DisableWebhook(ctx context.Context, clientID, url string) error
	// LoadDeliveriesToSend and RecordAttempts serve batches: one query
	// and one statement for all of them.
	LoadDeliveriesToSend(ctx context.Context, clientID string, ids []string) ([]domain.Delivery, []string, error)
	RecordAttempts(ctx context.Context, outcomes []domain.AttemptOutcome) error
}

// RetryScheduler continues a delivery that failed in a batch on its own task.
type RetryScheduler interface {
	ScheduleDeliveryRetry(ctx context.Context, p DeliveryPayload, delay time.Duration) error
}

// Sender makes one signed delivery attempt.
type Sender interface {
	Send(ctx context.Context, m webhook.Message) webhook.Result
}

// DeliveryObserver is told about every attempt, for metrics.
type DeliveryObserver interface {
	AttemptDone(outcome string, statusCode int)
	Delivered(sinceCreated time.Duration)
	DeadLettered()
}

// Deliverer sends webhooks: one attempt per task run, recorded in Postgres,
// then asynq retries on the webhook schedule until the last attempt, after
// which the delivery is dead and its task archived.
type Deliverer struct {
	Store   DeliveryStore
	Retries RetryScheduler
	Sender  Sender
	// OnTheWire, if set, bounds the attempts in flight across tasks, so a
	// bulk replay's batches open no more connections to a receiver than
	// as many single tasks would.
	OnTheWire *semaphore.Weighted
	Schedule  webhook.Schedule
	Observer  DeliveryObserver
	Logger    *slog.Logger
	Now       func() time.Time
}

// retryAfterError carries the delay the handler chose (schedule plus jitter,
// or the receiver's Retry-After), so RetryDelay uses exactly what was recorded.
type retryAfterError struct {
	delay time.Duration
	err   error
}

func (e *retryAfterError) Error() string { return e.err.Error() }
func (e *retryAfterError) Unwrap() error { return e.err }

// ProcessTask implements asynq.Handler.
func (d *Deliverer) ProcessTask(ctx context.Context, t *asynq.Task) error {
	p, err := decode[DeliveryPayload](t)
	if err != nil {
		return err
	}
	retried, _ := asynq.GetRetryCount(ctx)
	maxRetry, _ := asynq.GetMaxRetry(ctx)
	return d.deliver(ctx, p, retried, retried >= maxRetry)
}

// deliver makes one attempt at a delivery on its own task: retried is how
// many times asynq has run the task before, final whether it will not run
// it again.
func (d *Deliverer) deliver(ctx context.Context, p DeliveryPayload, retried int, final bool) error {
	log := d.Logger.With("delivery_id", p.DeliveryID, "report_id", p.ReportID, "client_id", p.ClientID, "request_id", p.RequestID)

	del, secrets, err := d.Store.LoadDeliveryToSend(ctx, p.DeliveryID)
	if errors.Is(err, domain.ErrNotFound) {
		return fmt.Errorf("load delivery %s: %w: %w", p.DeliveryID, err, asynq.SkipRetry)
	}
	if err != nil {
		return fmt.Errorf("load delivery %s: %w", p.DeliveryID, err)
	}
	switch del.Status {
	case domain.DeliveryDelivered, domain.DeliveryDisabled, domain.DeliveryDead:
		// A task that runs again after its delivery settled (asynq delivers
		// at least once) has nothing to send; only a replay, which makes the
		// delivery pending first, sends a dead letter again.
		log.InfoContext(ctx, "delivery already settled; nothing to send", "status", del.Status)
		return nil
	}
	if len(secrets) == 0 {
		return fmt.Errorf("client %s has no webhook secret: %w", del.ClientID, asynq.SkipRetry)
	}

	res, err := d.send(ctx, del, secrets)
	if err != nil {
		return fmt.Errorf("deliver %s: %w", del.ID, err)
	}
	if d.Observer != nil {
		d.Observer.AttemptDone(string(res.Outcome), res.StatusCode)
	}
	rec := attemptRecord(res)
	// The schedule goes on from the attempts a batch made before this task.
	now := d.Now()
	s := settle(res, d.Schedule, retried+p.PriorAttempts, final).from(now)
	// The attempt is recorded even if the task's context has ended: what
	// happened on the wire must not be lost.
	rctx := context.WithoutCancel(ctx)
	n, err := d.Store.RecordAttempt(rctx, del.ID, rec, s.Status, s.next(now))
	if err != nil {
		return fmt.Errorf("record %s attempt at %s: %w", res.Outcome, del.ID, err)
	}
	log = log.With("outcome", res.Outcome, "status_code", res.StatusCode, "latency_ms", res.Latency.Milliseconds(), "attempt", n)

	switch s.Status {
	case domain.DeliveryDelivered:
		if d.Observer != nil {
			d.Observer.Delivered(now.Sub(del.CreatedAt))
		}
		log.InfoContext(ctx, "webhook delivered")
		return nil
	case domain.DeliveryDisabled:
		if err := d.Store.DisableWebhook(rctx, del.ClientID, del.URL); err != nil {
			return fmt.Errorf("disable webhook url: %w", err)
		}
		log.WarnContext(ctx, "receiver answered 410 Gone; webhook URL disabled")
		return nil
	case domain.DeliveryDead:
		if d.Observer != nil {
			d.Observer.DeadLettered()
		}
		log.ErrorContext(ctx, "webhook delivery is dead", "err", rec.Error)
		return fmt.Errorf("deliver %s: %s: %w", del.ID, rec.Error, asynq.SkipRetry)
	}
	log.WarnContext(ctx, "webhook attempt failed; will retry", "next_attempt_at", s.next(now), "err", rec.Error)
	return &retryAfterError{delay: s.Delay, err: fmt.Errorf("deliver %s: attempt %d: %s", del.ID, n, rec.Error)}
}

// settlement is where one attempt leaves its delivery.
type settlement struct {
	Status domain.DeliveryStatus // delivered, failing, dead or disabled
	Delay  time.Duration         // failing only: the wait before the next attempt
}

// next is when the delivery's following attempt is due (now unless failing).
func (s settlement) next(now time.Time) time.Time { return now.Add(s.Delay) }

// from fixes a failing settlement's delay, decided at now, to end on a whole
// second (see [notEarly]), so the row's next_attempt_at is when asynq can
// really run the retry, never earlier.
func (s settlement) from(now time.Time) settlement {
	if s.Status == domain.DeliveryFailing {
		s.Delay = notEarly(now, s.Delay)
	}
	return s
}

// settle decides what one attempt's outcome does to its delivery. It is the
// one place for that rule: ProcessTask and ProcessBatch both follow it.
// retried is how many attempts of this run came before this one (its place
// in the schedule); final says the schedule allows no other.
func settle(res webhook.Result, sched webhook.Schedule, retried int, final bool) settlement {
	dead := settlement{Status: domain.DeliveryDead}
	switch {
	case res.Outcome == webhook.OutcomeDelivered:
		return settlement{Status: domain.DeliveryDelivered}
	case res.Outcome == webhook.OutcomeGone:
		// 410: the receiver asks us to stop; its URL is disabled.
		return settlement{Status: domain.DeliveryDisabled}
	case res.Outcome == webhook.OutcomeBlocked:
		// Dead at once. A delivery's URL is fixed when it is created, so a
		// refused scheme, literal address or malformed URL is refused on
		// every attempt. A host name that resolves to a non-public address
		// could resolve elsewhere later, but that is a receiver's DNS
		// pointing into a private network (a misconfiguration or a
		// rebinding attempt), not an outage: days of retries would only
		// keep probing on its behalf and hide the problem from the client.
		// The dead letter shows why, and a replay sends it once fixed.
		return dead
	case errors.Is(res.Err, webhook.ErrInvalidSecret):
		return dead // a malformed secret does not heal by waiting
	case final:
		return dead
	}
	// A receiver's Retry-After (429, 503) may push the retry later, up to
	// the schedule's cap, never earlier.
	return settlement{Status: domain.DeliveryFailing, Delay: sched.DelayWithRetryAfter(retried, res.RetryAfter)}
}

// attemptRecord is what is kept of an attempt.
func attemptRecord(res webhook.Result) domain.AttemptRecord {
	rec := domain.AttemptRecord{
		StartedAt: res.StartedAt, StatusCode: res.StatusCode, Latency: res.Latency,
		Outcome: string(res.Outcome), ResponseBody: validUTF8(res.Body),
	}
	if res.Err != nil {
		rec.Error = res.Err.Error()
	}
	return rec
}

// send makes one attempt once a place on the wire is free.
func (d *Deliverer) send(ctx context.Context, del domain.Delivery, secrets []string) (webhook.Result, error) {
	if d.OnTheWire != nil {
		if err := d.OnTheWire.Acquire(ctx, 1); err != nil {
			return webhook.Result{}, fmt.Errorf("wait to send: %w", err)
		}
		defer d.OnTheWire.Release(1)
	}
	return d.Sender.Send(ctx, webhook.Message{ID: del.ID, URL: del.URL, Body: del.Body, Secrets: secrets}), nil
}

func validUTF8(b []byte) string {
	if utf8.Valid(b) {
		return string(b)
	}
	return string([]rune(string(b))) // replaces invalid bytes with U+FFFD
}
