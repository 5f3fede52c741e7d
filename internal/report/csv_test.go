package report

import (
	"bytes"
	"context"
	"encoding/csv"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestRenderCSVOrders(t *testing.T) {
	shipped := time.Date(2026, 1, 3, 8, 0, 0, 0, time.UTC)
	rows := []OrderRow{
		{OrderID: "ord_1", CustomerID: "cus_42", MerchantID: "mer_7", Status: "shipped",
			PlacedAt: time.Date(2026, 1, 2, 10, 30, 0, 0, time.FixedZone("CET", 3600)), ShippedAt: &shipped,
			ItemCount: 2, Currency: "EUR", TotalCents: 123456, TaxCents: 19712, Carrier: "Pošta, \"Express\"", TrackingNumber: "=HYPERLINK(1)"},
		{OrderID: "ord_2", CustomerID: "cus_42", MerchantID: "mer_7", Status: "refunded",
			PlacedAt: time.Date(2026, 1, 5, 0, 0, 0, 0, time.UTC), ItemCount: 1, Currency: "JPY", TotalCents: 1500, RefundedCents: 1500},
	}
	var buf bytes.Buffer
	st, err := Render(context.Background(), &buf, FormatCSV, orderDoc(t, rows))
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(Stats{Rows: 2}, st); diff != "" {
		t.Errorf("stats (-want +got):\n%s", diff)
	}
	// tax is the last column, after the ones older parsers know.
	want := `order_id,customer_id,merchant_id,status,placed_at,paid_at,shipped_at,cancelled_at,item_count,currency,total,refunded,carrier,tracking_number,tax
ord_1,cus_42,mer_7,shipped,2026-01-02T09:30:00Z,,2026-01-03T08:00:00Z,,2,EUR,1234.56,0.00,"Pošta, ""Express""",'=HYPERLINK(1),197.12
ord_2,cus_42,mer_7,refunded,2026-01-05T00:00:00Z,,,,1,JPY,1500,1500,,,0
`
	if diff := cmp.Diff(want, buf.String()); diff != "" {
		t.Errorf("csv (-want +got):\n%s", diff)
	}
}

func TestRenderCSVMerchantDays(t *testing.T) {
	var buf bytes.Buffer
	if _, err := Render(context.Background(), &buf, FormatCSV, merchantDoc(t, testDays(2))); err != nil {
		t.Fatal(err)
	}
	want := `merchant_id,day,currency,orders,cancellations,gross,refunds,net,tax
mer_7,2026-01-01,EUR,20,0,1500.00,75.00,1425.00,0.00
mer_7,2026-01-01,USD,21,1,1579.19,78.95,1500.24,39.47
`
	if diff := cmp.Diff(want, buf.String()); diff != "" {
		t.Errorf("csv (-want +got):\n%s", diff)
	}
}

func TestRenderCSVEmpty(t *testing.T) {
	var buf bytes.Buffer
	if _, err := Render(context.Background(), &buf, FormatCSV, orderDoc(t, nil)); err != nil {
		t.Fatal(err)
	}
	if got := strings.Count(buf.String(), "\n"); got != 1 {
		t.Errorf("empty csv has %d lines, want just the header:\n%s", got, buf.String())
	}
}

// TestRenderCSVTotals sums the CSV's decimal strings back into minor units
// and compares them with the input, to the cent.
func TestRenderCSVTotals(t *testing.T) {
	rows := testOrders(500)
	var buf bytes.Buffer
	if _, err := Render(context.Background(), &buf, FormatCSV, orderDoc(t, rows)); err != nil {
		t.Fatal(err)
	}
	recs, err := csv.NewReader(&buf).ReadAll()
	if err != nil {
		t.Fatalf("csv does not parse back: %v", err)
	}
	want, got := map[string][3]int64{}, map[string][3]int64{}
	for _, r := range rows {
		w := want[r.Currency]
		want[r.Currency] = [3]int64{w[0] + r.TotalCents, w[1] + r.RefundedCents, w[2] + r.TaxCents}
	}
	for _, rec := range recs[1:] {
		cur := rec[9]
		g := got[cur]
		got[cur] = [3]int64{g[0] + parseMinor(t, rec[10], cur), g[1] + parseMinor(t, rec[11], cur), g[2] + parseMinor(t, rec[14], cur)}
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("per-currency sums (-want +got):\n%s", diff)
	}
}

// parseMinor turns "1234.56" back into 123456 without floats.
func parseMinor(t *testing.T, s, currency string) int64 {
	t.Helper()
	whole, frac, _ := strings.Cut(s, ".")
	if len(frac) != minorUnits(currency) {
		t.Fatalf("%q has %d decimals, %s wants %d", s, len(frac), currency, minorUnits(currency))
	}
	n, err := strconv.ParseInt(whole+frac, 10, 64)
	if err != nil {
		t.Fatalf("parse %q: %v", s, err)
	}
	return n
}
