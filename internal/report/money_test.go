package report

import (
	"math"
	"testing"

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
		{0, "EUR", "0.00", "0.00", "0.00 EUR"},
		{5, "EUR", "0.05", "0.05", "0.05 EUR"},
		{-50, "EUR", "-0.50", "-0.50", "-0.50 EUR"},
		{123456, "EUR", "1234.56", "1,234.56", "1,234.56 EUR"},
		{100000000, "USD", "1000000.00", "1,000,000.00", "1,000,000.00 USD"},
		{-123456789, "GBP", "-1234567.89", "-1,234,567.89", "-1,234,567.89 GBP"},
		{1234, "JPY", "1234", "1,234", "1,234 JPY"},
		{999, "jpy", "999", "999", "999 JPY"},
		{1234567, "KWD", "1234.567", "1,234.567", "1,234.567 KWD"},
		{1, "BHD", "0.001", "0.001", "0.001 BHD"},
		{math.MaxInt64, "EUR", "92233720368547758.07", "92,233,720,368,547,758.07", "92,233,720,368,547,758.07 EUR"},
		{math.MinInt64, "EUR", "-92233720368547758.08", "-92,233,720,368,547,758.08", "-92,233,720,368,547,758.08 EUR"},
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
	if _, err := addCents(math.MaxInt64, 1); err == nil {
		t.Errorf("MaxInt64+1 did not report an overflow")
	}
	if _, err := addCents(math.MinInt64, -1); err == nil {
		t.Errorf("MinInt64-1 did not report an overflow")
	}
	if got, err := addCents(-5, 7); err != nil || got != 2 {
		t.Errorf("addCents(-5, 7) = %d, %v", got, err)
	}
}
