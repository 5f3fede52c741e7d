package readmodel_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/reportd/reportd/internal/orderevents"
	"github.com/reportd/reportd/internal/readmodel"
	"github.com/reportd/reportd/internal/seed"
)

// benchEvents generates about 20,000 seeded events (6,250 orders); each seed
// gives fresh ids.
func benchEvents(seedValue int64) []orderevents.Event {
	events, _ := seed.Events(seed.Options{Customers: 125, OrdersPerCustomer: 50, Merchants: 40, Seed: seedValue})
	return events
}

// BenchmarkAppend measures ingestion: batches of 1,000 events through Append.
func BenchmarkAppend(b *testing.B) {
	ctx := context.Background()
	s, _ := newStore(b)
	var pool []orderevents.Event
	seedValue := int64(1)
	total := 0
	b.ResetTimer()
	for range b.N {
		if len(pool) < orderevents.MaxBatch {
			b.StopTimer()
			pool = benchEvents(seedValue)
			seedValue++
			b.StartTimer()
		}
		if _, err := s.Append(ctx, "cli_a", pool[:orderevents.MaxBatch]); err != nil {
			b.Fatal(err)
		}
		pool = pool[orderevents.MaxBatch:]
		total += orderevents.MaxBatch
	}
	b.ReportMetric(float64(total)/b.Elapsed().Seconds(), "events/s")
}

// BenchmarkProject measures the projector: each iteration appends ~20,000
// new events (untimed) and times one ProjectOnce that folds them into both
// projections.
func BenchmarkProject(b *testing.B) {
	ctx := context.Background()
	s, _ := newStore(b)
	total := 0
	b.ResetTimer()
	for i := range b.N {
		b.StopTimer()
		events := benchEvents(int64(i + 1))
		for start := 0; start < len(events); start += orderevents.MaxBatch {
			if _, err := s.Append(ctx, "cli_a", events[start:min(start+orderevents.MaxBatch, len(events))]); err != nil {
				b.Fatal(err)
			}
		}
		b.StartTimer()
		n, err := s.ProjectOnce(ctx)
		if err != nil {
			b.Fatal(err)
		}
		if n != len(events) {
			b.Fatalf("projected %d events, want %d", n, len(events))
		}
		total += n
	}
	b.ReportMetric(float64(total)/b.Elapsed().Seconds(), "events/s")
}

// BenchmarkCopyFromCeiling is the ceiling to compare with: raw CopyFrom of
// the same rows into a plain table with no constraints or indexes.
func BenchmarkCopyFromCeiling(b *testing.B) {
	ctx := context.Background()
	_, pool := newStore(b)
	if _, err := pool.Exec(ctx, `CREATE TABLE plain_events (client_id text, event_id text, order_id text,
		sequence bigint, type text, occurred_at timestamptz, data jsonb)`); err != nil {
		b.Fatal(err)
	}
	events := benchEvents(1)
	rows := make([][]any, len(events))
	for i, e := range events {
		rows[i] = []any{"cli_a", e.EventID, e.OrderID, e.Sequence, e.Type, e.OccurredAt, string(e.Data)}
	}
	cols := []string{"client_id", "event_id", "order_id", "sequence", "type", "occurred_at", "data"}
	total := 0
	b.ResetTimer()
	for range b.N {
		n, err := pool.CopyFrom(ctx, pgx.Identifier{"plain_events"}, cols, pgx.CopyFromRows(rows))
		if err != nil {
			b.Fatal(err)
		}
		total += int(n)
	}
	b.ReportMetric(float64(total)/b.Elapsed().Seconds(), "events/s")
}

// BenchmarkProjectPartitions measures the projector split into partitions:
// each iteration appends ~20,000 new events (untimed), then times the
// given number of projectors (own pools, as separate workers) catching up
// side by side with ProjectOnce, which skips partitions another one is
// passing over. Compare events/s across the sub-benchmarks as ratios.
func BenchmarkProjectPartitions(b *testing.B) {
	for _, c := range []struct{ partitions, workers int }{{1, 1}, {8, 1}, {8, 2}, {16, 2}} {
		b.Run(fmt.Sprintf("partitions=%d/workers=%d", c.partitions, c.workers), func(b *testing.B) {
			ctx := context.Background()
			writer, pool := newStore(b)
			stores := make([]*readmodel.Store, c.workers)
			for i := range stores {
				own, err := pgxpool.New(ctx, pool.Config().ConnString())
				if err != nil {
					b.Fatal(err)
				}
				b.Cleanup(own.Close)
				stores[i] = readmodel.NewStore(own, own, slog.New(slog.DiscardHandler)).
					WithProjector(readmodel.ProjectorOptions{Partitions: c.partitions})
			}
			total := 0
			b.ResetTimer()
			for i := range b.N {
				b.StopTimer()
				events := benchEvents(int64(i + 1))
				var head int64
				for start := 0; start < len(events); start += orderevents.MaxBatch {
					res, err := writer.Append(ctx, "cli_a", events[start:min(start+orderevents.MaxBatch, len(events))])
					if err != nil {
						b.Fatal(err)
					}
					head = res.Position
				}
				b.StartTimer()
				var wg sync.WaitGroup
				errs := make([]error, len(stores))
				for j, s := range stores {
					wg.Go(func() { _, errs[j] = s.ProjectOnce(ctx) })
				}
				wg.Wait()
				if err := errors.Join(errs...); err != nil {
					b.Fatal(err)
				}
				// Each partition was caught up by one of them: one skips
				// only what the other holds, which the other finishes.
				b.StopTimer()
				if pos, err := writer.Position(ctx); err != nil || pos < head {
					b.Fatalf("projectors reached position %d (%v), want %d", pos, err, head)
				}
				b.StartTimer()
				total += len(events)
			}
			b.ReportMetric(float64(total)/b.Elapsed().Seconds(), "events/s")
		})
	}
}
