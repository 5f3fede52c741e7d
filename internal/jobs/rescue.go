package jobs

import (
	"cmp"
	"context"
	"log/slog"
	"time"

	"github.com/reportd/reportd/internal/domain"
)

// HeartbeatStore keeps each worker process's heartbeat.
type HeartbeatStore interface {
	Beat(ctx context.Context, worker string) error
	EndHeartbeat(ctx context.Context, worker string) error
}

// Heartbeat tells the rescuer this worker process is alive: it renews the
// process's row every Interval and removes it when Run returns.
type Heartbeat struct {
	Store    HeartbeatStore
	WorkerID string
	Interval time.Duration // default 1 s
	Logger   *slog.Logger
}

// Beat renews the heartbeat once. Call it before the task servers start,
// so no run is ever recorded on a worker the rescuer has not seen.
func (h *Heartbeat) Beat(ctx context.Context) error { return h.Store.Beat(ctx, h.WorkerID) }

// Run beats until ctx ends, then removes the heartbeat: call it to end only
// once the task servers have stopped, so that no run of this process is
// left that the rescuer should not take.
func (h *Heartbeat) Run(ctx context.Context) {
	t := time.NewTicker(cmp.Or(h.Interval, time.Second))
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			ectx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			defer cancel()
			if err := h.Store.EndHeartbeat(ectx, h.WorkerID); err != nil {
				h.Logger.WarnContext(ectx, "remove worker heartbeat; it goes stale instead", "err", err)
			}
			return
		case <-t.C:
			if err := h.Beat(ctx); err != nil && ctx.Err() == nil {
				h.Logger.WarnContext(ctx, "renew worker heartbeat", "err", err)
			}
		}
	}
}

// RescueStore finds runs whose worker stopped beating.
type RescueStore interface {
	// OrphanedRuns lists running reports whose worker's heartbeat is older
	// than timeout, or none unless worker is the rescuer's leader: the live
	// worker that started first.
	OrphanedRuns(ctx context.Context, worker string, timeout time.Duration, limit int) ([]domain.OrphanedRun, error)
	DeleteStaleHeartbeats(ctx context.Context, timeout time.Duration) (int64, error)
}

// RescueQueue queues a run again under a task id of its own.
type RescueQueue interface {
	RescueReport(ctx context.Context, p ReportPayload, run int64) error
}

// Rescuer queues again, within seconds, the reports whose worker died (or
// stopped, or was cut off) while it ran them. asynq would hand such a task
// back only after its lease (30 s) and a recoverer pass (up to a minute
// more); the rescue is a new task, and the original one, when asynq hands
// it back, finds the report finished and does nothing. If the old worker
// was alive after all, its run and the rescue overlap: the fencing rule on
// postgres.Store.SucceedReport keeps that to one result.
//
// Every worker runs one; only the leader, the live worker that started
// first, rescues. Leadership comes from the heartbeats, not the sweepers'
// advisory lock: a SIGSTOPped leader keeps its session (the kernel answers
// keepalives) and so its lock, but its heartbeat goes stale and the next
// worker leads. Two rescuers that briefly both lead queue the same task id,
// which asynq takes once.
type Rescuer struct {
	Store    RescueStore
	Queue    RescueQueue
	WorkerID string
	Logger   *slog.Logger
	Interval time.Duration // default 1 s
	// Timeout is how old a heartbeat may be before its worker's runs are
	// rescued (WORKER_HEARTBEAT_TIMEOUT).
	Timeout time.Duration
	Now     func() time.Time

	// healthySince is when the rescuer's own calls to Postgres last began
	// to succeed: after an outage every heartbeat looks old until the
	// workers beat again, so nothing is rescued until Timeout has passed.
	healthySince time.Time
}

// rescueBatch bounds one pass; the rest is rescued a second later.
const rescueBatch = 500

// Run rescues every Interval until ctx ends.
func (r *Rescuer) Run(ctx context.Context) {
	t := time.NewTicker(cmp.Or(r.Interval, time.Second))
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			r.RescueOnce(ctx)
		}
	}
}

// RescueOnce does one pass; it returns how many reports it queued again.
func (r *Rescuer) RescueOnce(ctx context.Context) int {
	now := r.Now()
	if r.healthySince.IsZero() {
		r.healthySince = now
	}
	if now.Sub(r.healthySince) < r.Timeout {
		return 0
	}
	runs, err := r.Store.OrphanedRuns(ctx, r.WorkerID, r.Timeout, rescueBatch)
	if err != nil {
		r.unhealthy()
		r.Logger.WarnContext(ctx, "list runs of stopped workers", "err", err)
		return 0
	}
	queued := 0
	for _, run := range runs {
		p := ReportPayload{ReportID: run.ID, ClientID: run.ClientID, RequestID: run.RequestID}
		if err := r.Queue.RescueReport(ctx, p, run.Run); err != nil {
			r.Logger.WarnContext(ctx, "queue a rescued report; the next pass tries again", "report_id", run.ID, "err", err)
			break
		}
		queued++
		r.Logger.InfoContext(ctx, "report's worker stopped beating; queued it again",
			"report_id", run.ID, "worker", run.Worker, "run", run.Run)
	}
	if _, err := r.Store.DeleteStaleHeartbeats(ctx, r.Timeout); err != nil {
		r.Logger.WarnContext(ctx, "delete stale worker heartbeats", "err", err)
	}
	return queued
}

func (r *Rescuer) unhealthy() { r.healthySince = time.Time{} }
