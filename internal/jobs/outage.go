package jobs

import (
	"context"
	"errors"
	"io"
	"net"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/reportd/reportd/internal/domain"
)

// Unavailable reports whether err means a dependency (Postgres, Redis, S3)
// could not be reached or could not serve the request right now, as opposed
// to a request that failed on its merits. Such work waits and tries again;
// it never spends a report's retry budget. jobs imports neither pgx nor the
// AWS SDK, so their errors are recognised by the methods they carry: pgconn
// errors by SafeToRetry and SQLState, smithy's ResponseError by
// HTTPStatusCode, the AWS retryer's verdict by RetryableError. A deadline
// that ends a dependency call while the task itself still has time is the
// caller's to add (see [Generator]); here a bare context error is not an outage.
func Unavailable(err error) bool {
	if err == nil || errors.Is(err, redis.ErrClosed) {
		// A closed client is this process shutting down, not an outage.
		return false
	}
	if errors.Is(err, domain.ErrUnavailable) || errors.Is(err, redis.ErrPoolTimeout) {
		return true
	}
	if _, ok := errors.AsType[*net.OpError](err); ok {
		return true // dial, read or write on the socket failed
	}
	// context.DeadlineExceeded is a net.Error too; whose deadline it was is
	// the caller's question.
	if netErr, ok := errors.AsType[net.Error](err); ok && netErr.Timeout() && !errors.Is(err, context.DeadlineExceeded) {
		return true
	}
	for _, errno := range []syscall.Errno{syscall.ECONNREFUSED, syscall.ECONNRESET, syscall.EPIPE, syscall.ECONNABORTED, syscall.EHOSTUNREACH, syscall.ENETUNREACH} {
		if errors.Is(err, errno) {
			return true
		}
	}
	if errors.Is(err, io.ErrUnexpectedEOF) {
		return true
	}
	// Postgres: the server is starting, shutting down or out of connections,
	// or pgx says the statement never reached it.
	if pg, ok := errors.AsType[sqlStater](err); ok {
		code := pg.SQLState()
		return strings.HasPrefix(code, "08") || strings.HasPrefix(code, "57P") || code == "53300"
	}
	if r, ok := errors.AsType[safeToRetrier](err); ok && r.SafeToRetry() {
		return true
	}
	// S3: throttling and server errors are the store's, not the report's.
	if h, ok := errors.AsType[httpStatuser](err); ok {
		code := h.HTTPStatusCode()
		return code >= 500 || code == 429
	}
	// Redis: a replica that is loading, read-only after a failover, or a
	// cluster without a master for the slot.
	for _, prefix := range []string{"LOADING", "READONLY", "MASTERDOWN", "CLUSTERDOWN", "TRYAGAIN", "max number of clients reached"} {
		if redis.HasErrorPrefix(err, prefix) {
			return true
		}
	}
	return false
}

// The methods by which errors of pgconn (SQLState, SafeToRetry) and of
// smithy's HTTP transport (HTTPStatusCode) are recognised.
type (
	sqlStater interface {
		error
		SQLState() string
	}
	safeToRetrier interface {
		error
		SafeToRetry() bool
	}
	httpStatuser interface {
		error
		HTTPStatusCode() int
	}
)

// outageGap is how long after a report last met an outage a new one counts
// as a fresh outage. It is well above the longest wait between tries, so
// a queue backlog does not restart the clock; a restart errs towards
// waiting longer, never shorter.
const outageGap = 5 * time.Minute

// maxTrackedOutages bounds the outages one process remembers; past it a
// report's outage is timed from now, which again only makes it wait longer.
const maxTrackedOutages = 100_000

// outageLog remembers, per report, since when its runs have ended for want
// of a dependency. It lives in memory: Postgres may be the dependency that
// is down. With several workers each times what it has seen, so a report
// may wait longer than DEPENDENCY_OUTAGE_MAX, never less.
type outageLog struct {
	mu    sync.Mutex
	spans map[string]outageSpan
}

type outageSpan struct{ first, last time.Time }

// seen records that report id met an outage at now and returns how long
// its current outage has lasted.
func (o *outageLog) seen(id string, now time.Time) time.Duration {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.spans == nil {
		o.spans = map[string]outageSpan{}
	}
	s, ok := o.spans[id]
	if !ok || now.Sub(s.last) > outageGap {
		s.first = now
	}
	s.last = now
	if !ok && len(o.spans) >= maxTrackedOutages {
		for k, v := range o.spans {
			if now.Sub(v.last) > outageGap {
				delete(o.spans, k)
			}
		}
		if len(o.spans) >= maxTrackedOutages {
			return 0
		}
	}
	o.spans[id] = s
	return now.Sub(s.first)
}

// clear forgets a report's outage once a run got past it.
func (o *outageLog) clear(id string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	delete(o.spans, id)
}
