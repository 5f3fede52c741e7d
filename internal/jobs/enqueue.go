package jobs

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/hibiken/asynq"
	"golang.org/x/sync/errgroup"

	"github.com/reportd/reportd/internal/domain"
)

// Enqueuer puts work on the queues. Every task has a TaskID taken from its
// row, so a conflict means the work is already queued: that is success.
type Enqueuer struct {
	client          *asynq.Client
	inspector       *asynq.Inspector
	reportRetries   int
	reportTimeout   time.Duration
	deliveryRetries int
	deliveryTimeout time.Duration
	later           *RetryLater
	shards          Shards
}

// EnqueuerConfig sets the retry budget and timeouts of new tasks.
type EnqueuerConfig struct {
	ReportMaxAttempts int           // attempts at building a report
	ReportTimeout     time.Duration // one build, render and upload included
	DeliveryMaxRetry  int           // the webhook schedule's length
	DeliveryTimeout   time.Duration // one attempt, well above the HTTP timeout
	// Later, if set, takes the redeliveries and replays that fail for want
	// of Redis and runs them again as soon as it answers.
	Later *RetryLater
	// Shards spreads each queue over several (REDIS_QUEUE_SHARDS); 0 or 1: one.
	Shards Shards
}

// NewEnqueuer wraps an asynq client and inspector on the same Redis.
func NewEnqueuer(client *asynq.Client, inspector *asynq.Inspector, cfg EnqueuerConfig) *Enqueuer {
	return &Enqueuer{
		client: client, inspector: inspector,
		reportRetries: max(cfg.ReportMaxAttempts-1, 0), reportTimeout: cfg.ReportTimeout,
		deliveryRetries: cfg.DeliveryMaxRetry, deliveryTimeout: cfg.DeliveryTimeout,
		later: cfg.Later, shards: cfg.Shards,
	}
}

// requeueLater hands deliveries whose queueing failed with err to Later,
// each to be requeued on its own task (TaskIDs make a repeat harmless). It
// reports whether Later took them all; without Later, or for an error that
// is not an outage, it takes none.
func (e *Enqueuer) requeueLater(err error, ps ...DeliveryPayload) bool {
	if e.later == nil || !Unavailable(err) {
		return false
	}
	all := true
	for _, p := range ps {
		all = e.later.Add("delivery:"+p.DeliveryID, func(ctx context.Context) error { return e.RequeueDelivery(ctx, p) }) && all
	}
	return all
}

// Redeliver is RequeueDelivery for the API: a delivery that cannot be
// queued because Redis is away is queued again here as soon as it answers.
func (e *Enqueuer) Redeliver(ctx context.Context, d domain.WorkRef) error {
	p := DeliveryPayload{DeliveryID: d.ID, ReportID: d.ReportID, ClientID: d.ClientID}
	err := e.RequeueDelivery(ctx, p)
	if err != nil && e.requeueLater(err, p) {
		return nil
	}
	return err
}

// EnqueueReport queues a report build.
func (e *Enqueuer) EnqueueReport(ctx context.Context, p ReportPayload) error {
	task, err := NewGenerateTask(p, e.shards, e.reportRetries, e.reportTimeout)
	if err != nil {
		return err
	}
	return e.enqueue(ctx, task, p.ReportID)
}

// EnqueueDelivery queues a webhook delivery.
func (e *Enqueuer) EnqueueDelivery(ctx context.Context, p DeliveryPayload) error {
	task, err := NewDeliverTask(p, e.shards, e.deliveryRetries, e.deliveryTimeout)
	if err != nil {
		return err
	}
	return e.enqueue(ctx, task, p.DeliveryID)
}

// batchRetries bounds how often a batch task itself is retried (Postgres or
// Redis away); past that its unsent deliveries are left to the sweeper.
const batchRetries = 10

