package report

import (
	"context"
	"fmt"
	"io"
)

// Render writes doc to w as f. It consumes doc.Orders or doc.MerchantDays
// exactly once, in order, without collecting them, and stops with ctx's
// error between rows. It returns the page count (0 for CSV and XLSX) and
// the rows read. A PDF renders in memory bounded by a chunk of pages, an
// XLSX in memory bounded by a stream buffer (the rest spills to a temp
// file, removed before Render returns), whatever the row count.
func Render(ctx context.Context, w io.Writer, f Format, doc Document) (Stats, error) {
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
