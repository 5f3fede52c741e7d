package report

import (
	"context"
	"io"
	"strconv"
	"testing"

	"github.com/go-pdf/fpdf"
)

// BenchmarkRenderPDF200 and BenchmarkBareFpdf200 render the same 200 orders;
// their ratio is the cost of the layout and of the streaming stitcher.
func BenchmarkRenderPDF200(b *testing.B) {
	rows := testOrders(200)
	b.ReportAllocs()
	for b.Loop() {
		doc := Document{Type: TypeOrderHistory, Header: testHeader(TypeOrderHistory), RowCount: len(rows), Orders: seq(b, rows)}
		if _, err := Render(context.Background(), io.Discard, FormatPDF, doc); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkRenderPDF200Scripts renders 200 orders whose carriers are in
// every script the fonts cover, so it adds the cost of the CJK fallback font
// (parsed by fpdf in each chunk that draws with it, and subset on output)
// and of wrapped rows.
func BenchmarkRenderPDF200Scripts(b *testing.B) {
	rows := scriptOrders(200)
	b.ReportAllocs()
	for b.Loop() {
		doc := Document{Type: TypeOrderHistory, Header: testHeader(TypeOrderHistory), RowCount: len(rows), Orders: seq(b, rows)}
		if _, err := Render(context.Background(), io.Discard, FormatPDF, doc); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkBareFpdf200 is the baseline: one fpdf document, the same font,
// a header row and the same nine cells per order, nothing else.
func BenchmarkBareFpdf200(b *testing.B) {
	rows := testOrders(200)
	cols := orderColumns()
	b.ReportAllocs()
	for b.Loop() {
		p := fpdf.New("P", "mm", "A4", "")
		p.SetAutoPageBreak(true, 19)
		p.AddUTF8FontFromBytes(fontFamily, "", fontRegular)
		p.AddUTF8FontFromBytes(fontFamily, "B", fontBold)
		p.AddPage()
		p.SetFont(fontFamily, "B", headSize)
		for _, c := range cols {
			p.CellFormat(c.width, headRowH, c.title, "", 0, c.align, false, 0, "")
		}
		p.Ln(headRowH)
		p.SetFont(fontFamily, "", tableSize)
		for i, o := range rows {
			cells := []string{o.OrderID, o.PlacedAt.Format(dayLayout), o.Status, strconv.Itoa(o.ItemCount),
				o.Currency, FormatAmount(o.TotalCents, o.Currency), FormatAmount(o.TaxCents, o.Currency),
				FormatAmount(o.RefundedCents, o.Currency), o.Carrier}
			for j, c := range cols {
				p.CellFormat(c.width, rowH, cells[j], "", 0, c.align, i%2 == 1, 0, "")
			}
			p.Ln(rowH)
		}
		if err := p.Output(io.Discard); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkRenderCSV(b *testing.B) {
	rows := testOrders(10000)
	b.ReportAllocs()
	for b.Loop() {
		doc := Document{Type: TypeOrderHistory, Header: testHeader(TypeOrderHistory), RowCount: len(rows), Orders: seq(b, rows)}
		if _, err := Render(context.Background(), io.Discard, FormatCSV, doc); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkRenderXLSX(b *testing.B) {
	rows := testOrders(10000)
	b.ReportAllocs()
	for b.Loop() {
		doc := Document{Type: TypeOrderHistory, Header: testHeader(TypeOrderHistory), RowCount: len(rows), Orders: seq(b, rows)}
		if _, err := Render(context.Background(), io.Discard, FormatXLSX, doc); err != nil {
			b.Fatal(err)
		}
	}
}
