package report

import (
	"context"
	"fmt"
	"io"
	"iter"
)

// Render writes doc to w as f. It consumes doc.Orders or doc.MerchantDays
// exactly once, in order, without collecting them, and stops with ctx's
// error between rows. It returns the page count (0 for CSV and XLSX) and
// the rows read. A PDF renders in memory bounded by a chunk of pages, an
// XLSX in memory bounded by a stream buffer (the rest spills to a temp
// file, removed before Render returns), whatever the row count.
func Render(ctx context.Context, w io.Writer, f Format, doc Document) (Stats, error) {
	doc.chartDays = doc.MerchantDays
	if doc.Progress != nil {
		doc.Orders = counted(doc.Orders, doc.Progress)
		doc.MerchantDays = counted(doc.MerchantDays, doc.Progress)
	}
	switch f {
	case FormatPDF:
		return renderPDF(ctx, w, doc, defaultChunkPages)
	case FormatCSV:
		return renderCSV(ctx, w, doc)
	case FormatXLSX:
		return renderXLSX(ctx, w, doc)
	}
	return Stats{}, fmt.Errorf("render: unknown format %q", f)
}

// counted calls progress after the consumer is done with each row: the
// renderer's loop body runs inside yield. A range that ends early or a
// second range counts from zero again.
func counted[T any](rows iter.Seq2[T, error], progress func(int)) iter.Seq2[T, error] {
	if rows == nil {
		return nil
	}
	return func(yield func(T, error) bool) {
		n := 0
		for row, err := range rows {
			if !yield(row, err) {
				return
			}
			if err == nil {
				n++
				progress(n)
			}
		}
	}
}
