package report

import (
	"bytes"
	"context"
	"errors"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestRenderPDFGolden(t *testing.T) {
	tests := []struct {
		name string
		doc  func(t *testing.T) Document
	}{
		{"order_history", func(t *testing.T) Document { t.Helper(); return orderDoc(t, testOrders(70)) }},
		{"merchant_sales", func(t *testing.T) Document { t.Helper(); return merchantDoc(t, testDays(30)) }},
		{"order_history_empty", func(t *testing.T) Document { t.Helper(); return orderDoc(t, nil) }},
		{"merchant_sales_empty", func(t *testing.T) Document { t.Helper(); return merchantDoc(t, nil) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pdf, st := renderPDFBytes(t, tt.doc(t), defaultChunkPages)
			tool(t, pdf, "qpdf", "--check")
			got := textOf(t, pdf)
			golden := filepath.Join("testdata", tt.name+".golden")
			if *update {
				if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("read golden (regenerate with go test ./internal/report -update): %v", err)
			}
			if diff := cmp.Diff(string(want), got); diff != "" {
				t.Errorf("pdftotext -layout mismatch (-want +got); regenerate with -update if intended:\n%s", diff)
			}
			if info := pdfInfo(t, pdf); info["Pages"] != strconv.Itoa(st.Pages) {
				t.Errorf("pdfinfo Pages = %q, Render said %d", info["Pages"], st.Pages)
			}
		})
	}
}

func TestRenderPDFEmptyIsOnePage(t *testing.T) {
	pdf, st := renderPDFBytes(t, orderDoc(t, nil), defaultChunkPages)
	if diff := cmp.Diff(Stats{Pages: 1, Rows: 0}, st); diff != "" {
		t.Errorf("stats (-want +got):\n%s", diff)
	}
	if got := textOf(t, pdf); !strings.Contains(got, "No orders in this period.") || !strings.Contains(got, "Page 1 of 1") {
		t.Errorf("empty report text lacks its message or page count:\n%s", got)
	}
}

func pdfInfo(tb testing.TB, pdf []byte) map[string]string {
	tb.Helper()
	out := map[string]string{}
	for line := range strings.Lines(tool(tb, pdf, "pdfinfo", "-isodates")) {
		k, v, ok := strings.Cut(line, ":")
		if ok {
			out[k] = strings.TrimSpace(v)
		}
	}
	return out
}

func TestRenderPDFMetadata(t *testing.T) {
	pdf, st := renderPDFBytes(t, orderDoc(t, testOrders(120)), defaultChunkPages)
	info := pdfInfo(t, pdf)
	got := map[string]string{}
	for _, k := range []string{"Title", "Author", "Subject", "CreationDate", "Pages", "Page size"} {
		got[k] = info[k]
	}
	want := map[string]string{
		"Title":        "Order history: Customer cus_42, 1/1/2026 – 3/31/2026",
		"Author":       "reportd",
		"Subject":      "Order history report rep_test0001 for Nordlicht Café GmbH, data position 1200",
		"CreationDate": "2026-04-01T09:30:00Z",
		"Pages":        strconv.Itoa(st.Pages),
		"Page size":    "595.28 x 841.89 pts (A4)",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("pdfinfo (-want +got):\n%s", diff)
	}
	if st.Pages < 3 {
		t.Errorf("120 orders rendered on %d pages; want a multi-page report", st.Pages)
	}
}

// TestRenderPDFChunked proves the stitcher: a report built one page per fpdf
// chunk reads exactly like one built in a single chunk, passes qpdf, and
// embeds each font once.
func TestRenderPDFChunked(t *testing.T) {
	rows := testOrders(150)
	whole, st1 := renderPDFBytes(t, orderDoc(t, rows), 1000)
	chunked, st2 := renderPDFBytes(t, orderDoc(t, rows), 1)
	if diff := cmp.Diff(st1, st2); diff != "" {
		t.Errorf("stats differ (-whole +chunked):\n%s", diff)
	}
	tool(t, chunked, "qpdf", "--check")
	if diff := cmp.Diff(textOf(t, whole), textOf(t, chunked)); diff != "" {
		t.Errorf("text differs (-whole +chunked):\n%s", diff)
	}
	for name, pdf := range map[string][]byte{"whole": whole, "chunked": chunked} {
		fonts := tool(t, pdf, "pdffonts")
		if n := strings.Count(fonts, "CID TrueType"); n != 2 {
			t.Errorf("%s: %d embedded fonts, want 2 (regular and bold, once each):\n%s", name, n, fonts)
		}
		if got := info(t, pdf, "Pages"); got != strconv.Itoa(st1.Pages) {
			t.Errorf("%s: pdfinfo Pages = %s, want %d", name, got, st1.Pages)
		}
	}
	// Every page says "Page N of M" with the true M.
	text := textOf(t, chunked)
	for n := 1; n <= st2.Pages; n++ {
		want := "Page " + strconv.Itoa(n) + " of " + strconv.Itoa(st2.Pages)
		if !strings.Contains(text, want) {
			t.Errorf("no %q in the text", want)
		}
	}
}

func info(tb testing.TB, pdf []byte, key string) string {
	tb.Helper()
	return pdfInfo(tb, pdf)[key]
}

func TestRenderPDFDeterministic(t *testing.T) {
	a, _ := renderPDFBytes(t, orderDoc(t, testOrders(100)), 1)
	b, _ := renderPDFBytes(t, orderDoc(t, testOrders(100)), 1)
	if !bytes.Equal(a, b) {
		t.Errorf("two renders of the same document differ")
	}
}

// TestRenderPDFNonASCII checks that names outside Latin-1 survive into the
// text layer, which needs the embedded UTF-8 font.
func TestRenderPDFNonASCII(t *testing.T) {
	rows := testOrders(6)
	rows[0].OrderID = "ord_ßéüøł"
	doc := orderDoc(t, rows)
	doc.Header.ClientName = "Zoë Łukasz Straße Ørsted"
	pdf, _ := renderPDFBytes(t, doc, defaultChunkPages)
	text := textOf(t, pdf)
	for _, want := range []string{"ord_ßéüøł", "Zoë Łukasz Straße Ørsted", "Østlandet"} {
		if !strings.Contains(text, want) {
			t.Errorf("text lacks %q", want)
		}
	}
}

// TestRenderPDFTotals checks that the per-currency totals printed in the PDF
// equal the sums of the input rows, to the cent.
func TestRenderPDFTotals(t *testing.T) {
	t.Run("order_history", func(t *testing.T) {
		rows := testOrders(333)
		pdf, _ := renderPDFBytes(t, orderDoc(t, rows), 2)
		// Summed by hand here, not with Totals: a cancelled order is no sale.
		gross, refunds, tax := map[string]int64{}, map[string]int64{}, map[string]int64{}
		count, cancelled, withRefund := map[string]int{}, map[string]int{}, map[string]int{}
		for _, r := range rows {
			count[r.Currency]++
			if r.CancelledAt == nil {
				gross[r.Currency] += r.TotalCents
				refunds[r.Currency] += r.RefundedCents
				tax[r.Currency] += r.TaxCents
			} else {
				cancelled[r.Currency]++
			}
			if r.RefundedCents != 0 {
				withRefund[r.Currency]++
			}
		}
		got := totalsLines(t, textOf(t, pdf))
		want := map[string][]string{}
		for cur := range count {
			want[cur] = []string{strconv.Itoa(count[cur]), strconv.Itoa(cancelled[cur]), strconv.Itoa(withRefund[cur]),
				FormatMoney(gross[cur], cur), FormatMoney(refunds[cur], cur), FormatMoney(gross[cur]-refunds[cur], cur),
				FormatMoney(tax[cur], cur)}
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("totals by currency (-want +got):\n%s", diff)
		}
	})
	t.Run("merchant_sales", func(t *testing.T) {
		rows := testDays(90)
		pdf, _ := renderPDFBytes(t, merchantDoc(t, rows), defaultChunkPages)
		type sums struct{ days, orders, cancellations, gross, refunds, net, tax int64 }
		s := map[string]*sums{}
		for _, r := range rows {
			if s[r.Currency] == nil {
				s[r.Currency] = &sums{}
			}
			x := s[r.Currency]
			x.days++
			x.orders += int64(r.Orders)
			x.cancellations += int64(r.Cancellations)
			x.gross += r.GrossCents
			x.refunds += r.RefundsCents
			x.net += r.NetCents
			x.tax += r.TaxCents
		}
		want := map[string][]string{}
		for cur, x := range s {
			want[cur] = []string{formatCount(x.days), formatCount(x.orders), formatCount(x.cancellations),
				FormatMoney(x.gross, cur), FormatMoney(x.refunds, cur), FormatMoney(x.net, cur), FormatMoney(x.tax, cur)}
		}
		text := textOf(t, pdf)
		if diff := cmp.Diff(want, totalsLines(t, text)); diff != "" {
			t.Errorf("totals by currency (-want +got):\n%s", diff)
		}
		// The summary that opens the document says the same.
		if diff := cmp.Diff(want, currencyLines(t, text, "Summary", "Days with sales")); diff != "" {
			t.Errorf("summary (-want +got):\n%s", diff)
		}
	})
}

// An amount never loses digits to an ellipsis, however large.
func TestRenderPDFNeverCutsAmounts(t *testing.T) {
	day := MerchantDayRow{MerchantID: "mer_7", Day: testFrom, Currency: "EUR", Orders: 1, GrossCents: math.MaxInt64, NetCents: math.MaxInt64, TaxCents: math.MaxInt64}
	pdf, _ := renderPDFBytes(t, merchantDoc(t, []MerchantDayRow{day}), defaultChunkPages)
	text := textOf(t, pdf)
	if n := strings.Count(text, "92,233,720,368,547,758.07"); n < 6 {
		t.Errorf("the amount shows whole %d times, want 6 (row gross, net and tax, totals gross, net and tax):\n%s", n, text)
	}
}

// reMoney matches the counts and the en-US money of a totals line:
// "143", "€143,993.59", "-$0.50", "CA$1.00".
var reMoney = regexp.MustCompile(`-?[^\s\d,.-]*[\d,]+(?:\.\d+)?`)

// totalsLines parses the "Totals by currency" table out of the text layer:
// currency -> the cells after it.
func totalsLines(t *testing.T, text string) map[string][]string {
	t.Helper()
	return currencyLines(t, text, "Totals by currency", "Summary")
}

// currencyLines reads the figures of each currency's line of the section
// from its title to the next text end (or the end of the document).
func currencyLines(t *testing.T, text, title, end string) map[string][]string {
	t.Helper()
	_, after, ok := strings.Cut(text, title)
	if !ok {
		t.Fatalf("no %q section in:\n%s", title, text)
	}
	after, _, _ = strings.Cut(after, end)
	out := map[string][]string{}
	for line := range strings.Lines(after) {
		f := strings.Fields(line)
		if len(f) < 2 || len(f[0]) != 3 || strings.ToUpper(f[0]) != f[0] || f[0] == "All" {
			continue
		}
		out[f[0]] = reMoney.FindAllString(strings.TrimPrefix(strings.TrimSpace(line), f[0]), -1)
	}
	return out
}

func TestRenderStopsOnCancel(t *testing.T) {
	var cancel context.CancelFunc
	rows := testOrders(500)
	yielded := 0
	doc := orderDoc(t, nil)
	doc.Orders = func(yield func(OrderRow, error) bool) {
		for _, r := range rows {
			yielded++
			if yielded == 10 {
				cancel()
			}
			if !yield(r, nil) {
				return
			}
		}
	}
	for _, f := range []Format{FormatPDF, FormatCSV} {
		yielded = 0
		var ctx context.Context
		ctx, cancel = context.WithCancel(context.Background())
		_, err := Render(ctx, &bytes.Buffer{}, f, doc)
		cancel()
		if !errors.Is(err, context.Canceled) {
			t.Errorf("%s: err = %v, want context.Canceled", f, err)
		}
		if yielded > 10 {
			t.Errorf("%s: read %d rows after cancel at row 10", f, yielded)
		}
	}
}

func TestRenderPassesRowErrors(t *testing.T) {
	boom := errors.New("connection reset")
	doc := orderDoc(t, nil)
	doc.Orders = func(yield func(OrderRow, error) bool) {
		if !yield(testOrders(1)[0], nil) {
			return
		}
		yield(OrderRow{}, boom)
	}
	for _, f := range []Format{FormatPDF, FormatCSV} {
		st, err := Render(context.Background(), &bytes.Buffer{}, f, doc)
		if !errors.Is(err, boom) {
			t.Errorf("%s: err = %v, want %v", f, err, boom)
		}
		if st.Rows != 1 {
			t.Errorf("%s: rows = %d, want 1", f, st.Rows)
		}
	}
}

func TestRenderRejectsMismatchedDocument(t *testing.T) {
	for _, f := range []Format{FormatPDF, FormatCSV, FormatXLSX} {
		doc := Document{Type: TypeMerchantSales, Orders: seq(t, testOrders(1))}
		if _, err := Render(context.Background(), &bytes.Buffer{}, f, doc); err == nil {
			t.Errorf("%s: merchant_sales without MerchantDays rendered", f)
		}
	}
	if _, err := Render(context.Background(), &bytes.Buffer{}, "docx", orderDoc(t, nil)); err == nil {
		t.Errorf("unknown format rendered")
	}
}
