package schedule

import (
	"context"
	"log/slog"
	"time"
)

// Fired is one fire as the store carried it out.
type Fired struct {
	Fire

	Schedule  Schedule // as it was before the fire
	ReportID  string   // the report created; "" when the fire was skipped
	Duplicate bool     // the fire's report already existed
}

// Store fires due schedules durably.
type Store interface {
	// FireSchedule fires one schedule due at now, if any, with plan
	// deciding the fire; ok is false when none is due.
	FireSchedule(ctx context.Context, now time.Time, plan func(Schedule) Fire) (f Fired, ok bool, err error)
	// NextScheduleRun is the earliest next fire of any active schedule.
	NextScheduleRun(ctx context.Context) (next time.Time, ok bool, err error)
}

// Runner fires due schedules until its context ends. Every worker runs
// one; the store's row locks keep them from firing a schedule twice.
type Runner struct {
	Store  Store
	Logger *slog.Logger
	Now    func() time.Time
	// MaxRange bounds a fire's period as REPORT_MAX_RANGE does for requests.
	MaxRange time.Duration
	// Wake, if set, says schedules changed (a NOTIFY), so the runner looks
	// again at once instead of sleeping on.
	Wake <-chan struct{}
	// MaxSleep caps a sleep: the safety net for a lost wake-up. 0 means 30s.
	MaxSleep time.Duration
	// Fired, if set, is told of every fire (tests, metrics).
	Fired func(Fired)
}

// Run fires schedules until ctx ends.
func (r *Runner) Run(ctx context.Context) {
	maxSleep := r.MaxSleep
	if maxSleep <= 0 {
		maxSleep = 30 * time.Second
	}
	for ctx.Err() == nil {
		n, err := r.FireDue(ctx)
		if err != nil && ctx.Err() == nil {
			r.Logger.WarnContext(ctx, "fire due schedules", "err", err, "fired", n)
		}
		sleep := maxSleep
		if next, ok, err := r.Store.NextScheduleRun(ctx); err == nil && ok {
			sleep = min(max(next.Sub(r.Now()), 0), maxSleep)
		} else if err != nil && ctx.Err() == nil {
			r.Logger.WarnContext(ctx, "find next schedule run", "err", err)
			sleep = time.Second
		}
		if sleep == 0 {
			continue
		}
		t := time.NewTimer(sleep)
		select {
		case <-ctx.Done():
		case <-r.Wake: // a nil Wake never fires
		case <-t.C:
		}
		t.Stop()
	}
}

// FireDue fires every schedule due now and reports how many it fired.
func (r *Runner) FireDue(ctx context.Context) (int, error) {
	n := 0
	for ctx.Err() == nil {
		now := r.Now()
		f, ok, err := r.Store.FireSchedule(ctx, now, func(s Schedule) Fire { return Plan(s, now, r.MaxRange) })
		if err != nil || !ok {
			return n, err
		}
		n++
		log := r.Logger.With("schedule_id", f.Schedule.ID, "client_id", f.Schedule.ClientID, "scheduled_for", f.ScheduledFor)
		switch {
		case f.Problem != "":
			log.WarnContext(ctx, "schedule fire skipped: its report is not valid", "problem", f.Problem)
		case f.Duplicate:
			log.InfoContext(ctx, "schedule fire already made its report")
		default:
			log.InfoContext(ctx, "schedule fired", "report_id", f.ReportID, "next_run_at", f.NextRunAt)
		}
		if r.Fired != nil {
			r.Fired(f)
		}
	}
	return n, ctx.Err()
}
