package report

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

const year = 366 * 24 * time.Hour

func TestValidateRequest(t *testing.T) {
	ok := Params{CustomerID: "cus_42", From: "2026-01-01", To: "2026-03-31"}
	long := strings.Repeat("a", 65)
	tests := []struct {
		name string
		typ  Type
		f    Format
		p    Params
		max  time.Duration
		want []FieldError
	}{
		{"valid order history", TypeOrderHistory, FormatPDF, ok, year, nil},
		{"valid merchant sales", TypeMerchantSales, FormatCSV, Params{MerchantID: "mer-7", From: "2026-01-01", To: "2026-01-01"}, year, nil},
		{"no bound", TypeOrderHistory, FormatPDF, Params{CustomerID: "c", From: "2000-01-01", To: "2026-01-01"}, 0, nil},
		{"exactly the bound", TypeOrderHistory, FormatPDF, Params{CustomerID: "c", From: "2026-01-01", To: "2026-01-31"}, 31 * 24 * time.Hour, nil},
		{"over the bound", TypeOrderHistory, FormatPDF, Params{CustomerID: "c", From: "2026-01-01", To: "2026-02-01"}, 31 * 24 * time.Hour,
			[]FieldError{{"params.to", "period must not exceed 31 days"}}},
		{"far-apart dates do not overflow the bound", TypeOrderHistory, FormatPDF, Params{CustomerID: "c", From: "0001-01-01", To: "9999-12-31"}, 1098 * 24 * time.Hour,
			[]FieldError{{"params.to", "period must not exceed 1098 days"}}},
		{"past 292 years", TypeOrderHistory, FormatPDF, Params{CustomerID: "c", From: "1700-01-01", To: "2026-01-01"}, 100 * year,
			[]FieldError{{"params.to", "period must not exceed 36600 days"}}},
		{"NUL in an id", TypeOrderHistory, FormatPDF, Params{CustomerID: "c\x00", From: "2026-01-01", To: "2026-01-02"}, year,
			[]FieldError{{"params.customer_id", "must contain only letters, digits, '_', '-', '.' and ':'"}}},
		{"missing everything", "", "", Params{}, year, []FieldError{
			{"type", "is required"}, {"format", "is required"}, {"params.from", "is required"}, {"params.to", "is required"}}},
		{"unknown type and format", "sales", "docx", ok, year, []FieldError{
			{"type", "must be one of order_history, merchant_sales"}, {"format", "must be one of pdf, csv, xlsx"}}},
		{"bad dates", TypeOrderHistory, FormatPDF, Params{CustomerID: "c", From: "2026-1-1", To: "2026-02-30"}, year, []FieldError{
			{"params.from", "must be a date in YYYY-MM-DD form"}, {"params.to", "must be a date in YYYY-MM-DD form"}}},
		{"datetime is not a date", TypeOrderHistory, FormatPDF, Params{CustomerID: "c", From: "2026-01-01T00:00:00Z", To: "2026-01-02"}, year,
			[]FieldError{{"params.from", "must be a date in YYYY-MM-DD form"}}},
		{"to before from", TypeOrderHistory, FormatPDF, Params{CustomerID: "c", From: "2026-02-01", To: "2026-01-31"}, year,
			[]FieldError{{"params.to", "must not be before params.from"}}},
		{"order history needs customer", TypeOrderHistory, FormatPDF, Params{MerchantID: "mer_7", From: "2026-01-01", To: "2026-01-02"}, year, []FieldError{
			{"params.customer_id", "is required for type order_history"}, {"params.merchant_id", "is not allowed for type order_history"}}},
		{"merchant sales needs merchant", TypeMerchantSales, FormatPDF, ok, year, []FieldError{
			{"params.merchant_id", "is required for type merchant_sales"}, {"params.customer_id", "is not allowed for type merchant_sales"}}},
		{"bad id characters", TypeOrderHistory, FormatPDF, Params{CustomerID: "cus 42/../x", From: "2026-01-01", To: "2026-01-02"}, year,
			[]FieldError{{"params.customer_id", "must contain only letters, digits, '_', '-', '.' and ':'"}}},
		{"id too long", TypeMerchantSales, FormatPDF, Params{MerchantID: long, From: "2026-01-01", To: "2026-01-02"}, year,
			[]FieldError{{"params.merchant_id", "must be at most 64 characters"}}},
		{"id of 64 is fine", TypeMerchantSales, FormatPDF, Params{MerchantID: long[:64], From: "2026-01-01", To: "2026-01-02"}, year, nil},
		{"non-ascii id", TypeOrderHistory, FormatPDF, Params{CustomerID: "cüs", From: "2026-01-01", To: "2026-01-02"}, year,
			[]FieldError{{"params.customer_id", "must contain only letters, digits, '_', '-', '.' and ':'"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := ValidateRequest(tt.typ, tt.f, tt.p, tt.max)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("ValidateRequest (-want +got):\n%s", diff)
			}
		})
	}
}

func TestPeriod(t *testing.T) {
	from, to, err := Params{From: "2026-01-01", To: "2026-03-31"}.Period()
	if err != nil {
		t.Fatal(err)
	}
	want := []time.Time{time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(2026, 3, 31, 0, 0, 0, 0, time.UTC)}
	if diff := cmp.Diff(want, []time.Time{from, to}); diff != "" {
		t.Errorf("Period (-want +got):\n%s", diff)
	}
	for _, p := range []Params{{From: "2026-01-02", To: "2026-01-01"}, {From: "x", To: "2026-01-01"}, {From: "2026-01-01", To: ""}} {
		if _, _, err := p.Period(); err == nil {
			t.Errorf("Period(%+v) accepted", p)
		}
	}
}

func TestFilename(t *testing.T) {
	tests := []struct {
		doc  Document
		f    Format
		want string
	}{
		{Document{Type: TypeOrderHistory, Header: testHeader(TypeOrderHistory)}, FormatPDF, "order-history_cus_42_2026-01-01_2026-03-31.pdf"},
		{Document{Type: TypeMerchantSales, Header: testHeader(TypeMerchantSales)}, FormatCSV, "merchant-sales_mer_7_2026-01-01_2026-03-31.csv"},
		{Document{Type: TypeOrderHistory, Header: Header{SubjectID: `a"b/c\d é`}}, FormatPDF, "order-history_a-b-c-d--.pdf"},
		{Document{}, FormatCSV, "report.csv"},
	}
	for _, tt := range tests {
		if got := Filename(tt.doc, tt.f); got != tt.want {
			t.Errorf("Filename = %q, want %q", got, tt.want)
		}
	}
}
