package jobs

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/hibiken/asynq"
	"golang.org/x/sync/errgroup"

	"github.com/reportd/reportd/internal/domain"
	"github.com/reportd/reportd/internal/webhook"
)

// batchParallelism is how many of a batch's deliveries are on the wire at
// once. A batch is one client's, so this is also what one batch asks of a
// receiver.
const batchParallelism = 8

// sentDelivery is one batch member's attempt.
type sentDelivery struct {
	del      domain.Delivery
	res      webhook.Result
	err      error // the attempt was not made: the task ended first
	recalled bool  // made by an earlier run, which could not record it
	place    int   // the attempt's place in the schedule, and whether it is the last
	final    bool
}

// ProcessBatch is the handler of [TypeDeliverBatch]: the first attempt at
// each of a client's replayed deliveries, with one load and one write for
// the whole batch instead of a task, a query and a commit each. Those that
// fail go on to their own task with the rest of the schedule. A member is
// sent only while it is pending, so a batch that runs again after a crash
// skips what it already recorded, and a member the sweeper queued on its
// own task while the batch waited goes out on whichever runs first (both
// only if they overlap). What was sent but not recorded because Postgres
// went away is recorded by the batch's next run in this process (see
// [unrecordedAttempts]), or else goes out again with the same webhook-id.
// An outage of Postgres or Redis makes the batch wait as a single task does
// ([Deliverer.dependencyDown]), without spending the batch's retries.
func (d *Deliverer) ProcessBatch(ctx context.Context, t *asynq.Task) error {
	p, err := decode[DeliveryBatchPayload](t)
	if err != nil {
		return err
	}
	log := d.Logger.With("client_id", p.ClientID, "request_id", p.RequestID)
	// down ends the run on an error of our own store or queue; past
	// OutageMax it counts as a failure of the batch, whose members then
	// continue on their own tasks (the sweeper's).
	down := func(err error) error {
		return d.dependencyDown(ctx, p.DeliveryIDs, err, func(err error) error { return err }, log)
	}
	list, secrets, err := d.Store.LoadDeliveriesToSend(ctx, p.ClientID, p.DeliveryIDs)
	if err != nil {
		return down(fmt.Errorf("load batch of %d deliveries: %w", len(p.DeliveryIDs), err))
	}
	if len(secrets) == 0 {
		return fmt.Errorf("client %s has no webhook secret: %w", p.ClientID, asynq.SkipRetry)
	}
	// The batch is a run's first attempt: its retries are the schedule's.
	final := d.Schedule.MaxRetry() == 0
	sent := make([]sentDelivery, 0, len(list))
	var errs []error
	for _, del := range list {
		switch {
		case del.Status != domain.DeliveryPending:
		case del.EndpointID != nil && d.Endpoints != nil:
			// An endpoint's delivery waits its turn (order, breaker,
			// concurrency), which only its own task does.
			if err := d.Retries.ScheduleDeliveryRetry(ctx, DeliveryPayload{
				DeliveryID: del.ID, ReportID: del.ReportID, ClientID: p.ClientID, RequestID: p.RequestID,
			}, 0); err != nil {
				errs = append(errs, err) // still pending: the sweeper finds it
			}
		default:
			if prev, ok := d.unrecorded.recall(del.ID, del.Attempts); ok {
				sent = append(sent, sentDelivery{del: del, res: prev.res, recalled: true, place: prev.place, final: prev.final})
				continue
			}
			sent = append(sent, sentDelivery{del: del, final: final})
		}
	}
	if len(sent) == 0 {
		return down(errors.Join(errs...))
	}
	var g errgroup.Group
	g.SetLimit(batchParallelism)
	for i := range sent {
		if sent[i].recalled {
			continue
		}
		g.Go(func() error {
			sent[i].res, sent[i].err = d.send(ctx, sent[i].del, secrets)
			if sent[i].err == nil && d.Observer != nil {
				d.Observer.AttemptDone(string(sent[i].res.Outcome), sent[i].res.StatusCode)
			}
			return nil
		})
	}
	_ = g.Wait() // every Go returns nil: an attempt's failure is its Result
	// Attempts never made (the task ended first) stay pending for the
	// batch's retry, which skips what is recorded below.
	planned := len(sent)
	sent = slices.DeleteFunc(sent, func(s sentDelivery) bool { return s.err != nil })
	if unsent := planned - len(sent); unsent > 0 {
		errs = append(errs, fmt.Errorf("%d of %d deliveries not sent: %w", unsent, planned, context.Cause(ctx)))
		if len(sent) == 0 {
			return errors.Join(errs...)
		}
	}

	now := d.Now()
	outcomes := make([]domain.AttemptOutcome, len(sent))
	settled := make([]settlement, len(sent))
	for i, s := range sent {
		settled[i] = settle(s.res, d.Schedule, s.place, s.final).from(now)
		outcomes[i] = domain.AttemptOutcome{
			DeliveryID: s.del.ID, Attempt: attemptRecord(s.res), Status: settled[i].Status, Next: settled[i].next(now),
		}
	}
	// Recorded even if the task's context has ended: what happened on the
	// wire must not be lost.
	rctx := context.WithoutCancel(ctx)
	// keep remembers the batch's attempts when they cannot be recorded: the
	// batch's next run records them instead of sending them again.
	keep := func() {
		for _, s := range sent {
			d.unrecorded.keep(s.del.ID, unrecordedAttempt{attempts: s.del.Attempts, place: s.place, final: s.final, res: s.res})
		}
	}
	// URLs that answered 410 are disabled before the record, so that a run
	// that cannot disable them records nothing yet and does both next time.
	disabled := map[string]bool{}
	for i, s := range sent {
		if outcomes[i].Status != domain.DeliveryDisabled || disabled[s.del.URL] {
			continue
		}
		disabled[s.del.URL] = true
		if err := d.Store.DisableWebhook(rctx, p.ClientID, s.del.URL); err != nil {
			keep()
			return down(fmt.Errorf("disable webhook url: %w", err))
		}
	}
	if err := d.Store.RecordAttempts(rctx, outcomes); err != nil {
		keep()
		return down(fmt.Errorf("record batch of %d attempts: %w", len(outcomes), err))
	}
	d.clearOutage(p.DeliveryIDs...)
	var delivered []string
	for i, s := range sent {
		o, res := outcomes[i], s.res
		if o.Status == domain.DeliveryDelivered {
			if d.Observer != nil {
				d.Observer.Delivered(now.Sub(s.del.CreatedAt))
			}
			delivered = append(delivered, s.del.ID) // logged together below
			continue
		}
		mlog := log.With("delivery_id", s.del.ID, "report_id", s.del.ReportID, "outcome", res.Outcome,
			"status_code", res.StatusCode, "latency_ms", res.Latency.Milliseconds(), "attempt", s.del.Attempts+1)
		switch o.Status {
		case domain.DeliveryDisabled:
			mlog.WarnContext(ctx, "receiver answered 410 Gone; webhook URL disabled")
		case domain.DeliveryDead:
			if d.Observer != nil {
				d.Observer.DeadLettered()
			}
			// Its task is the batch, so asynq archives nothing for it:
			// Postgres holds the dead letter, as it holds every one once
			// asynq's archive has expired.
			mlog.ErrorContext(ctx, "webhook delivery is dead", "err", o.Attempt.Error)
		default:
			err := d.Retries.ScheduleDeliveryRetry(rctx, DeliveryPayload{
				DeliveryID: s.del.ID, ReportID: s.del.ReportID, ClientID: p.ClientID, RequestID: p.RequestID, PriorAttempts: s.place + 1,
			}, settled[i].Delay)
			if err != nil {
				// The delivery is failing with no task: the sweeper finds it.
				errs = append(errs, err)
			}
			mlog.WarnContext(ctx, "webhook attempt failed; will retry", "next_attempt_at", o.Next, "err", o.Attempt.Error)
		}
	}
	if len(delivered) > 0 {
		// One line for the batch: its attempts are each in Postgres's log.
		log.InfoContext(ctx, "webhooks delivered", "count", len(delivered), "delivery_ids", delivered, "batch", true)
	}
	return down(errors.Join(errs...))
}
