package report

import (
	"strings"
	"testing"
	"time"
)

// FuzzValidateRequest checks that whatever a client sends, validation never
// panics, names only known fields, and that anything it accepts has a
// period that parses and respects the bound.
func FuzzValidateRequest(f *testing.F) {
	f.Add("order_history", "pdf", "cus_42", "", "2026-01-01", "2026-03-31", int64(366))
	f.Add("merchant_sales", "csv", "", "mer_7", "2026-02-28", "2026-02-28", int64(31))
	f.Add("order_history", "pdf", "cus_42", "mer_7", "2026-13-01", "2026-00-10", int64(0))
	f.Fuzz(func(t *testing.T, typ, format, customer, merchant, from, to string, maxDays int64) {
		maxRange := time.Duration(maxDays%100000) * 24 * time.Hour
		p := Params{CustomerID: customer, MerchantID: merchant, From: from, To: to}
		errs := ValidateRequest(Type(typ), Format(format), p, maxRange)
		for _, e := range errs {
			switch e.Field {
			case "type", "format", "params.from", "params.to", "params.customer_id", "params.merchant_id":
			default:
				t.Fatalf("unknown field %q", e.Field)
			}
			if e.Message == "" {
				t.Fatalf("empty message for %s", e.Field)
			}
		}
		if len(errs) > 0 {
			return
		}
		start, end, err := p.Period()
		if err != nil {
			t.Fatalf("accepted params whose Period fails: %v", err)
		}
		if end.Before(start) || (maxRange > 0 && end.Sub(start)+24*time.Hour > maxRange) {
			t.Fatalf("accepted period %s..%s beyond %s", start, end, maxRange)
		}
		name := Filename(Document{Type: Type(typ), Header: Header{SubjectID: customer + merchant, From: start, To: end}}, Format(format))
		if strings.ContainsAny(name, "\"\\/; \r\n") {
			t.Fatalf("unsafe filename %q", name)
		}
	})
}
