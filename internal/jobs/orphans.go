package jobs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/hibiken/asynq"

	"github.com/reportd/reportd/internal/domain"
)

// ActiveTask is a report or webhook task asynq holds as active.
type ActiveTask struct {
	Queue, ID, Type string
	Payload         []byte
	Retried         int
	// Server is the process that a live asynq server says runs it; nil when
	// none does (its server's record expired: it died 10 s or more ago, or
	// it took the task since its last heartbeat, up to 5 s ago).
	Server *domain.ProcessAddr
}

// activePage bounds how many active tasks of one queue are listed: no more
// than the workers' concurrency can be active at once.
const activePage = 1000

// ActiveTasks lists the active report and webhook tasks, each with the
// process that runs it, if a live asynq server says so.
func (e *Enqueuer) ActiveTasks(ctx context.Context) ([]ActiveTask, error) {
	servers, err := e.inspector.Servers()
	if err != nil {
		return nil, fmt.Errorf("list asynq servers: %w", err)
	}
	runBy := map[string]*domain.ProcessAddr{}
	for _, s := range servers {
		addr := &domain.ProcessAddr{Host: s.Host, PID: s.PID}
		for _, w := range s.ActiveWorkers {
			runBy[w.TaskID] = addr
		}
	}
	var out []ActiveTask
	for _, q := range append(e.shards.All(QueueReports), e.shards.All(QueueWebhooks)...) {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		tasks, err := e.inspector.ListActiveTasks(q, asynq.PageSize(activePage))
		if errors.Is(err, asynq.ErrQueueNotFound) {
			continue // nothing was ever queued on it
		}
		if err != nil {
			return nil, fmt.Errorf("list active tasks of %s: %w", q, err)
		}
		for _, t := range tasks {
			out = append(out, ActiveTask{Queue: q, ID: t.ID, Type: t.Type, Payload: t.Payload, Retried: t.Retried, Server: runBy[t.ID]})
		}
	}
	return out, nil
}

// RescueTask queues a copy of an orphaned task (its process is gone) under
// the id t.ID+":rescue", so that asking twice queues it once. A webhook's
// copy goes on with the schedule and the retry budget where the orphan
// left them.
func (e *Enqueuer) RescueTask(ctx context.Context, t ActiveTask) error {
	id := t.ID + ":rescue"
	var task *asynq.Task
	switch t.Type {
	case TypeGenerateReport:
		p, err := decode[ReportPayload](asynq.NewTask(t.Type, t.Payload))
		if err != nil {
			return err
		}
		if task, err = newGenerateTask(p, id, e.shards, e.reportRetries, e.reportTimeout); err != nil {
			return err
		}
	case TypeDeliverWebhook:
		p, err := decode[DeliveryPayload](asynq.NewTask(t.Type, t.Payload))
		if err != nil {
			return err
		}
		p.PriorAttempts += t.Retried
		b, err := json.Marshal(p)
		if err != nil {
			return fmt.Errorf("encode delivery payload: %w", err)
		}
		task = asynq.NewTask(TypeDeliverWebhook, b, asynq.TaskID(id), asynq.Queue(e.shards.WebhookQueue(p.DeliveryID)),
			asynq.MaxRetry(max(e.deliveryRetries-p.PriorAttempts, 0)), asynq.Timeout(e.deliveryTimeout))
	default:
		return fmt.Errorf("rescue task %s: type %s is not rescued", t.ID, t.Type)
	}
	if err := e.dropFinishedTask(t.Queue, id); err != nil {
		return err
	}
	return e.enqueue(ctx, task, id)
}
