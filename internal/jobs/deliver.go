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

	"github.com/reportd/reportd/internal/reports"
	"github.com/reportd/reportd/internal/webhook"
)

// DeliveryStore is what delivering a webhook needs from the system of record.
type DeliveryStore interface {
	// LoadDeliveryToSend returns the delivery and the secrets that sign it now.
	LoadDeliveryToSend(ctx context.Context, id string) (reports.Delivery, []string, error)
	RecordAttempt(ctx context.Context, id string, a reports.AttemptRecord, status reports.DeliveryStatus, next time.Time) (int, error)
	DisableWebhook(ctx context.Context, clientID, url string) error
	// LoadDeliveriesToSend and RecordAttempts serve batches: one query
	// and one statement for all of them.
	LoadDeliveriesToSend(ctx context.Context, clientID string, ids []string) ([]reports.Delivery, []string, error)
	RecordAttempts(ctx context.Context, outcomes []reports.AttemptOutcome) error
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
	log := d.Logger.With("delivery_id", p.DeliveryID, "report_id", p.ReportID, "client_id", p.ClientID, "request_id", p.RequestID)

	del, secrets, err := d.Store.LoadDeliveryToSend(ctx, p.DeliveryID)
	if errors.Is(err, reports.ErrNotFound) {
		return fmt.Errorf("load delivery %s: %w: %w", p.DeliveryID, err, asynq.SkipRetry)
	}
	if err != nil {
		return fmt.Errorf("load delivery %s: %w", p.DeliveryID, err)
	}
	if del.Status == reports.DeliveryDelivered || del.Status == reports.DeliveryDisabled {
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
	retried, _ := asynq.GetRetryCount(ctx)
	maxRetry, _ := asynq.GetMaxRetry(ctx)
	last := retried >= maxRetry

	rec := reports.AttemptRecord{
		StartedAt: res.StartedAt, StatusCode: res.StatusCode, Latency: res.Latency,
		Outcome: string(res.Outcome), ResponseBody: validUTF8(res.Body),
	}
	if res.Err != nil {
		rec.Error = res.Err.Error()
	}
	if d.Observer != nil {
		d.Observer.AttemptDone(string(res.Outcome), res.StatusCode)
	}
	// The attempt is recorded even if the task's context has ended: what
	// happened on the wire must not be lost.
	rctx := context.WithoutCancel(ctx)
	log = log.With("outcome", res.Outcome, "status_code", res.StatusCode, "latency_ms", res.Latency.Milliseconds())

	switch res.Outcome {
	case webhook.OutcomeDelivered:
		n, err := d.Store.RecordAttempt(rctx, del.ID, rec, reports.DeliveryDelivered, d.Now())
		if err != nil {
			return fmt.Errorf("record delivered attempt: %w", err)
		}
		if d.Observer != nil {
			d.Observer.Delivered(d.Now().Sub(del.CreatedAt))
		}
		log.InfoContext(ctx, "webhook delivered", "attempt", n)
		return nil

	case webhook.OutcomeGone:
		if _, err := d.Store.RecordAttempt(rctx, del.ID, rec, reports.DeliveryDisabled, d.Now()); err != nil {
			return fmt.Errorf("record gone attempt: %w", err)
		}
		if err := d.Store.DisableWebhook(rctx, del.ClientID, del.URL); err != nil {
			return fmt.Errorf("disable webhook url: %w", err)
		}
		log.WarnContext(ctx, "receiver answered 410 Gone; webhook URL disabled")
		return nil

	case webhook.OutcomeBlocked:
		last = true // the URL will not become allowed by waiting
	default:
		// failed and timeout: retry on the schedule unless this was the last attempt
	}
	if errors.Is(res.Err, webhook.ErrInvalidSecret) {
		last = true // a broken secret does not heal by waiting
	}

	if last {
		n, err := d.Store.RecordAttempt(rctx, del.ID, rec, reports.DeliveryDead, d.Now())
		if err != nil {
			return fmt.Errorf("record final attempt: %w", err)
		}
		if d.Observer != nil {
			d.Observer.DeadLettered()
		}
		log.ErrorContext(ctx, "webhook delivery is dead", "attempt", n, "err", rec.Error)
		return fmt.Errorf("deliver %s: %s: %w", del.ID, rec.Error, asynq.SkipRetry)
	}

	// A receiver's Retry-After may push the retry later, up to a cap, never earlier.
	delay := d.Schedule.DelayWithRetryAfter(retried+p.PriorAttempts, res.RetryAfter)
	next := d.Now().Add(delay)
	n, err := d.Store.RecordAttempt(rctx, del.ID, rec, reports.DeliveryFailing, next)
	if err != nil {
		return fmt.Errorf("record failed attempt: %w", err)
	}
	log.WarnContext(ctx, "webhook attempt failed; will retry", "attempt", n, "next_attempt_at", next, "err", rec.Error)
	return &retryAfterError{delay: delay, err: fmt.Errorf("deliver %s: attempt %d: %s", del.ID, n, rec.Error)}
}

// send makes one attempt once a place on the wire is free.
func (d *Deliverer) send(ctx context.Context, del reports.Delivery, secrets []string) (webhook.Result, error) {
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
