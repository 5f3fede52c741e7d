package report

import (
	"context"
	"errors"
	"io"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestMoneyFormats(t *testing.T) {
	tests := []struct {
		cents    int64
		currency string
		decimal  string
		amount   string
		money    string
	}{
		{0, "EUR", "0.00", "0.00", "€0.00"},
		{5, "EUR", "0.05", "0.05", "€0.05"},
		{-50, "EUR", "-0.50", "-0.50", "-€0.50"},
		{123456, "EUR", "1234.56", "1,234.56", "€1,234.56"},
		{100000000, "USD", "1000000.00", "1,000,000.00", "$1,000,000.00"},
		{-123456789, "GBP", "-1234567.89", "-1,234,567.89", "-£1,234,567.89"},
		{1234, "JPY", "1234", "1,234", "¥1,234"},
		{999, "jpy", "999", "999", "¥999"},
		{1234567, "KWD", "1234.567", "1,234.567", "KWD1,234.567"},
		{1, "BHD", "0.001", "0.001", "BHD0.001"},
		{math.MaxInt64, "EUR", "92233720368547758.07", "92,233,720,368,547,758.07", "€92,233,720,368,547,758.07"},
		{math.MinInt64, "EUR", "-92233720368547758.08", "-92,233,720,368,547,758.08", "-€92,233,720,368,547,758.08"},
	}
	for _, tt := range tests {
		got := []string{DecimalString(tt.cents, tt.currency), FormatAmount(tt.cents, tt.currency), FormatMoney(tt.cents, tt.currency)}
		want := []string{tt.decimal, tt.amount, tt.money}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("%d %s (-want +got):\n%s", tt.cents, tt.currency, diff)
		}
	}
}

func TestFormatCount(t *testing.T) {
	for n, want := range map[int64]string{0: "0", 999: "999", 1000: "1,000", 1234567: "1,234,567", -1000: "-1,000"} {
		if got := formatCount(n); got != want {
			t.Errorf("formatCount(%d) = %q, want %q", n, got, want)
		}
	}
}

func TestAddCentsOverflow(t *testing.T) {
	if _, err := AddCents(math.MaxInt64, 1); err == nil {
		t.Errorf("MaxInt64+1 did not report an overflow")
	}
	if _, err := AddCents(math.MinInt64, -1); err == nil {
		t.Errorf("MinInt64-1 did not report an overflow")
	}
	if got, err := AddCents(-5, 7); err != nil || got != 2 {
		t.Errorf("AddCents(-5, 7) = %d, %v", got, err)
	}
}

