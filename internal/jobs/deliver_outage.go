package jobs

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/reportd/reportd/internal/webhook"
)

// dependencyOutage reports whether a run's error means one of our own
// dependencies was away rather than that the work cannot be done: see
// [Unavailable]. A deadline that ended a dependency call while the task
// itself still had time counts too. Reports and deliveries share it.
func dependencyOutage(ctx context.Context, err error) bool {
	return Unavailable(err) || (errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil)
}

// dependencyDown is the one rule for a delivery run, on its own task or in
// a batch, that met err from our own Store, Endpoints or queue (never from
// the receiver: an attempt's failure is its Result, and settle judges it).
// err that is no outage is returned as it is. An outage ends the run as a
// wait: asynq runs it again after OutageBackoff without counting a retry,
// so the webhook schedule does not move and no delivery goes dead for
// want of Postgres or Redis. ids are the deliveries the run holds; the
// outage is timed per delivery, from the first run that met it.
//
// Past OutageMax (DEPENDENCY_OUTAGE_MAX), as a report then fails, a
// delivery's run counts again: counted turns err into the failure the run
// returns (a single task's on the webhook schedule), so a delivery cannot
// wait for ever; it spends its retries as if the receiver had failed, but
// only Postgres can declare it dead, once it answers. (A task on its last
// retry is archived by asynq even when it waits; its row stays pending or
// failing and the sweeper queues it again.)
func (d *Deliverer) dependencyDown(ctx context.Context, ids []string, err error, counted func(error) error, log *slog.Logger) error {
	if !dependencyOutage(ctx, err) {
		return err
	}
	now := d.Now()
	var elapsed time.Duration
	for _, id := range ids {
		elapsed = max(elapsed, d.outages.seen(id, now))
	}
	if d.OutageMax > 0 && elapsed >= d.OutageMax {
		log.ErrorContext(ctx, "a dependency has been unavailable past DEPENDENCY_OUTAGE_MAX; the delivery counts a failed attempt",
			"err", err, "outage_for", elapsed.Round(time.Millisecond).String(), "outage_max", d.OutageMax.String())
		return counted(fmt.Errorf("a dependency was unavailable for %s, longer than %s: %w", elapsed.Round(time.Second), d.OutageMax, err))
	}
	delay := OutageBackoff(elapsed)
	log.WarnContext(ctx, "a dependency is unavailable; the delivery waits", "err", err,
		"outage_for", elapsed.Round(time.Millisecond).String(), "retry_in", delay.Round(time.Millisecond).String())
	return &waitError{delay: delay, err: fmt.Errorf("delivery waits for a dependency: %w", err)}
}

// clearOutage forgets the outage of deliveries whose run got past it.
func (d *Deliverer) clearOutage(ids ...string) {
	for _, id := range ids {
		d.outages.clear(id)
	}
}

// unrecordedAttempts remembers the attempts this process made but could
// not record (Postgres went away between the POST and its record), so the
// delivery's next run records what happened instead of sending it again:
// the attempts a delivery counts are the attempts its receiver saw, and a
// failure the receiver really answered still takes its place in the
// schedule. It lives in memory, like [outageLog]: if the next run happens
// on another worker, or after a restart, the webhook is sent again with the
// same webhook-id (at-least-once: receivers dedupe by it), and the lost
// attempt is simply not counted; it never moved the schedule either.
type unrecordedAttempts struct {
	mu sync.Mutex
	m  map[string]unrecordedAttempt
}

type unrecordedAttempt struct {
	attempts int // the delivery's recorded attempts when it was sent
	place    int // its place in the schedule, and whether it was the last
	final    bool
	res      webhook.Result
}

// maxUnrecorded bounds what one process remembers; past it an attempt is
// sent again instead.
const maxUnrecorded = 100_000

// keep remembers delivery id's attempt.
func (u *unrecordedAttempts) keep(id string, a unrecordedAttempt) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.m == nil {
		u.m = map[string]unrecordedAttempt{}
	}
	if _, ok := u.m[id]; !ok && len(u.m) >= maxUnrecorded {
		return
	}
	u.m[id] = a
}

// recall hands back (and forgets) delivery id's unrecorded attempt, if its
// row still counts the attempts it counted when that attempt was sent: a
// record that did commit although its caller saw an error, or another
// worker's attempt since, means it is no longer due.
func (u *unrecordedAttempts) recall(id string, attempts int) (unrecordedAttempt, bool) {
	u.mu.Lock()
	defer u.mu.Unlock()
	a, ok := u.m[id]
	delete(u.m, id)
	return a, ok && a.attempts == attempts
}

// forget drops delivery id's unrecorded attempt: its delivery is settled.
func (u *unrecordedAttempts) forget(id string) {
	u.mu.Lock()
	defer u.mu.Unlock()
	delete(u.m, id)
}
