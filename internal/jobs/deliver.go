package jobs

import (
	"cmp"
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

// EndpointStore is what delivering to a client's webhook endpoints needs:
// admission (a report's order, the endpoint's breaker and concurrency
// limit), the endpoint's health, and what waits for an endpoint or a
// report's earlier event.
type EndpointStore interface {
	AdmitDelivery(ctx context.Context, deliveryID string, lease time.Duration,
		decide func(webhook.Health, webhook.Lane, time.Time) webhook.Admission) (webhook.Admission, error)
	SettleEndpoint(ctx context.Context, endpointID, deliveryID string, change func(webhook.Health) webhook.Health) (before, after webhook.Health, err error)
	WaitingDeliveries(ctx context.Context, endpointID, reportID string, limit int) ([]domain.WorkRef, error)
}

// Waker runs a waiting delivery's task now instead of at its next poll.
type Waker interface {
	RequeueDelivery(ctx context.Context, p DeliveryPayload) error
}

// EndpointObserver is told when an endpoint's health changes, for metrics.
type EndpointObserver interface {
	EndpointHealthChanged(from, to webhook.EndpointStatus)
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
	// OutageMax is how long a delivery waits out an outage of our own
	// dependencies (DEPENDENCY_OUTAGE_MAX) before its runs count as failed
	// attempts again; 0 waits for ever. See [Deliverer.dependencyDown].
	OutageMax time.Duration

	// Endpoints, if set, gates deliveries to webhook endpoints: one
	// report's events in order, the breaker (Breaker) and the endpoint's
	// concurrency limit, held across worker processes by leases of Lease
	// (0: 30 s) in Postgres. Wake, if set, runs what was waiting as soon
	// as it may go; without it, waiting deliveries poll.
	Endpoints        EndpointStore
	Breaker          webhook.BreakerPolicy
	Lease            time.Duration
	Wake             Waker
	EndpointObserver EndpointObserver

	outages    outageLog          // per delivery, since when its runs met an outage
	unrecorded unrecordedAttempts // attempts sent whose record is still due
}

// maxWake is the most waiting deliveries one settlement wakes at once; the
// rest find their way by polling.
const maxWake = 1000

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
	place := retried + p.PriorAttempts // the schedule goes on from the attempts a batch made before this task
	// down ends the run on a failed call to our own store: a wait while the
	// outage lasts (see dependencyDown), past OutageMax a failed attempt on
	// the webhook schedule.
	down := func(err error) error {
		return d.dependencyDown(ctx, []string{p.DeliveryID}, err, func(err error) error {
			return &retryAfterError{delay: notEarly(d.Now(), d.Schedule.Delay(place)), err: fmt.Errorf("deliver %s: %w", p.DeliveryID, err)}
		}, log)
	}

	del, secrets, err := d.Store.LoadDeliveryToSend(ctx, p.DeliveryID)
	if errors.Is(err, domain.ErrNotFound) {
		return fmt.Errorf("load delivery %s: %w: %w", p.DeliveryID, err, asynq.SkipRetry)
	}
	if err != nil {
		return down(fmt.Errorf("load delivery %s: %w", p.DeliveryID, err))
	}
	switch del.Status {
	case domain.DeliveryDelivered, domain.DeliveryDisabled, domain.DeliveryDead:
		// A task that runs again after its delivery settled (asynq delivers
		// at least once) has nothing to send; only a replay, which makes the
		// delivery pending first, sends a dead letter again.
		d.clearOutage(del.ID)
		d.unrecorded.forget(del.ID) // a record that committed after all
		log.InfoContext(ctx, "delivery already settled; nothing to send", "status", del.Status)
		return nil
	}
	if len(secrets) == 0 {
		return fmt.Errorf("client %s has no webhook secret: %w", del.ClientID, asynq.SkipRetry)
	}
	var adm webhook.Admission
	endpoint := d.Endpoints != nil && del.EndpointID != nil
	if endpoint {
		adm, err = d.Endpoints.AdmitDelivery(ctx, del.ID, cmp.Or(d.Lease, 30*time.Second), d.Breaker.Admit)
		if err != nil {
			return down(fmt.Errorf("admit delivery %s: %w", del.ID, err))
		}
		d.clearOutage(del.ID)
		if !adm.Go {
			// Waiting burns no attempt: IsFailure leaves asynq's count alone.
			log.DebugContext(ctx, "webhook delivery waits", "endpoint_id", *del.EndpointID, "reason", adm.Reason, "wait", adm.Wait)
			return &waitError{delay: adm.Wait, err: fmt.Errorf("delivery %s waits (%s)", del.ID, adm.Reason)}
		}
		log = log.With("endpoint_id", *del.EndpointID)
	}

	// A paused endpoint's probe never uses up its delivery's schedule: it
	// tests the endpoint, on the breaker's own backoff.
	sent := unrecordedAttempt{attempts: del.Attempts, place: place, final: final && !adm.Probe}
	if prev, ok := d.unrecorded.recall(del.ID, del.Attempts); ok {
		// This process sent it, and Postgres went away before the attempt
		// was recorded: record that attempt, at its own place in the
		// schedule, instead of sending it again.
		sent = prev
		log.InfoContext(ctx, "recording an attempt made during an outage", "outcome", sent.res.Outcome, "started_at", sent.res.StartedAt)
	} else {
		sent.res, err = d.send(ctx, del, secrets)
		if err != nil {
			return fmt.Errorf("deliver %s: %w", del.ID, err)
		}
		if d.Observer != nil {
			d.Observer.AttemptDone(string(sent.res.Outcome), sent.res.StatusCode)
		}
	}
	res := sent.res
	rec := attemptRecord(res)
	now := d.Now()
	s := settle(res, d.Schedule, sent.place, sent.final).from(now)
	// The attempt is recorded even if the task's context has ended: what
	// happened on the wire must not be lost.
	rctx := context.WithoutCancel(ctx)
	if s.Status == domain.DeliveryDisabled && !endpoint {
		// Before the record, so that a run that cannot disable the URL
		// records nothing yet and does both on its next run.
		if err := d.Store.DisableWebhook(rctx, del.ClientID, del.URL); err != nil {
			d.unrecorded.keep(del.ID, sent)
			return down(fmt.Errorf("disable webhook url: %w", err))
		}
	}
	n, err := d.Store.RecordAttempt(rctx, del.ID, rec, s.Status, s.next(now))
	if err != nil {
		// The receiver saw this attempt (and may have taken it): it is
		// remembered, so that the next run records it rather than counting
		// a second one, and the run waits without moving the schedule.
		d.unrecorded.keep(del.ID, sent)
		return down(fmt.Errorf("record %s attempt at %s: %w", res.Outcome, del.ID, err))
	}
	d.clearOutage(del.ID)
	log = log.With("outcome", res.Outcome, "status_code", res.StatusCode, "latency_ms", res.Latency.Milliseconds(), "attempt", n)
	var health webhook.Health
	if endpoint {
		if health, err = d.settleEndpoint(rctx, del, s.Status, now, log); err != nil {
			if !dependencyOutage(rctx, err) {
				return err
			}
			// The attempt is recorded: the run ends on its outcome, so
			// asynq's retries stay in step with the attempts counted. Only
			// the endpoint's health misses this attempt.
			log.WarnContext(ctx, "a dependency is unavailable; the endpoint's health misses this attempt", "err", err)
			health = webhook.Health{}
		}
	}

	switch s.Status {
	case domain.DeliveryDelivered:
		if d.Observer != nil {
			d.Observer.Delivered(now.Sub(del.CreatedAt))
		}
		log.InfoContext(ctx, "webhook delivered")
		return nil
	case domain.DeliveryDisabled:
		if endpoint {
			log.WarnContext(ctx, "receiver answered 410 Gone; webhook endpoint disabled")
			return nil
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
	if endpoint && health.Status == webhook.EndpointPaused {
		// The endpoint is paused (this attempt was its probe, or paused
		// it): the delivery waits for the breaker, burning no retry.
		wait := time.Second
		if health.ProbeAt != nil {
			wait = max(health.ProbeAt.Sub(now), time.Second)
		}
		log.WarnContext(ctx, "webhook attempt failed; endpoint paused", "probe_at", health.ProbeAt, "err", rec.Error)
		if adm.Probe {
			return &waitError{delay: wait, err: fmt.Errorf("deliver %s: probe failed: %s", del.ID, rec.Error)}
		}
	}
	log.WarnContext(ctx, "webhook attempt failed; will retry", "next_attempt_at", s.next(now), "err", rec.Error)
	return &retryAfterError{delay: s.Delay, err: fmt.Errorf("deliver %s: attempt %d: %s", del.ID, n, rec.Error)}
}

// settleEndpoint records what an attempt to an endpoint says about its
// health, says so when that changes, and wakes what waited: a report's
// later events once this one is settled, everything once the endpoint
// resumes.
func (d *Deliverer) settleEndpoint(ctx context.Context, del domain.Delivery, status domain.DeliveryStatus, now time.Time, log *slog.Logger) (webhook.Health, error) {
	epID := *del.EndpointID
	before, after, err := d.Endpoints.SettleEndpoint(ctx, epID, del.ID, func(h webhook.Health) webhook.Health {
		if status == domain.DeliveryDisabled { // 410 Gone: the receiver asks us to stop
			return webhook.Health{Status: webhook.EndpointDisabled, Failures: h.Failures + 1, FailingSince: cmp.Or(h.FailingSince, &now)}
		}
		return d.Breaker.AfterAttempt(h, status == domain.DeliveryDelivered, now)
	})
	if err != nil {
		return webhook.Health{}, fmt.Errorf("record health of endpoint %s: %w", epID, err)
	}
	if before.Status != after.Status {
		if d.EndpointObserver != nil {
			d.EndpointObserver.EndpointHealthChanged(before.Status, after.Status)
		}
		switch after.Status {
		case webhook.EndpointPaused:
			log.WarnContext(ctx, "webhook endpoint paused after consecutive failures; probing", "failures", after.Failures, "probe_at", after.ProbeAt)
		case webhook.EndpointDisabled:
			log.ErrorContext(ctx, "webhook endpoint disabled; its undelivered events are dead letters", "failures", after.Failures, "failing_since", after.FailingSince)
		case webhook.EndpointActive:
			log.InfoContext(ctx, "webhook endpoint resumed", "was", before.Status)
		}
	}
	switch {
	case before.Status == webhook.EndpointPaused && after.Status == webhook.EndpointActive:
		d.wake(ctx, epID, "", log)
	case status != domain.DeliveryFailing:
		d.wake(ctx, epID, del.ReportID, log) // the report's next event may go
	}
	return after, nil
}

// wake runs the tasks of an endpoint's open deliveries (of one report, if
// reportID is set) now; admission still decides which may go.
func (d *Deliverer) wake(ctx context.Context, endpointID, reportID string, log *slog.Logger) {
	if d.Wake == nil {
		return
	}
	refs, err := d.Endpoints.WaitingDeliveries(ctx, endpointID, reportID, maxWake)
	if err != nil {
		log.WarnContext(ctx, "list waiting deliveries; they will poll", "err", err)
		return
	}
	for _, r := range refs {
		if err := d.Wake.RequeueDelivery(ctx, DeliveryPayload{DeliveryID: r.ID, ReportID: r.ReportID, ClientID: r.ClientID}); err != nil {
			log.WarnContext(ctx, "wake waiting delivery; it will poll", "waiting_delivery_id", r.ID, "err", err)
		}
	}
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
