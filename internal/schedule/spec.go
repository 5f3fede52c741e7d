package schedule

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/robfig/cron/v3"
)

// Spec is a parsed cron expression: five fields or a descriptor such as
// @daily (wall-clock times in the schedule's zone), or "@every <duration>"
// (a fixed interval in absolute time).
type Spec struct {
	cron  cron.Schedule // nil for @every
	every time.Duration
}

// maxSteps bounds the walk over missed fires in Latest; a minute-by-minute
// spec reaches it after about 69 days of downtime.
const maxSteps = 100_000

// ParseSpec parses expr. An @every interval must be a whole number of
// seconds and at least minEvery. The time zone is a field of its own, so
// the library's TZ= prefix is refused.
func ParseSpec(expr string, minEvery time.Duration) (Spec, error) {
	expr = strings.TrimSpace(expr)
	if strings.HasPrefix(expr, "TZ=") || strings.HasPrefix(expr, "CRON_TZ=") {
		return Spec{}, errors.New("must not name a time zone; use the timezone field")
	}
	if rest, ok := strings.CutPrefix(expr, "@every "); ok {
		d, err := time.ParseDuration(strings.TrimSpace(rest))
		switch {
		case err != nil:
			return Spec{}, fmt.Errorf("@every needs a duration such as 30m: %w", err)
		case d%time.Second != 0:
			return Spec{}, errors.New("@every must be a whole number of seconds")
		case d < minEvery:
			return Spec{}, fmt.Errorf("@every must be at least %s", minEvery)
		}
		return Spec{every: d}, nil
	}
	s, err := cron.ParseStandard(expr)
	if err != nil {
		return Spec{}, fmt.Errorf("is not a cron spec (five fields or a descriptor such as @daily): %w", err)
	}
	spec, ok := s.(*cron.SpecSchedule)
	if !ok {
		return Spec{}, errors.New("is not a cron spec")
	}
	// Fire times are computed on wall-clock time written as UTC (see next),
	// so the library never meets a DST change.
	spec.Location = time.UTC
	return Spec{cron: spec}, nil
}

// Every reports the interval of an @every spec (0 for a cron spec).
func (s Spec) Every() time.Duration { return s.every }

// Next is the first fire strictly after t, in loc.
//
// Cron specs name wall-clock times, and each one fires once: a time that
// the spring-forward gap skips (02:30 on a day clocks jump from 02:00 to
// 03:00) fires when the gap ends, shifted by its length (03:30); a time
// that the fall-back hour repeats fires on its first pass only. robfig/cron
// on its own would skip the first and fire the second twice.
//
// @every specs step in absolute time from their anchor, so ticks never
// drift: the first anchor+k·every after t.
func (s Spec) Next(t time.Time, loc *time.Location, anchor time.Time) time.Time {
	if s.cron == nil {
		if t.Before(anchor) {
			return anchor
		}
		elapsed := t.Sub(anchor)
		return anchor.Add(elapsed - elapsed%s.every + s.every)
	}
	w := wall(t, loc)
	for range maxSteps {
		w = s.cron.Next(w)
		if w.IsZero() {
			return time.Time{}
		}
		if at := fromWall(w, loc); at.After(t) {
			return at
		}
		// at is not after t: the wall time was already passed in the
		// repeated hour of a fall-back; look further.
	}
	return time.Time{}
}

// Latest is the last fire at or before now, walking from due, a fire time
// at or before now (the schedule's stored next run). Many missed fires give
// one: the newest. When the walk is too long it settles for due.
func (s Spec) Latest(due, now time.Time, loc *time.Location) time.Time {
	if s.cron == nil {
		if now.Before(due) {
			return due
		}
		elapsed := now.Sub(due)
		return due.Add(elapsed - elapsed%s.every)
	}
	f := due
	for range maxSteps {
		n := s.Next(f, loc, due)
		if n.IsZero() || n.After(now) {
			return f
		}
		f = n
	}
	return due
}

// wall is t's local wall-clock time in loc, written as a UTC time.
func wall(t time.Time, loc *time.Location) time.Time {
	l := t.In(loc)
	return time.Date(l.Year(), l.Month(), l.Day(), l.Hour(), l.Minute(), l.Second(), l.Nanosecond(), time.UTC)
}

// fromWall is the instant when loc's clocks show w: the earlier one when
// they show it twice (fall-back), and w shifted by the gap when they skip
// it (spring-forward; time.Date's normalisation).
func fromWall(w time.Time, loc *time.Location) time.Time {
	at := time.Date(w.Year(), w.Month(), w.Day(), w.Hour(), w.Minute(), w.Second(), w.Nanosecond(), loc)
	best := at
	// Offsets change at most a few times a year, so the offsets six hours
	// either side are the two that can apply to a repeated wall time.
	for _, probe := range []time.Time{at.Add(-6 * time.Hour), at.Add(6 * time.Hour)} {
		_, off := probe.Zone()
		cand := w.Add(-time.Duration(off) * time.Second).In(loc)
		if wall(cand, loc).Equal(w) && cand.Before(best) {
			best = cand
		}
	}
	return best
}
