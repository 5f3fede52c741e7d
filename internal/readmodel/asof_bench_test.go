package readmodel_test

import (
	"context"
	"io"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/reportd/reportd/internal/orderevents"
	"github.com/reportd/reportd/internal/report"
	"github.com/reportd/reportd/internal/seed"
)

// BenchmarkAsOfReport folds about 200,000 events (72,000 orders) of one customer (and one
// merchant) into as_of reports, CSV to io.Discard, and reports the peak
// heap in use while it runs: folding streams one order at a time, so the
// peak stays far below the size of the events.
func BenchmarkAsOfReport(b *testing.B) {
	ctx := context.Background()
	s, _ := newStore(b)
	// The events are appended and dropped, so the heap measured is the fold's.
	n, sum := func() (int, seed.Summary) {
		events, sum := seed.Events(seed.Options{Customers: 1, OrdersPerCustomer: 72_000, Merchants: 1, Seed: 7})
		for start := 0; start < len(events); start += orderevents.MaxBatch {
			if _, err := s.Append(ctx, "cli_a", events[start:min(start+orderevents.MaxBatch, len(events))]); err != nil {
				b.Fatal(err)
			}
		}
		return len(events), sum
	}()
	asOf := time.Now()
	for _, tc := range []struct {
		name string
		typ  report.Type
		p    report.Params
	}{
		{"order_history", report.TypeOrderHistory, report.Params{CustomerID: sum.Customers[0], From: "2026-01-01", To: "2026-12-31"}},
		{"merchant_sales", report.TypeMerchantSales, report.Params{MerchantID: sum.Merchants[0], From: "2026-01-01", To: "2026-12-31"}},
	} {
		b.Run(tc.name, func(b *testing.B) {
			var peak atomic.Uint64
			runtime.GC()
			var base runtime.MemStats
			runtime.ReadMemStats(&base)
			done := make(chan struct{})
			go func() {
				var m runtime.MemStats
				for {
					select {
					case <-done:
						return
					case <-time.After(5 * time.Millisecond):
					}
					runtime.ReadMemStats(&m)
					if m.HeapInuse > peak.Load() {
						peak.Store(m.HeapInuse)
					}
				}
			}()
			rows := 0
			b.ResetTimer()
			for range b.N {
				err := s.OpenDocumentAsOf(ctx, "cli_a", tc.typ, tc.p, asOf, 0, func(doc report.Document) error {
					st, err := report.Render(ctx, io.Discard, report.FormatCSV, doc)
					rows = st.Rows
					return err
				})
				if err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			close(done)
			b.ReportMetric(float64(n), "events")
			b.ReportMetric(float64(rows), "rows")
			b.ReportMetric(float64(peak.Load()-min(peak.Load(), base.HeapInuse))/(1<<20), "peak-heap-MiB")
		})
	}
}
