package jobs

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/reportd/reportd/internal/domain"
)

// OutboxStore is the transactional outbox of new reports.
type OutboxStore interface {
	ClaimReportsToEnqueue(ctx context.Context, limit int) ([]domain.QueuedReport, error)
	UnclaimReports(ctx context.Context, ids []string) error
}

// ReportQueue queues report builds.
type ReportQueue interface {
	EnqueueReport(ctx context.Context, p ReportPayload) error
}

// Dispatcher moves new reports from Postgres to the queue. The API only
// writes the row, so a 202 costs one durable insert and no Redis round trip,
// and a report can never be queued without its row. Every worker runs one;
// SKIP LOCKED keeps them apart, and the task id makes a double enqueue
// harmless anyway.
type Dispatcher struct {
	Store  OutboxStore
	Queue  ReportQueue
	Logger *slog.Logger
	// Wake, if set, says new rows may be waiting (a NOTIFY sent by the
	// insert's transaction), so an idle dispatcher claims them at once.
	Wake <-chan struct{}
	// Interval is how often an idle dispatcher looks for new rows anyway:
	// the safety net for a lost wake-up, and the pause before rows whose
	// enqueue failed are tried again.
	Interval time.Duration
}

const (
	dispatchBatch       = 500
	dispatchParallelism = 8
)

// Run dispatches until ctx ends.
func (d *Dispatcher) Run(ctx context.Context) {
	for {
		n, err := d.DispatchOnce(ctx)
		if err != nil && ctx.Err() == nil {
			d.Logger.WarnContext(ctx, "dispatch new reports", "err", err)
		}
		if n == dispatchBatch {
			continue // more are waiting
		}
		select {
		case <-ctx.Done():
			return
		case <-d.Wake: // a nil Wake never fires: polling alone
		case <-time.After(d.Interval):
		}
	}
}

// DispatchOnce queues one batch of new reports and reports how many it claimed.
func (d *Dispatcher) DispatchOnce(ctx context.Context) (int, error) {
	batch, err := d.Store.ClaimReportsToEnqueue(ctx, dispatchBatch)
	if err != nil || len(batch) == 0 {
		return 0, err
	}
	var mu sync.Mutex
	var failed []string
	var wg sync.WaitGroup
	sem := make(chan struct{}, dispatchParallelism)
	for _, r := range batch {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			if err := d.Queue.EnqueueReport(ctx, ReportPayload{ReportID: r.ID, ClientID: r.ClientID, RequestID: r.RequestID}); err != nil {
				mu.Lock()
				failed = append(failed, r.ID)
				mu.Unlock()
				d.Logger.WarnContext(ctx, "enqueue report; it goes back to the outbox", "report_id", r.ID, "err", err)
			}
		})
	}
	wg.Wait()
	if len(failed) > 0 {
		// Back to the outbox for the next pass; if even that fails, the
		// sweeper finds the rows once they are stale.
		if err := d.Store.UnclaimReports(context.WithoutCancel(ctx), failed); err != nil {
			return len(batch), err
		}
	}
	return len(batch), nil
}