func TestOrderAmounts(t *testing.T) {
	at := time.Date(2026, 2, 1, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		name string
		row  OrderRow
		want Amounts
		err  bool
	}{
		{"placed", OrderRow{TotalCents: 1000}, Amounts{1000, 0, 1000, 0}, false},
		{"partly refunded", OrderRow{TotalCents: 1000, RefundedCents: 300}, Amounts{1000, 300, 700, 0}, false},
		{"fully refunded", OrderRow{Status: "refunded", TotalCents: 1000, RefundedCents: 1000}, Amounts{1000, 1000, 0, 0}, false},
		{"cancelled", OrderRow{Status: "cancelled", CancelledAt: &at, TotalCents: 1000}, Amounts{}, false},
		{"cancelled then refunded", OrderRow{Status: "refunded", CancelledAt: &at, TotalCents: 1000, RefundedCents: 1000}, Amounts{}, false},
		{"int64 max", OrderRow{TotalCents: math.MaxInt64, RefundedCents: math.MaxInt64}, Amounts{math.MaxInt64, math.MaxInt64, 0, 0}, false},
		{"refunds beyond the total", OrderRow{TotalCents: 1000, RefundedCents: 1001}, Amounts{}, true},
		{"negative refunds", OrderRow{TotalCents: 1000, RefundedCents: -2}, Amounts{}, true},
		{"negative total", OrderRow{TotalCents: -1}, Amounts{}, true},
		{"cancelled, refunds beyond the total", OrderRow{CancelledAt: &at, TotalCents: 1, RefundedCents: 2}, Amounts{}, true},
		{"tax is part of the total, not added", OrderRow{TotalCents: 1190, TaxCents: 190, RefundedCents: 100}, Amounts{1190, 100, 1090, 190}, false},
		{"all of the total is tax", OrderRow{TotalCents: 50, TaxCents: 50}, Amounts{50, 0, 50, 50}, false},
		{"a refund leaves the tax whole", OrderRow{Status: "refunded", TotalCents: 1190, TaxCents: 190, RefundedCents: 1190}, Amounts{1190, 1190, 0, 190}, false},
		{"cancelled: no tax either", OrderRow{Status: "cancelled", CancelledAt: &at, TotalCents: 1190, TaxCents: 190}, Amounts{}, false},
		{"int64 max tax", OrderRow{TotalCents: math.MaxInt64, TaxCents: math.MaxInt64}, Amounts{math.MaxInt64, 0, math.MaxInt64, math.MaxInt64}, false},
		{"tax beyond the total", OrderRow{TotalCents: 100, TaxCents: 101}, Amounts{}, true},
		{"negative tax", OrderRow{TotalCents: 100, TaxCents: -1}, Amounts{}, true},
		{"cancelled, tax beyond the total", OrderRow{CancelledAt: &at, TotalCents: 1, TaxCents: 2}, Amounts{}, true},
	}
	for _, tt := range tests {
		got, err := OrderAmounts(tt.row)
		if (err != nil) != tt.err || (err != nil && !errors.Is(err, ErrAmountOutOfRange)) {
			t.Errorf("%s: error %v, want error %v wrapping ErrAmountOutOfRange", tt.name, err, tt.err)
		}
		if diff := cmp.Diff(tt.want, got); diff != "" {
			t.Errorf("%s (-want +got):\n%s", tt.name, diff)
		}
	}
}

func TestTotalsOverflowIsAnError(t *testing.T) {
	var tot Totals
	o := OrderRow{OrderID: "ord_1", Currency: "EUR", TotalCents: math.MaxInt64}
	if err := tot.AddOrder(o); err != nil {
		t.Fatal(err)
	}
	if err := tot.AddOrder(o); !errors.Is(err, ErrAmountOutOfRange) {
		t.Errorf("second int64-max order: %v, want ErrAmountOutOfRange", err)
	}
	// Another currency is a separate sum.
	if err := tot.AddOrder(OrderRow{Currency: "USD", TotalCents: 5}); err != nil {
		t.Error(err)
	}
	if got := tot.Of("EUR"); got.Gross != math.MaxInt64 || got.Orders != 1 {
		t.Errorf("EUR total after the failed add = %+v, want the first order only", got)
	}
	days := []MerchantDayRow{{Currency: "EUR", GrossCents: math.MaxInt64, NetCents: math.MaxInt64}, {Currency: "EUR", GrossCents: 1, NetCents: 1}}
	var dt Totals
	if err := dt.AddDay(days[0]); err != nil {
		t.Fatal(err)
	}
	if err := dt.AddDay(days[1]); !errors.Is(err, ErrAmountOutOfRange) {
		t.Errorf("day overflow: %v, want ErrAmountOutOfRange", err)
	}
	// Tax is summed with the same checks, even where gross still fits.
	var tt Totals
	taxed := MerchantDayRow{Currency: "EUR", GrossCents: 1, NetCents: 1, TaxCents: math.MaxInt64}
	if err := tt.AddDay(taxed); err != nil {
		t.Fatal(err)
	}
	if err := tt.AddDay(taxed); !errors.Is(err, ErrAmountOutOfRange) || !strings.Contains(err.Error(), "tax") {
		t.Errorf("tax overflow: %v, want ErrAmountOutOfRange naming tax", err)
	}
	pdf := renderErr(t, Document{Type: TypeOrderHistory, Header: testHeader(TypeOrderHistory), RowCount: 2,
		Orders: seq(t, []OrderRow{o, o})})
	if !errors.Is(pdf, ErrAmountOutOfRange) {
		t.Errorf("PDF of two int64-max orders: %v, want ErrAmountOutOfRange", pdf)
	}
}

func renderErr(tb testing.TB, doc Document) error {
	tb.Helper()
	_, err := Render(context.Background(), io.Discard, FormatPDF, doc)
	return err
}
