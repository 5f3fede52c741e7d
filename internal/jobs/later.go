package jobs

import (
	"cmp"
	"context"
	"log/slog"
	"sync"
	"time"
)

// RetryLater holds enqueues that failed because Redis did not answer and
// runs them again from the process that saw the failure, as soon as Redis
// answers: first after MinDelay, then doubling up to MaxDelay while it stays
// away. It is bounded: past Max pending ids an enqueue is refused and its
// row waits for the sweeper, as it would without this. Every task has a
// TaskID, so running an enqueue twice is harmless. The zero value is not
// usable; use NewRetryLater.
type RetryLater struct {
	logger   *slog.Logger
	max      int
	minDelay time.Duration
	maxDelay time.Duration
	timeout  time.Duration // one try

	mu      sync.Mutex
	pending map[string]func(context.Context) error
	down    bool // the last try failed for want of Redis
	wake    chan struct{}
}

// RetryLaterConfig sizes a RetryLater; zero fields take the defaults.
type RetryLaterConfig struct {
	Max      int           // pending ids held (default 10,000)
	MinDelay time.Duration // first wait (default 100 ms)
	MaxDelay time.Duration // longest wait (default 2 s)
	Timeout  time.Duration // one try (default 5 s)
}

// NewRetryLater returns an empty set; Run drains it.
func NewRetryLater(logger *slog.Logger, cfg RetryLaterConfig) *RetryLater {
	return &RetryLater{
		logger: logger, max: cmp.Or(cfg.Max, 10_000),
		minDelay: cmp.Or(cfg.MinDelay, 100*time.Millisecond), maxDelay: cmp.Or(cfg.MaxDelay, 2*time.Second),
		timeout: cmp.Or(cfg.Timeout, 5*time.Second),
		pending: map[string]func(context.Context) error{}, wake: make(chan struct{}, 1),
	}
}

// Add keeps enqueue under key (say "delivery:msg_…") to run again later. It
// reports false when the set is full; a key already held is kept once.
func (l *RetryLater) Add(key string, enqueue func(context.Context) error) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if _, ok := l.pending[key]; !ok && len(l.pending) >= l.max {
		return false
	}
	l.pending[key] = enqueue
	l.down = true
	select {
	case l.wake <- struct{}{}:
	default:
	}
	return true
}

// Len is how many enqueues wait.
func (l *RetryLater) Len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.pending)
}

// Down reports whether enqueues are waiting because Redis did not answer
// the last try, so a caller may queue new work here without trying first.
func (l *RetryLater) Down() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.down && len(l.pending) > 0
}

// Run retries what is pending until ctx ends.
func (l *RetryLater) Run(ctx context.Context) {
	delay := l.minDelay
	timer := time.NewTimer(delay)
	defer timer.Stop()
	for {
		if l.Len() == 0 {
			select {
			case <-ctx.Done():
				return
			case <-l.wake:
			}
			delay = l.minDelay
		}
		timer.Reset(delay)
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
		}
		if l.RetryOnce(ctx) {
			delay = l.minDelay
		} else {
			delay = min(2*delay, l.maxDelay)
		}
	}
}

// RetryOnce runs the pending enqueues and drops those that succeed. It
// stops at the first that fails for want of Redis (the rest would too) and
// reports false then. One that fails for another reason is dropped and
// left to the sweeper, so it cannot block the rest for ever.
func (l *RetryLater) RetryOnce(ctx context.Context) bool {
	l.mu.Lock()
	keys := make([]string, 0, len(l.pending))
	for k := range l.pending {
		keys = append(keys, k)
	}
	l.mu.Unlock()
	done := 0
	for _, key := range keys {
		l.mu.Lock()
		enqueue, ok := l.pending[key]
		l.mu.Unlock()
		if !ok {
			continue
		}
		tctx, cancel := context.WithTimeout(ctx, l.timeout)
		err := enqueue(tctx)
		cancel()
		if err != nil && Unavailable(err) && ctx.Err() == nil {
			l.mu.Lock()
			l.down = true
			l.mu.Unlock()
			if done > 0 {
				l.logger.InfoContext(ctx, "queued work held while Redis was away; the rest waits", "queued", done, "waiting", l.Len())
			}
			return false
		}
		if ctx.Err() != nil {
			return false
		}
		l.mu.Lock()
		delete(l.pending, key)
		l.mu.Unlock()
		if err != nil {
			l.logger.WarnContext(ctx, "retry enqueue; the sweeper will queue it", "key", key, "err", err)
			continue
		}
		done++
	}
	l.mu.Lock()
	l.down = false
	l.mu.Unlock()
	if done > 0 {
		l.logger.InfoContext(ctx, "queued work held while Redis was away", "queued", done)
	}
	return true
}

// LaterReports queues report builds for the dispatcher: one that fails for
// want of Redis is handed to Later instead of going back to the outbox, and
// while Redis is known to be away new ones go straight there. Only when
// Later is full does the dispatcher see the error.
type LaterReports struct {
	Queue ReportQueue
	Later *RetryLater
}

// EnqueueReport implements ReportQueue.
func (q LaterReports) EnqueueReport(ctx context.Context, p ReportPayload) error {
	retry := func(ctx context.Context) error { return q.Queue.EnqueueReport(ctx, p) }
	if q.Later.Down() && q.Later.Add("report:"+p.ReportID, retry) {
		return nil
	}
	err := q.Queue.EnqueueReport(ctx, p)
	if err != nil && Unavailable(err) && q.Later.Add("report:"+p.ReportID, retry) {
		return nil
	}
	return err
}