// EnqueueDeliveryBatch queues one attempt at each of a client's replayed
// dead letters (at most [MaxDeliveriesPerBatch]). Their archived tasks stay
// until the sweeper prunes them ([Enqueuer.ArchivedDeliveries]): deleting
// them here would cost a Redis round trip per delivery on the replay's path.
func (e *Enqueuer) EnqueueDeliveryBatch(ctx context.Context, p DeliveryBatchPayload) error {
	if len(p.DeliveryIDs) == 0 || len(p.DeliveryIDs) > MaxDeliveriesPerBatch {
		return fmt.Errorf("delivery batch of %d: want 1 to %d", len(p.DeliveryIDs), MaxDeliveriesPerBatch)
	}
	waves := (len(p.DeliveryIDs) + batchParallelism - 1) / batchParallelism
	task, err := NewDeliverBatchTask(p, e.shards, batchRetries, time.Duration(waves)*e.deliveryTimeout)
	if err != nil {
		return err
	}
	if _, err := e.client.EnqueueContext(ctx, task); err != nil {
		return fmt.Errorf("enqueue batch of %d deliveries: %w", len(p.DeliveryIDs), err)
	}
	return nil
}

// ArchivedDeliveries lists the ids of archived delivery tasks on one page
// (0-based, of size tasks) of asynq's archive, that page of every shard;
// more says whether later pages may hold more.
func (e *Enqueuer) ArchivedDeliveries(_ context.Context, page, size int) (ids []string, more bool, err error) {
	for _, queue := range e.shards.All(QueueWebhooks) {
		infos, err := e.inspector.ListArchivedTasks(queue, asynq.Page(page+1), asynq.PageSize(size))
		if errors.Is(err, asynq.ErrQueueNotFound) {
			continue
		}
		if err != nil {
			return nil, false, fmt.Errorf("list archived delivery tasks of %s: %w", queue, err)
		}
		for _, t := range infos {
			if t.Type == TypeDeliverWebhook {
				ids = append(ids, t.ID)
			}
		}
		more = more || len(infos) == size
	}
	return ids, more, nil
}

// DropArchivedDelivery deletes a delivery's archived task; one that is no
// longer archived is left alone.
func (e *Enqueuer) DropArchivedDelivery(_ context.Context, id string) error {
	return e.dropFinishedTask(e.shards.WebhookQueue(id), id)
}

// replayParallelism is how many enqueues a replay runs side by side: each
// is a Redis round trip or a few.
const replayParallelism = 16

// Replay queues deliveries that ReplayDeliveries made due again, in the
// order given, calling progress (if not nil) with the count queued so far.
// Dead letters have no live task: they go out in batches of one client's
// deliveries. A failing delivery has a task waiting for its retry, which is
// run now. What cannot be queued for want of Redis goes to Later, one task
// per delivery, if there is one; the rest is reported in the error, and
// those deliveries stay due for the sweeper.
func (e *Enqueuer) Replay(ctx context.Context, refs []domain.WorkRef, dead bool, requestID string, progress func(queued int)) error {
	payload := func(r domain.WorkRef) DeliveryPayload {
		return DeliveryPayload{DeliveryID: r.ID, ReportID: r.ReportID, ClientID: r.ClientID, RequestID: requestID}
	}
	var jobs []func() (int, error)
	if dead {
		byID := make(map[string]domain.WorkRef, len(refs))
		for _, r := range refs {
			byID[r.ID] = r
		}
		for _, b := range batchesByClient(refs, requestID) {
			jobs = append(jobs, func() (int, error) {
				err := e.EnqueueDeliveryBatch(ctx, b)
				if err != nil {
					ps := make([]DeliveryPayload, len(b.DeliveryIDs))
					for i, id := range b.DeliveryIDs {
						ps[i] = payload(byID[id])
					}
					if e.requeueLater(err, ps...) {
						err = nil
					}
				}
				return len(b.DeliveryIDs), err
			})
		}
	} else {
		for _, r := range refs {
			jobs = append(jobs, func() (int, error) {
				p := payload(r)
				err := e.RequeueDelivery(ctx, p)
				if err != nil && e.requeueLater(err, p) {
					err = nil
				}
				return 1, err
			})
		}
	}
	var g errgroup.Group
	g.SetLimit(replayParallelism)
	var mu sync.Mutex
	var errs []error
	queued := 0
	for _, job := range jobs {
		g.Go(func() error {
			n, err := job()
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				errs = append(errs, err)
				return nil
			}
			queued += n
			if progress != nil {
				progress(queued)
			}
			return nil
		})
	}
	_ = g.Wait() // every Go returns nil; errors are collected
	return errors.Join(errs...)
}

