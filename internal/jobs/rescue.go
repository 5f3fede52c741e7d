package jobs

import (
	"cmp"
	"context"
	"log/slog"
	"time"

	"github.com/hibiken/asynq"

	"github.com/reportd/reportd/internal/domain"
)

// HeartbeatStore keeps each worker process's heartbeat.
type HeartbeatStore interface {
	Beat(ctx context.Context, worker, host string, pid int) error
	EndHeartbeat(ctx context.Context, worker string) error
}

// Heartbeat tells the rescuer this worker process is alive: it renews the
// process's row every Interval and removes it when Run returns.
type Heartbeat struct {
	Store    HeartbeatStore
	WorkerID string
	Process  domain.ProcessAddr // as asynq names this process
	Interval time.Duration      // default 1 s
	Logger   *slog.Logger
}

// Beat renews the heartbeat once. Call it before the task servers start,
// so no run is ever recorded on a worker the rescuer has not seen.
func (h *Heartbeat) Beat(ctx context.Context) error {
	return h.Store.Beat(ctx, h.WorkerID, h.Process.Host, h.Process.PID)
}

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
	// StaleProcesses reports whether worker leads and, if so, the
	// processes whose heartbeat is older than timeout.
	StaleProcesses(ctx context.Context, worker string, timeout time.Duration) (bool, []domain.ProcessAddr, error)
	// UnstartedReports returns those of ids still queued.
	UnstartedReports(ctx context.Context, ids []string) ([]string, error)
	DeleteStaleHeartbeats(ctx context.Context, age time.Duration) (int64, error)
}

// TaskRescuer finds asynq's active tasks and queues copies of orphaned ones.
type TaskRescuer interface {
	ActiveTasks(ctx context.Context) ([]ActiveTask, error)
	RescueTask(ctx context.Context, t ActiveTask) error
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
	// Tasks, if set, also rescues the active tasks that no live process
	// runs: webhook deliveries, and reports a worker took but died before
	// it started them (their row says nothing of a worker).
	Tasks TaskRescuer

	absentSince map[string]time.Time // active tasks no live asynq server lists, since when
	rescued     map[string]bool      // orphaned tasks already copied

	// healthySince is when the rescuer's own calls to Postgres last began
	// to succeed: after an outage every heartbeat looks old until the
	// workers beat again, so nothing is rescued until Timeout has passed.
	healthySince time.Time
}

// rescueBatch bounds one pass; the rest is rescued a second later.
const rescueBatch = 500

// absenceGrace is how long an active task may go unlisted by every live
// asynq server before it counts as orphaned: asynq writes a server's list
// every 5 s, and drops the list of a dead one 10 s after its last write.
const absenceGrace = 7 * time.Second

// heartbeatRetention is how long a stale heartbeat is kept: its host and
// pid name the dead process's tasks while asynq still lists them (10 s).
const heartbeatRetention = time.Minute

// Run rescues every Interval until ctx ends.
func (r *Rescuer) Run(ctx context.Context) {
	t := time.NewTicker(cmp.Or(r.Interval, time.Second))
	defer t.Stop()
	r.RescueOnce(ctx) // starts the health gate now rather than a tick later
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
		if r.Tasks != nil {
			// Watch asynq meanwhile, so absenceGrace runs from now.
			r.rescueTasks(ctx, nil, false)
		}
		return 0
	}
	lead, stale, err := r.Store.StaleProcesses(ctx, r.WorkerID, r.Timeout)
	if err != nil {
		r.unhealthy()
		r.Logger.WarnContext(ctx, "list stopped workers", "err", err)
		return 0
	}
	if !lead {
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
	if r.Tasks != nil {
		queued += r.rescueTasks(ctx, stale, true)
	}
	if _, err := r.Store.DeleteStaleHeartbeats(ctx, max(heartbeatRetention, 2*r.Timeout)); err != nil {
		r.Logger.WarnContext(ctx, "delete stale worker heartbeats", "err", err)
	}
	return queued
}

// rescueTasks copies the active tasks whose process has a stale heartbeat,
// or that no live asynq server has listed for absenceGrace. A report task
// is copied only if its report has not started: a started one is the run
// rescue's (above), which knows its run. Unless act, it only notes which
// tasks no live server lists.
func (r *Rescuer) rescueTasks(ctx context.Context, stale []domain.ProcessAddr, act bool) int {
	tasks, err := r.Tasks.ActiveTasks(ctx)
	if err != nil {
		r.Logger.WarnContext(ctx, "list active tasks", "err", err)
		return 0
	}
	if r.absentSince == nil {
		r.absentSince, r.rescued = map[string]time.Time{}, map[string]bool{}
	}
	now := r.Now()
	dead := map[domain.ProcessAddr]bool{}
	for _, a := range stale {
		dead[a] = true
	}
	active := map[string]bool{}
	var orphans []ActiveTask
	var reportIDs []string
	for _, t := range tasks {
		active[t.ID] = true
		orphaned := false
		switch {
		case t.Server != nil:
			delete(r.absentSince, t.ID)
			orphaned = dead[*t.Server]
		case r.absentSince[t.ID].IsZero():
			r.absentSince[t.ID] = now
		default:
			orphaned = now.Sub(r.absentSince[t.ID]) >= absenceGrace
		}
		if !orphaned || r.rescued[t.ID] || (t.Type != TypeGenerateReport && t.Type != TypeDeliverWebhook) {
			continue
		}
		orphans = append(orphans, t)
		if t.Type == TypeGenerateReport {
			p, err := decode[ReportPayload](asynq.NewTask(t.Type, t.Payload))
			if err != nil {
				continue
			}
			reportIDs = append(reportIDs, p.ReportID)
		}
	}
	// Forget tasks that are no longer active.
	for id := range r.absentSince {
		if !active[id] {
			delete(r.absentSince, id)
		}
	}
	for id := range r.rescued {
		if !active[id] {
			delete(r.rescued, id)
		}
	}
	if !act {
		return 0
	}
	unstarted := map[string]bool{}
	if len(reportIDs) > 0 {
		ids, err := r.Store.UnstartedReports(ctx, reportIDs)
		if err != nil {
			r.Logger.WarnContext(ctx, "check orphaned report tasks", "err", err)
			return 0
		}
		for _, id := range ids {
			unstarted[id] = true
		}
	}
	queued := 0
	for _, t := range orphans {
		if t.Type == TypeGenerateReport {
			p, _ := decode[ReportPayload](asynq.NewTask(t.Type, t.Payload))
			if !unstarted[p.ReportID] {
				continue
			}
		}
		if err := r.Tasks.RescueTask(ctx, t); err != nil {
			r.Logger.WarnContext(ctx, "queue a copy of an orphaned task; the next pass tries again", "task_id", t.ID, "err", err)
			break
		}
		r.rescued[t.ID] = true
		queued++
		r.Logger.InfoContext(ctx, "task's worker is gone; queued a copy", "task_id", t.ID, "type", t.Type)
	}
	return queued
}

func (r *Rescuer) unhealthy() { r.healthySince = time.Time{} }
