package report

import (
	"bytes"
	"context"
	"encoding/csv"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// csvRecords renders doc as CSV and reads it back, header first.
func csvRecords(t *testing.T, doc Document) [][]string {
	t.Helper()
	var buf bytes.Buffer
	if _, err := Render(context.Background(), &buf, FormatCSV, doc); err != nil {
		t.Fatal(err)
	}
	recs, err := csv.NewReader(&buf).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	return recs
}

// centsOfDecimal reads a CSV amount ("1234.56", "1234" for JPY) as minor
// units, digit by digit, as a reader of the file would.
func centsOfDecimal(t *testing.T, s, cur string) int64 {
	t.Helper()
	whole, frac, _ := strings.Cut(s, ".")
	if len(frac) != minorUnits(cur) {
		t.Fatalf("%s amount %q has %d decimals, want %d", cur, s, len(frac), minorUnits(cur))
	}
	n, err := strconv.ParseInt(whole+frac, 10, 64)
	if err != nil {
		t.Fatalf("amount %q: %v", s, err)
	}
	return n
}

// TestPDFSummariesAgreeWithCSV: what the PDF's summaries print per
// currency is what a reader adds up from the CSV of the same rows.
func TestPDFSummariesAgreeWithCSV(t *testing.T) {
	t.Run("merchant_sales", func(t *testing.T) {
		rows := chartDays()
		type sums struct{ days, orders, cancellations, gross, refunds, net, tax int64 }
		s := map[string]*sums{}
		recs := csvRecords(t, merchantDoc(t, rows))
		if diff := cmp.Diff(merchantCSVHeader, recs[0]); diff != "" {
			t.Fatalf("CSV header (-want +got):\n%s", diff)
		}
		for _, r := range recs[1:] {
			cur := r[2]
			if s[cur] == nil {
				s[cur] = &sums{}
			}
			x := s[cur]
			orders, _ := strconv.ParseInt(r[3], 10, 64)
			cancellations, _ := strconv.ParseInt(r[4], 10, 64)
			x.days++
			x.orders += orders
			x.cancellations += cancellations
			x.gross += centsOfDecimal(t, r[5], cur)
			x.refunds += centsOfDecimal(t, r[6], cur)
			x.net += centsOfDecimal(t, r[7], cur)
			x.tax += centsOfDecimal(t, r[8], cur)
		}
		want := map[string][]string{}
		for cur, x := range s {
			want[cur] = []string{formatCount(x.days), formatCount(x.orders), formatCount(x.cancellations),
				FormatMoney(x.gross, cur), FormatMoney(x.refunds, cur), FormatMoney(x.net, cur), FormatMoney(x.tax, cur)}
		}
		pdf, _ := renderPDFBytes(t, merchantDoc(t, rows), defaultChunkPages)
		text := textOf(t, pdf)
		if diff := cmp.Diff(want, currencyLines(t, text, "Summary", "Days with sales")); diff != "" {
			t.Errorf("the opening summary against the CSV (-want +got):\n%s", diff)
		}
		if diff := cmp.Diff(want, totalsLines(t, text)); diff != "" {
			t.Errorf("the closing totals against the CSV (-want +got):\n%s", diff)
		}
	})
	t.Run("order_history", func(t *testing.T) {
		rows := testOrders(333)
		type sums struct{ orders, cancellations, withRefund, gross, refunds, tax int64 }
		s := map[string]*sums{}
		recs := csvRecords(t, orderDoc(t, rows))
		col := map[string]int{}
		for i, h := range recs[0] {
			col[h] = i
		}
		for _, r := range recs[1:] {
			cur := r[col["currency"]]
			if s[cur] == nil {
				s[cur] = &sums{}
			}
			x := s[cur]
			total, refunded := centsOfDecimal(t, r[col["total"]], cur), centsOfDecimal(t, r[col["refunded"]], cur)
			x.orders++
			if refunded != 0 {
				x.withRefund++
			}
			if r[col["cancelled_at"]] != "" {
				x.cancellations++ // a cancelled order is no sale (report.OrderAmounts)
				continue
			}
			x.gross += total
			x.refunds += refunded
			x.tax += centsOfDecimal(t, r[col["tax"]], cur)
		}
		want := map[string][]string{}
		for cur, x := range s {
			want[cur] = []string{formatCount(x.orders), formatCount(x.cancellations), formatCount(x.withRefund),
				FormatMoney(x.gross, cur), FormatMoney(x.refunds, cur), FormatMoney(x.gross-x.refunds, cur), FormatMoney(x.tax, cur)}
		}
		pdf, _ := renderPDFBytes(t, orderDoc(t, rows), 3)
		if diff := cmp.Diff(want, totalsLines(t, textOf(t, pdf))); diff != "" {
			t.Errorf("the closing summary against the CSV (-want +got):\n%s", diff)
		}
	})
}