// batchesByClient splits deliveries into batches of at most
// MaxDeliveriesPerBatch of one client's, keeping their order.
func batchesByClient(refs []domain.WorkRef, requestID string) []DeliveryBatchPayload {
	var batches []DeliveryBatchPayload
	open := map[string]int{} // client → index of its batch being filled
	for _, r := range refs {
		i, ok := open[r.ClientID]
		if !ok || len(batches[i].DeliveryIDs) == MaxDeliveriesPerBatch {
			i = len(batches)
			open[r.ClientID] = i
			batches = append(batches, DeliveryBatchPayload{ClientID: r.ClientID, RequestID: requestID})
		}
		batches[i].DeliveryIDs = append(batches[i].DeliveryIDs, r.ID)
	}
	return batches
}

// ScheduleDeliveryRetry continues a delivery that failed in a batch on its
// own task, due after delay, with the rest of the schedule's retries.
func (e *Enqueuer) ScheduleDeliveryRetry(ctx context.Context, p DeliveryPayload, delay time.Duration) error {
	if err := e.dropFinishedTask(e.shards.WebhookQueue(p.DeliveryID), p.DeliveryID); err != nil {
		return err
	}
	task, err := NewDeliverTask(p, e.shards, max(e.deliveryRetries-p.PriorAttempts, 0), e.deliveryTimeout)
	if err != nil {
		return err
	}
	_, err = e.client.EnqueueContext(ctx, task, asynq.ProcessIn(delay))
	if err != nil && !errors.Is(err, asynq.ErrTaskIDConflict) {
		return fmt.Errorf("schedule retry of delivery %s: %w", p.DeliveryID, err)
	}
	return nil
}

// RequeueReport queues a report whose row is unfinished. An archived task
// with its id means a failure that could not be recorded (Postgres was
// down on the last retry): it is removed so the report gets another run.
func (e *Enqueuer) RequeueReport(ctx context.Context, p ReportPayload) error {
	if err := e.dropFinishedTask(e.shards.ReportQueue(p.ReportID), p.ReportID); err != nil {
		return err
	}
	return e.EnqueueReport(ctx, p)
}

// RescueReport queues run of a report again under the rescue's own task
// id ([RescueTaskID]), while the run's task may still be in asynq's active
// set, held by a worker that stopped.
func (e *Enqueuer) RescueReport(ctx context.Context, p ReportPayload, run int64) error {
	id := RescueTaskID(p.ReportID, run)
	if err := e.dropFinishedTask(e.shards.ReportQueue(p.ReportID), id); err != nil {
		return err
	}
	task, err := newGenerateTask(p, id, e.shards, e.reportRetries, e.reportTimeout)
	if err != nil {
		return err
	}
	return e.enqueue(ctx, task, id)
}

// dropFinishedTask deletes an archived or completed task so its id can be
// used again; a task that is waiting or running is left alone.
func (e *Enqueuer) dropFinishedTask(queue, id string) error {
	info, err := e.inspector.GetTaskInfo(queue, id)
	switch {
	case errors.Is(err, asynq.ErrTaskNotFound) || errors.Is(err, asynq.ErrQueueNotFound):
		return nil
	case err != nil:
		return fmt.Errorf("inspect task %s: %w", id, err)
	case info.State != asynq.TaskStateArchived && info.State != asynq.TaskStateCompleted:
		return nil
	}
	if err := e.inspector.DeleteTask(queue, id); err != nil && !errors.Is(err, asynq.ErrTaskNotFound) {
		return fmt.Errorf("delete finished task %s: %w", id, err)
	}
	return nil
}

