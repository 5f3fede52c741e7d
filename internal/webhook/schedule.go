package webhook

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"time"
)

// Jitter bounds of [Schedule.Delay]: up to JitterFraction of the scheduled
// delay is added, but never more than MaxJitter. One minute spreads a burst of
// retries enough to spare a recovering receiver while keeping the documented
// schedule honest (the 24 h attempt still comes within a minute of 24 h).
const (
	JitterFraction = 0.1
	MaxJitter      = time.Minute
)

// MaxScheduleDelay is the longest single delay [ParseSchedule] accepts. It
// keeps arithmetic on delays (jitter, Retry-After caps) far from overflow.
const MaxScheduleDelay = 7 * 24 * time.Hour

// Schedule lists the delays between consecutive delivery attempts. The first
// attempt is always immediate and is not in the list, so a schedule of n
// delays allows n+1 attempts. A Schedule is never empty and every delay is
// positive.
type Schedule []time.Duration

// DefaultSchedule returns the documented schedule: attempts at 0, 5 s, 5 min,
// 30 min, 2 h, 5 h, 10 h, 14 h, 20 h and 24 h after the previous one
// (10 attempts, about 3 days).
func DefaultSchedule() Schedule {
	return Schedule{
		5 * time.Second,
		5 * time.Minute,
		30 * time.Minute,
		2 * time.Hour,
		5 * time.Hour,
		10 * time.Hour,
		14 * time.Hour,
		20 * time.Hour,
		24 * time.Hour,
	}
}

// ParseSchedule parses a comma-separated list of Go durations such as
// "5s,5m,30m". A leading "0" stands for the immediate first attempt and is
// dropped; every other delay must be positive and at most [MaxScheduleDelay].
// Errors name the position and text of the bad element.
func ParseSchedule(s string) (Schedule, error) {
	if strings.TrimSpace(s) == "" {
		return nil, errors.New("parse retry schedule: empty")
	}
	parts := strings.Split(s, ",")
	sched := make(Schedule, 0, len(parts))
	for i, p := range parts {
		p = strings.TrimSpace(p)
		d, err := time.ParseDuration(p)
		switch {
		case p == "":
			return nil, fmt.Errorf("parse retry schedule: element %d is empty", i+1)
		case err != nil:
			return nil, fmt.Errorf("parse retry schedule: element %d %.32q: not a duration like 30s or 5m", i+1, p)
		case d == 0 && i == 0:
			continue // the immediate first attempt
		case d <= 0:
			return nil, fmt.Errorf("parse retry schedule: element %d %q: must be positive", i+1, p)
		case d > MaxScheduleDelay:
			return nil, fmt.Errorf("parse retry schedule: element %d %q: longer than %s", i+1, p, MaxScheduleDelay)
		}
		sched = append(sched, d)
	}
	if len(sched) == 0 {
		return nil, errors.New("parse retry schedule: no retry after the first attempt")
	}
	return sched, nil
}

// String formats the schedule so that [ParseSchedule] reads it back, such as
// "5s,5m,2h".
func (s Schedule) String() string {
	parts := make([]string, len(s))
	for i, d := range s {
		text := d.String() // "2h0m0s"
		if strings.HasSuffix(text, "m0s") {
			text = strings.TrimSuffix(text, "0s")
		}
		if strings.HasSuffix(text, "h0m") {
			text = strings.TrimSuffix(text, "0m")
		}
		parts[i] = text
	}
	return strings.Join(parts, ",")
}

// MaxRetry is the number of retries after the first attempt, for asynq's
// MaxRetry option. Wired into asynq:
//
//	asynq.MaxRetry(s.MaxRetry())                        // per task
//	asynq.Config{RetryDelayFunc: func(n int, err error, t *asynq.Task) time.Duration {
//		return s.DelayWithRetryAfter(n, retryAfterOf(err)) // or s.Delay(n)
//	}}
func (s Schedule) MaxRetry() int { return len(s) }

// Delay is the wait before the next attempt, for asynq's RetryDelayFunc:
// retried is how many times the task has already been retried (asynq's n, 0
// after the first attempt failed). Past the end of the schedule the last delay
// repeats. The jitter is additive only, so a retry never comes before its
// scheduled time: the result lies in [d, d + min(d×JitterFraction, MaxJitter)].
func (s Schedule) Delay(retried int) time.Duration {
	d := s.at(retried)
	j := min(time.Duration(float64(d)*JitterFraction), MaxJitter)
	if j <= 0 {
		return d
	}
	return d + rand.N(j+1) //nolint:gosec // jitter spreads load; it needs no unpredictability
}

// RetryAfterCap is the furthest a receiver's Retry-After may push the next
// attempt: twice its scheduled delay.
func (s Schedule) RetryAfterCap(retried int) time.Duration { return 2 * s.at(retried) }

// DelayWithRetryAfter combines the schedule with a receiver's Retry-After
// (0 when it sent none): the wait is the jittered [Schedule.Delay], pushed
// later to honour Retry-After up to [Schedule.RetryAfterCap]. It is never
// earlier than the schedule.
func (s Schedule) DelayWithRetryAfter(retried int, retryAfter time.Duration) time.Duration {
	return max(s.Delay(retried), min(retryAfter, s.RetryAfterCap(retried)))
}

// at is the scheduled delay before retry number retried+1, clamped to the
// schedule's ends; 0 for an empty schedule.
func (s Schedule) at(retried int) time.Duration {
	if len(s) == 0 {
		return 0
	}
	return s[min(max(retried, 0), len(s)-1)]
}
