package jobs

import (
	"context"
	"sync"
)

// EpochCounter is one Redis counter (INCR on a fixed key) in the Redis the
// queues live in. Incr also names the server that answered (its run_id), so
// a switch to another server is seen even when the counter looks fine.
type EpochCounter interface {
	Incr(ctx context.Context) (n int64, server string, err error)
}

// Epoch notices that Redis lost its data: a restart without persistence, a
// FLUSHALL, or a failover to a replica that had not received our latest
// writes. Each check increments a counter in Redis; every process sees it
// only grow while Redis keeps its data, so a value no greater than the last
// one this process saw means Redis went back in time, and with it every
// task queued since. A failover to a replica that missed only our last
// writes (an enqueue acknowledged by the old master a moment before it
// died) leaves the counter growing; so a new server, by run_id, counts as
// a possible loss too. A restart that kept its data also changes the
// run_id: the sweep it causes finds every task in place and costs one
// look per unfinished row.
type Epoch struct {
	Counter EpochCounter

	mu     sync.Mutex
	last   int64  // 0: no check has answered yet
	server string // run_id of the server that answered last
}

// Check increments the counter and reports whether Redis lost data since
// the last check that answered. An error (Redis away) leaves the state as
// it was, so the first check after Redis answers again decides.
func (e *Epoch) Check(ctx context.Context) (lost bool, err error) {
	n, server, err := e.Counter.Incr(ctx)
	if err != nil {
		return false, err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	lost = e.last > 0 && (n <= e.last || server != e.server)
	e.last, e.server = n, server
	return lost, nil
}
