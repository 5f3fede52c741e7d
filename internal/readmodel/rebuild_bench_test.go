package readmodel_test

import (
	"context"
	"flag"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/reportd/reportd/internal/readmodel"
)

var rebuildOrders = flag.Int("rebuild-orders", 250_000, "orders in BenchmarkRebuild's log (4 events each)")

// BenchmarkRebuild measures a blue/green rebuild of both projections from a
// log of at least a million events (-rebuild-orders × 4): building the new
// versions in batches and swapping them in. The log is written straight into
// order_events with one INSERT … SELECT (a million events in seconds, where
// Append takes minutes): placed, paid, shipped, partly refunded, orders
// progressing in groups of 1,000 so that each order's events are spread over
// the log as live traffic spreads them. events/s is log events per
// second of the whole rebuild, each event folded into both projections.
func BenchmarkRebuild(b *testing.B) {
	ctx := context.Background()
	_, pool := newStore(b)
	swaps := &swapRecorder{}
	s := readmodel.NewStore(pool, pool, slog.New(swaps))
	seedLog(b, pool, *rebuildOrders)
	// The live version is at the head, as a running projector keeps it.
	if _, err := s.ProjectOnce(ctx); err != nil {
		b.Fatal(err)
	}
	events := int64(*rebuildOrders) * 4
	b.ResetTimer()
	for range b.N {
		if err := s.Rebuild(ctx, "", nil); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(events)*float64(b.N)/b.Elapsed().Seconds(), "events/s")
	b.ReportMetric(float64(swaps.longest().Microseconds())/1000, "max-swap-ms")
}

// swapRecorder is a slog handler that keeps the longest swap_duration the
// rebuild logs: how long the live tables were locked.
type swapRecorder struct {
	mu  sync.Mutex
	max time.Duration
}

func (r *swapRecorder) Enabled(context.Context, slog.Level) bool { return true }
func (r *swapRecorder) WithAttrs([]slog.Attr) slog.Handler       { return r }
func (r *swapRecorder) WithGroup(string) slog.Handler            { return r }
func (r *swapRecorder) Handle(_ context.Context, rec slog.Record) error {
	rec.Attrs(func(a slog.Attr) bool {
		if a.Key == "swap_duration" {
			r.mu.Lock()
			r.max = max(r.max, a.Value.Duration())
			r.mu.Unlock()
		}
		return true
	})
	return nil
}

func (r *swapRecorder) longest() time.Duration {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.max
}

// BenchmarkVerify measures a verify of both projections against a live
// version already at the head, on the same log as BenchmarkRebuild: the
// fresh build plus the row-by-row comparison. events/s is log events per
// second of the whole verify.
func BenchmarkVerify(b *testing.B) {
	ctx := context.Background()
	s, pool := newStore(b)
	seedLog(b, pool, *rebuildOrders)
	if _, err := s.ProjectOnce(ctx); err != nil {
		b.Fatal(err)
	}
	events := int64(*rebuildOrders) * 4
	b.ResetTimer()
	for range b.N {
		if _, err := s.Verify(ctx, "", 10, nil); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(events)*float64(b.N)/b.Elapsed().Seconds(), "events/s")
}

// seedLog writes orders × 4 events into order_events (see BenchmarkRebuild).
func seedLog(b *testing.B, pool *pgxpool.Pool, orders int) {
	b.Helper()
	ctx := context.Background()
	_, err := pool.Exec(ctx, `
		INSERT INTO order_events (client_id, event_id, order_id, sequence, type, occurred_at, data)
		SELECT 'cli_a', 'evt_' || o || '_' || e.seq, 'ord_' || o, e.seq, e.type,
		       timestamptz '2026-01-01' + (o % 365) * interval '1 day' + e.seq * interval '1 hour',
		       CASE e.seq
		         WHEN 1 THEN jsonb_build_object('customer_id', 'cus_' || (o % 5000), 'merchant_id', 'mer_' || (o % 40),
		                     'currency', 'EUR', 'items', jsonb_build_array(jsonb_build_object('sku', 'sku', 'qty', 2, 'unit_price_cents', 1000 + o % 500)),
		                     'total_cents', 2 * (1000 + o % 500))
		         WHEN 2 THEN jsonb_build_object('amount_cents', 2 * (1000 + o % 500))
		         WHEN 3 THEN jsonb_build_object('carrier', 'DHL', 'tracking_number', 'T' || o)
		         ELSE jsonb_build_object('amount_cents', o % 300)
		       END
		FROM generate_series(1, $1::int) AS o,
		     (VALUES (1, 'OrderPlaced'), (2, 'PaymentCaptured'), (3, 'OrderShipped'), (4, 'OrderRefunded')) AS e (seq, type)
		ORDER BY o / 1000, e.seq, o`, orders)
	if err != nil {
		b.Fatalf("seed the log: %v", err)
	}
	if _, err := pool.Exec(ctx, "ANALYZE order_events"); err != nil {
		b.Fatal(err)
	}
}
