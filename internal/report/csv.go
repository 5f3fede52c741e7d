package report

import (
	"bufio"
	"context"
	"encoding/csv"
	"fmt"
	"io"
	"strconv"
	"time"
)

// CSV layout: RFC 4180 via encoding/csv, UTF-8 without a byte-order mark,
// one header row, then one record per input row in input order. Money is a
// plain decimal string in the currency's own exponent next to a currency
// column. Totals are deliberately NOT included: every record is a data row,
// so the file sums cleanly in a spreadsheet or a script.
//
// New columns go at the end of a header (tax did), so that a parser that
// reads columns by position keeps working.
//
// Free-text cells that a spreadsheet would run as a formula (starting with
// = + - @ tab or CR) are prefixed with a single quote.

var orderCSVHeader = []string{
	"order_id", "customer_id", "merchant_id", "status",
	"placed_at", "paid_at", "shipped_at", "cancelled_at",
	"item_count", "currency", "total", "refunded", "carrier", "tracking_number",
	"tax", // the tax included in total
}

var merchantCSVHeader = []string{
	"merchant_id", "day", "currency", "orders", "cancellations", "gross", "refunds", "net",
	"tax", // the tax included in gross
}

func renderCSV(ctx context.Context, w io.Writer, doc Document) (Stats, error) {
	bw := bufio.NewWriterSize(w, 64<<10)
	cw := csv.NewWriter(bw)
	var st Stats
	write := func(rec []string) error {
		if err := cw.Write(rec); err != nil {
			return fmt.Errorf("write csv row %d: %w", st.Rows+1, err)
		}
		return nil
	}

	switch doc.Type {
	case TypeOrderHistory:
		if doc.Orders == nil {
			return st, fmt.Errorf("render %s: no order rows", doc.Type)
		}
		if err := write(orderCSVHeader); err != nil {
			return st, err
		}
		for r, err := range doc.Orders {
			if err != nil {
				return st, fmt.Errorf("read order row %d: %w", st.Rows+1, err)
			}
			if err := ctx.Err(); err != nil {
				return st, fmt.Errorf("render csv: %w", err)
			}
			if err := write(orderRecord(r)); err != nil {
				return st, err
			}
			st.Rows++
		}
	case TypeMerchantSales:
		if doc.MerchantDays == nil {
			return st, fmt.Errorf("render %s: no merchant rows", doc.Type)
		}
		if err := write(merchantCSVHeader); err != nil {
			return st, err
		}
		for r, err := range doc.MerchantDays {
			if err != nil {
				return st, fmt.Errorf("read merchant row %d: %w", st.Rows+1, err)
			}
			if err := ctx.Err(); err != nil {
				return st, fmt.Errorf("render csv: %w", err)
			}
			if err := write(merchantRecord(r)); err != nil {
				return st, err
			}
			st.Rows++
		}
	default:
		return st, fmt.Errorf("render csv: unknown report type %q", doc.Type)
	}
	cw.Flush()
	if err := cw.Error(); err != nil {
		return st, fmt.Errorf("flush csv: %w", err)
	}
	if err := bw.Flush(); err != nil {
		return st, fmt.Errorf("flush csv: %w", err)
	}
	return st, nil
}

func orderRecord(r OrderRow) []string {
	return []string{
		cellText(r.OrderID), cellText(r.CustomerID), cellText(r.MerchantID), cellText(r.Status),
		csvTime(&r.PlacedAt), csvTime(r.PaidAt), csvTime(r.ShippedAt), csvTime(r.CancelledAt),
		strconv.Itoa(r.ItemCount), cellText(r.Currency),
		DecimalString(r.TotalCents, r.Currency), DecimalString(r.RefundedCents, r.Currency),
		cellText(r.Carrier), cellText(r.TrackingNumber),
		DecimalString(r.TaxCents, r.Currency),
	}
}

func merchantRecord(r MerchantDayRow) []string {
	return []string{
		cellText(r.MerchantID), r.Day.UTC().Format(dayLayout), cellText(r.Currency),
		strconv.Itoa(r.Orders), strconv.Itoa(r.Cancellations),
		DecimalString(r.GrossCents, r.Currency), DecimalString(r.RefundsCents, r.Currency),
		DecimalString(r.NetCents, r.Currency), DecimalString(r.TaxCents, r.Currency),
	}
}

// csvTime is RFC 3339 in UTC, or empty for a missing or zero time.
func csvTime(t *time.Time) string {
	if t == nil || t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}

// cellText defuses spreadsheet formula injection in free text.
func cellText(s string) string {
	if s == "" {
		return s
	}
	switch s[0] {
	case '=', '+', '-', '@', '\t', '\r':
		return "'" + s
	}
	return s
}
