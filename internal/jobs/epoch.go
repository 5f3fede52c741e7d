package jobs

import (
	"context"
	"sync"
)

// EpochCounter is one Redis counter (INCR on a fixed key) in the Redis the
// queues live in.
type EpochCounter interface {
	Incr(ctx context.Context) (int64, error)
}

// Epoch notices that Redis lost its data: a restart without persistence, a
// FLUSHALL, or a failover to a replica that had not received our latest
// writes. Each check increments a counter in Redis; every process sees it
// only grow while Redis keeps its data, so a value no greater than the last
// one this process saw means Redis went back in time, and with it every
// task queued since. A replica that lost less than one check's increments
// is not noticed; the sweeper still finds what it lost, later.
type Epoch struct {
	Counter EpochCounter

	mu   sync.Mutex
	last int64 // 0: no check has answered yet
}

// Check increments the counter and reports whether Redis lost data since
// the last check that answered. An error (Redis away) leaves the state as
// it was, so the first check after Redis answers again decides.
func (e *Epoch) Check(ctx context.Context) (lost bool, err error) {
	n, err := e.Counter.Incr(ctx)
	if err != nil {
		return false, err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	lost = e.last > 0 && n <= e.last
	e.last = n
	return lost, nil
}
