package progress

import (
	"context"
	"sync"

	"github.com/reportd/reportd/internal/domain"
)

// Async is a publisher that never blocks its caller: the newest progress
// waits in a one-slot mailbox and one goroutine writes it, so a slow or
// absent database costs the renderer nothing and an older value never
// overwrites a newer one.
type Async struct {
	write   func(context.Context, domain.Progress) error
	onError func(error)

	mu      sync.Mutex
	pending *domain.Progress
	wake    chan struct{}
	done    chan struct{}
	cancel  context.CancelFunc
}

// NewAsync starts the writer. write stores one value; onError (may be nil)
// hears of a failed write, which is not retried: the next value replaces
// it. Close stops the writer.
func NewAsync(ctx context.Context, write func(context.Context, domain.Progress) error, onError func(error)) *Async {
	ctx, cancel := context.WithCancel(ctx)
	a := &Async{write: write, onError: onError, wake: make(chan struct{}, 1), done: make(chan struct{}), cancel: cancel}
	go a.run(ctx)
	return a
}

// Publish hands p to the writer, replacing any value not yet written.
func (a *Async) Publish(p domain.Progress) {
	a.mu.Lock()
	a.pending = &p
	a.mu.Unlock()
	select {
	case a.wake <- struct{}{}:
	default: // the writer is already woken
	}
}

// Close writes the value still waiting, if any, then stops the writer and
// waits for it.
func (a *Async) Close() {
	close(a.wake)
	<-a.done
	a.cancel()
}

func (a *Async) run(ctx context.Context) {
	defer close(a.done)
	for range a.wake {
		a.mu.Lock()
		p := a.pending
		a.pending = nil
		a.mu.Unlock()
		if p == nil {
			continue
		}
		if err := a.write(ctx, *p); err != nil && a.onError != nil {
			a.onError(err)
		}
	}
}