// RequeueDelivery starts a delivery over with a fresh retry budget: a dead
// letter's archived task, or a finished one, is removed first. A task that is
// still waiting or running is left as it is.
func (e *Enqueuer) RequeueDelivery(ctx context.Context, p DeliveryPayload) error {
	queue := e.shards.WebhookQueue(p.DeliveryID)
	info, err := e.inspector.GetTaskInfo(queue, p.DeliveryID)
	switch {
	case errors.Is(err, asynq.ErrTaskNotFound) || errors.Is(err, asynq.ErrQueueNotFound):
	case err != nil:
		return fmt.Errorf("inspect delivery task %s: %w", p.DeliveryID, err)
	case info.State == asynq.TaskStateArchived || info.State == asynq.TaskStateCompleted:
		if err := e.dropFinishedTask(queue, p.DeliveryID); err != nil {
			return err
		}
	case info.State == asynq.TaskStateRetry || info.State == asynq.TaskStateScheduled:
		// Run it now instead of at its backoff time.
		if err := e.inspector.RunTask(queue, p.DeliveryID); err != nil && !errors.Is(err, asynq.ErrTaskNotFound) {
			return fmt.Errorf("run delivery task %s now: %w", p.DeliveryID, err)
		}
		return nil
	}
	return e.EnqueueDelivery(ctx, p)
}

// CancelReport stops a report's task: a waiting one is deleted, a running
// one is told to cancel its context.
func (e *Enqueuer) CancelReport(ctx context.Context, reportID string) error {
	queue := e.shards.ReportQueue(reportID)
	info, err := e.inspector.GetTaskInfo(queue, reportID)
	if errors.Is(err, asynq.ErrTaskNotFound) || errors.Is(err, asynq.ErrQueueNotFound) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("inspect report task %s: %w", reportID, err)
	}
	if info.State == asynq.TaskStateActive {
		if err := e.inspector.CancelProcessing(reportID); err != nil {
			return fmt.Errorf("cancel running report task %s: %w", reportID, err)
		}
		return nil
	}
	if err := e.inspector.DeleteTask(queue, reportID); err != nil && !errors.Is(err, asynq.ErrTaskNotFound) {
		return fmt.Errorf("delete report task %s: %w", reportID, err)
	}
	return nil
}

// QueueLatency is how long the oldest pending report has waited (on any
// shard), the basis of a new report's estimated start. With several shards
// it fails only when none answers: while one master of a Redis Cluster
// fails over, intake stays open, and a report whose shard is away waits in
// Later (see [LaterReports]) until its shard answers again.
func (e *Enqueuer) QueueLatency(ctx context.Context) (time.Duration, error) {
	var latency time.Duration
	var errs []error
	queues := e.shards.All(QueueReports)
	for _, queue := range queues {
		info, err := e.inspector.GetQueueInfo(queue)
		// GetQueueInfo does not wrap ErrQueueNotFound; a queue nobody used yet is empty.
		if errors.Is(err, asynq.ErrQueueNotFound) || (err != nil && strings.Contains(err.Error(), "does not exist")) {
			continue
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("inspect report queue %s: %w", queue, err))
			continue
		}
		latency = max(latency, info.Latency)
	}
	if len(errs) == len(queues) {
		return 0, errors.Join(errs...)
	}
	return latency, nil
}

func (e *Enqueuer) enqueue(ctx context.Context, task *asynq.Task, id string) error {
	_, err := e.client.EnqueueContext(ctx, task)
	if err != nil && !errors.Is(err, asynq.ErrTaskIDConflict) {
		return fmt.Errorf("enqueue %s %s: %w", task.Type(), id, err)
	}
	return nil
}
