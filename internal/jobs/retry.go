package jobs

import (
	"errors"
	"math/rand/v2"
	"time"

	"github.com/hibiken/asynq"
)

// RetryDelay is the worker's asynq RetryDelayFunc. A delivery carries the
// delay its handler recorded, and so does a report or a delivery waiting
// out a dependency outage; a report waiting for the read model polls quickly;
// other report failures back off exponentially with jitter.
func RetryDelay(n int, err error, t *asynq.Task) time.Duration {
	if ra, ok := errors.AsType[*retryAfterError](err); ok {
		return ra.delay
	}
	if w, ok := errors.AsType[*waitError](err); ok {
		return w.delay
	}
	if errors.Is(err, errNotYet) {
		return 500*time.Millisecond + rand.N(500*time.Millisecond) //nolint:gosec // jitter needs no cryptographic randomness
	}
	return ReportBackoff(n)
}

// ReportBackoff is 2^n seconds, capped at 5 minutes, plus up to 25% jitter.
func ReportBackoff(n int) time.Duration {
	d := time.Second << min(n, 9)
	d = min(d, 5*time.Minute)
	return d + rand.N(d/4+1) //nolint:gosec // jitter needs no cryptographic randomness
}

// Bounds of the wait between tries of a report or a delivery whose
// dependency is down.
const (
	OutageRetryMin = time.Second
	OutageRetryMax = 30 * time.Second
)

// OutageBackoff is the wait before the next try of a report or a delivery
// whose dependency has been down for elapsed: half of that, so the waits double
// as the outage goes on, between OutageRetryMin and OutageRetryMax, less up
// to 25% jitter so waiting reports do not return in step.
func OutageBackoff(elapsed time.Duration) time.Duration {
	d := min(max(elapsed/2, OutageRetryMin), OutageRetryMax)
	return d - rand.N(d/4+1) //nolint:gosec // jitter needs no cryptographic randomness
}

// waitError is a run that ended waiting for a dependency: asynq tries
// again after delay, and IsFailure keeps it from counting as a failure.
type waitError struct {
	delay time.Duration
	err   error
}

func (e *waitError) Error() string { return e.err.Error() }
func (e *waitError) Unwrap() error { return e.err }

// IsFailure is the worker's asynq IsFailure: waiting for the read model to
// catch up, or for a dependency to come back, is not a failure and must not
// use up a report's retries. asynq then neither counts the retry nor
// archives the task.
func IsFailure(err error) bool {
	if _, ok := errors.AsType[*waitError](err); ok {
		return false
	}
	return !errors.Is(err, errNotYet)
}

// notEarly stretches a retry delay decided at now so that asynq cannot run
// the retry before now+d: asynq scores a retry by the Unix second it is due in, and moves it
// to pending once that second has begun, so a retry due at 12.6 s could run
// at 12.0 s. Rounding the due time up to a whole second makes the webhook
// schedule's promise ("a retry never comes early", and Retry-After honoured)
// hold, at the cost of at most a second.
func notEarly(now time.Time, d time.Duration) time.Duration {
	due := now.Add(d)
	whole := due.Truncate(time.Second)
	if whole.Before(due) {
		whole = whole.Add(time.Second)
	}
	return whole.Sub(now)
}
