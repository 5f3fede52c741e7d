package report

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"iter"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden from the current output")

// seq streams fixed rows the way the read model does, and fails the test if
// a renderer ranges over orders twice or merchant days three times (see
// Document).
func seq[T any](tb testing.TB, rows []T) iter.Seq2[T, error] {
	tb.Helper()
	allowed := 1
	if _, days := any(*new(T)).(MerchantDayRow); days {
		allowed = 2
	}
	used := 0
	return func(yield func(T, error) bool) {
		if used >= allowed {
			tb.Errorf("rows consumed %d times", used+1)
			return
		}
		used++
		for _, r := range rows {
			if !yield(r, nil) {
				return
			}
		}
	}
}

var testFrom = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func testHeader(typ Type) Header {
	h := Header{
		ReportID: "rep_test0001", Title: "Order history", ClientName: "Nordlicht Café GmbH",
		SubjectLabel: "Customer", SubjectID: "cus_42",
		From: testFrom, To: time.Date(2026, 3, 31, 0, 0, 0, 0, time.UTC),
		GeneratedAt:  time.Date(2026, 4, 1, 9, 30, 0, 0, time.UTC),
		DataPosition: 1200,
	}
	if typ == TypeMerchantSales {
		h.Title, h.SubjectLabel, h.SubjectID = "Merchant sales", "Merchant", "mer_7"
	}
	return h
}

// testOrders is deterministic sample data with several currencies, every
// status and non-ASCII carriers.
func testOrders(n int) []OrderRow {
	statuses := []string{"placed", "paid", "shipped", "cancelled", "refunded", "shipped"}
	carriers := []string{"DHL Express", "Pošta Slovenije", "Østlandet Kurér", "Łódź Logistik", "Straßenbote", "Royal Mail"}
	currencies := []string{"EUR", "EUR", "USD", "GBP", "JPY", "EUR", "USD"}
	out := make([]OrderRow, n)
	for i := range out {
		placed := testFrom.Add(time.Duration(i)*17*time.Hour + 13*time.Minute)
		cur := currencies[i%len(currencies)]
		total := int64(1999 + (i*7919)%250000)
		if cur == "JPY" {
			total = int64(500 + (i*131)%90000)
		}
		o := OrderRow{
			OrderID: fmt.Sprintf("ord_%06d", 1000+i), CustomerID: "cus_42", MerchantID: "mer_7",
			Status: statuses[i%len(statuses)], PlacedAt: placed, ItemCount: 1 + i%5,
			Currency: cur, TotalCents: total,
		}
		if i%3 != 0 {
			// A version 2 order: the tax is part of the total. Every third
			// order is a version 1 one, with no tax.
			o.TaxCents = total * 19 / 119
		}
		switch o.Status {
		case "shipped":
			s := placed.Add(30 * time.Hour)
			o.ShippedAt, o.Carrier, o.TrackingNumber = &s, carriers[i%len(carriers)], fmt.Sprintf("TRK%08d", i)
		case "refunded":
			o.RefundedCents = total/3 + 1
		case "cancelled":
			c := placed.Add(2 * time.Hour)
			o.CancelledAt = &c
		case "paid":
			p := placed.Add(time.Minute)
			o.PaidAt = &p
		}
		out[i] = o
	}
	return out
}

func testDays(n int) []MerchantDayRow {
	currencies := []string{"EUR", "USD", "JPY"}
	out := make([]MerchantDayRow, n)
	for i := range out {
		cur := currencies[i%len(currencies)]
		gross := int64(150000 + (i*7919)%900000)
		if cur == "JPY" {
			gross = int64(15000 + (i*31)%90000)
		}
		refunds := gross / 20
		out[i] = MerchantDayRow{
			MerchantID: "mer_7", Day: testFrom.AddDate(0, 0, i/len(currencies)), Currency: cur,
			Orders: 20 + i%40, Cancellations: i % 4, GrossCents: gross, RefundsCents: refunds, NetCents: gross - refunds,
			TaxCents: gross * int64(i%4) / 40, // some days all version 1: no tax
		}
	}
	return out
}

func orderDoc(tb testing.TB, rows []OrderRow) Document {
	tb.Helper()
	return Document{Type: TypeOrderHistory, Header: testHeader(TypeOrderHistory), RowCount: len(rows), Orders: seq(tb, rows)}
}

func merchantDoc(tb testing.TB, rows []MerchantDayRow) Document {
	tb.Helper()
	return Document{Type: TypeMerchantSales, Header: testHeader(TypeMerchantSales), RowCount: len(rows), MerchantDays: seq(tb, rows)}
}

// renderPDFBytes renders with a chosen chunk size.
func renderPDFBytes(tb testing.TB, doc Document, chunkPages int) ([]byte, Stats) {
	tb.Helper()
	var buf bytes.Buffer
	st, err := renderPDF(context.Background(), &buf, doc, chunkPages)
	if err != nil {
		tb.Fatalf("render pdf: %v", err)
	}
	return buf.Bytes(), st
}

// tool runs a poppler/qpdf command on a PDF (at the "PDF" argument, or
// last) and returns its stdout. The
// tests need these tools; they fail, not skip, without them.
func tool(tb testing.TB, pdf []byte, name string, args ...string) string {
	tb.Helper()
	if _, err := exec.LookPath(name); err != nil {
		tb.Fatalf("%s is not installed; install it with: apt-get install -y poppler-utils qpdf", name)
	}
	path := filepath.Join(tb.TempDir(), "doc.pdf")
	if err := os.WriteFile(path, pdf, 0o644); err != nil {
		tb.Fatal(err)
	}
	full := make([]string, 0, len(args)+1)
	placed := false
	for _, a := range args {
		if a == "PDF" {
			a, placed = path, true
		}
		full = append(full, a)
	}
	if !placed {
		full = append(full, path)
	}
	out, err := exec.Command(name, full...).Output()
	if err != nil {
		tb.Fatalf("%s %v: %v\n%s", name, args, err, out)
	}
	return string(out)
}

func textOf(tb testing.TB, pdf []byte) string {
	tb.Helper()
	return tool(tb, pdf, "pdftotext", "-layout", "-enc", "UTF-8", "PDF", "-")
}
