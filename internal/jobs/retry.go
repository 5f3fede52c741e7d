package jobs

import (
	"errors"
	"math/rand/v2"
	"time"

	"github.com/hibiken/asynq"
)

// RetryDelay is the worker's asynq RetryDelayFunc. A delivery carries the
// delay its handler recorded; a report waiting for the read model polls
// quickly; other report failures back off exponentially with jitter.
func RetryDelay(n int, err error, t *asynq.Task) time.Duration {
	if ra, ok := errors.AsType[*retryAfterError](err); ok {
		return ra.delay
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

// IsFailure is the worker's asynq IsFailure: waiting for the read model to
// catch up is not a failure and must not use up a report's retries.
func IsFailure(err error) bool {
	return !errors.Is(err, errNotYet)
}
