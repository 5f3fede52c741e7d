package progress

import (
	"context"
	"fmt"
	"io"
	"testing"
	"time"

	"github.com/reportd/reportd/internal/domain"
	"github.com/reportd/reportd/internal/report"
)

// BenchmarkRenderProgress renders the same orders with and without a
// progress sink (a Tracker on the real clock, publishing at most once a
// second to a writer that drops the value): the ratio of the pairs is the
// cost of progress. CSV is the worst case, its rows being the cheapest.
//
//	go test -run '^$' -bench RenderProgress -count 6 ./internal/progress/
func BenchmarkRenderProgress(b *testing.B) {
	rows := benchOrders(5000)
	for _, f := range []report.Format{report.FormatPDF, report.FormatCSV} {
		for _, withProgress := range []bool{false, true} {
			name := fmt.Sprintf("%s/progress=%v", f, withProgress)
			b.Run(name, func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					doc := report.Document{Type: report.TypeOrderHistory, RowCount: len(rows), Orders: func(yield func(report.OrderRow, error) bool) {
						for _, o := range rows {
							if !yield(o, nil) {
								return
							}
						}
					}}
					doc.Header.ReportID, doc.Header.SubjectID = "rep_bench", "cus_1"
					if withProgress {
						tr := New(time.Now, DefaultInterval, func(domain.Progress) {})
						tr.Start(len(rows))
						doc.Progress = tr.Row
					}
					if _, err := report.Render(context.Background(), io.Discard, f, doc); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

func benchOrders(n int) []report.OrderRow {
	out := make([]report.OrderRow, n)
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := range out {
		out[i] = report.OrderRow{OrderID: fmt.Sprintf("ord_%06d", i), CustomerID: "cus_1", MerchantID: "mer_1",
			Status: "paid", PlacedAt: start.Add(time.Duration(i) * time.Hour), ItemCount: 1 + i%4,
			Currency: "EUR", TotalCents: int64(1000 + i*7%90000)}
	}
	return out
}

// BenchmarkTrackerRow is the sink's cost per row alone (the clock read on
// every clockEvery-th row included), to set against a row's render time.
func BenchmarkTrackerRow(b *testing.B) {
	tr := New(time.Now, DefaultInterval, func(domain.Progress) {})
	tr.Start(1 << 30)
	n := 0
	for b.Loop() {
		n++
		tr.Row(n)
	}
}
