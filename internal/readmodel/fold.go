package readmodel

import (
	"fmt"
	"math/big"
	"time"

	"github.com/reportd/reportd/internal/orderevents"
	"github.com/reportd/reportd/internal/report"
)

// orderState is one order folded from its events in sequence order: a row of
// customer_order_history (and of merchant_sales_orders).
type orderState struct {
	ClientID       string
	OrderID        string
	LastSequence   int64
	CustomerID     string
	MerchantID     string
	Status         string
	PlacedAt       *time.Time
	PaidAt         *time.Time
	ShippedAt      *time.Time
	CancelledAt    *time.Time
	ItemCount      int32
	Currency       string
	TotalCents     int64
	TaxCents       int64 // of TotalCents
	RefundedCents  int64
	Carrier        string
	TrackingNumber string
}

// logEvent is one row of the order event log.
type logEvent struct {
	Position   int64
	ClientID   string
	OrderID    string
	Sequence   int64
	Type       string
	Version    int // schema_version
	OccurredAt time.Time
	Data       []byte
}

// decodeFunc decodes an event's payload, upcast to its type's latest schema
// version: orderevents.Decode unless a test swaps in another decoder.
type decodeFunc func(typ string, version int, data []byte) (any, error)

// apply folds one event into the order, or fails and leaves the order as it
// was. The status is the one the last applied event implies; timestamps keep
// the first occurrence, so a repeated PaymentCaptured does not move paid_at.
//
// It fails on a payload that does not decode, a negative amount or
// quantity, and a result that breaks report.OrderAmounts (refunds beyond the
// total). The edge validates all of this too, but the log may hold events
// from before a rule existed, or from a newer event version.
func (o *orderState) apply(e *logEvent, decode decodeFunc) error {
	data, err := decode(e.Type, e.Version, e.Data)
	if err != nil {
		return err
	}
	next := *o
	next.LastSequence = e.Sequence
	at := e.OccurredAt.UTC()
	switch d := data.(type) {
	case orderevents.OrderPlaced:
		next.CustomerID, next.MerchantID, next.Currency = d.CustomerID, d.MerchantID, d.Currency
		next.PlacedAt = &at
		var n, tax int64
		for i, it := range d.Items {
			if it.Qty < 0 {
				return fmt.Errorf("item %d: quantity %d is negative: %w", i, it.Qty, report.ErrAmountOutOfRange)
			}
			if it.TaxCents < 0 {
				return fmt.Errorf("item %d: tax %d is negative: %w", i, it.TaxCents, report.ErrAmountOutOfRange)
			}
			n = min(n+min(it.Qty, 1<<31), 1<<31-1) // a count, so it saturates
			if tax, err = report.AddCents(tax, it.TaxCents); err != nil {
				return fmt.Errorf("item %d: tax: %w", i, err)
			}
		}
		next.ItemCount = int32(n) //nolint:gosec // n <= 1<<31-1 above
		next.TotalCents, next.TaxCents = d.TotalCents, tax
		next.Status = "placed"
	case orderevents.PaymentCaptured:
		if next.PaidAt == nil {
			next.PaidAt = &at
		}
		next.Status = "paid"
	case orderevents.OrderShipped:
		if next.ShippedAt == nil {
			next.ShippedAt = &at
		}
		next.Carrier, next.TrackingNumber = d.Carrier, d.TrackingNumber
		next.Status = "shipped"
	case orderevents.OrderCancelled:
		if next.CancelledAt == nil {
			next.CancelledAt = &at
		}
		next.Status = "cancelled"
	case orderevents.OrderRefunded:
		if d.AmountCents < 0 {
			return fmt.Errorf("refund of %d is negative: %w", d.AmountCents, report.ErrAmountOutOfRange)
		}
		if next.RefundedCents, err = report.AddCents(next.RefundedCents, d.AmountCents); err != nil {
			return fmt.Errorf("refund of %d: %w", d.AmountCents, err)
		}
		next.Status = "refunded"
	default:
		return fmt.Errorf("apply %s: no fold for payload %T", e.Type, data)
	}
	if _, err := report.OrderAmounts(next.row()); err != nil {
		return fmt.Errorf("apply %s: %w", e.Type, err)
	}
	*o = next
	return nil
}

// row is the order as reports see it.
func (o *orderState) row() report.OrderRow {
	r := report.OrderRow{
		OrderID: o.OrderID, CustomerID: o.CustomerID, MerchantID: o.MerchantID, Status: o.Status,
		PaidAt: o.PaidAt, ShippedAt: o.ShippedAt, CancelledAt: o.CancelledAt, ItemCount: int(o.ItemCount),
		Currency: o.Currency, TotalCents: o.TotalCents, TaxCents: o.TaxCents, RefundedCents: o.RefundedCents,
		Carrier: o.Carrier, TrackingNumber: o.TrackingNumber,
	}
	if o.PlacedAt != nil {
		r.PlacedAt = *o.PlacedAt
	}
	return r
}

// dayKey names one merchant_daily_sales row.
type dayKey struct {
	ClientID   string
	MerchantID string
	Day        time.Time // midnight UTC
	Currency   string
}

// share is what one order adds to its merchant_daily_sales row.
type share struct {
	Orders, Cancellations int64
	report.Amounts
}

// contribution is what one order adds to merchant_daily_sales: nothing until
// it is placed; then one order, one cancellation if it is cancelled, and the
// money report.OrderAmounts gives it.
func (o *orderState) contribution() (dayKey, share, bool, error) {
	if o == nil || o.PlacedAt == nil || o.MerchantID == "" {
		return dayKey{}, share{}, false, nil
	}
	a, err := report.OrderAmounts(o.row())
	if err != nil {
		return dayKey{}, share{}, false, err
	}
	p := o.PlacedAt.UTC()
	k := dayKey{ClientID: o.ClientID, MerchantID: o.MerchantID, Day: time.Date(p.Year(), p.Month(), p.Day(), 0, 0, 0, 0, time.UTC), Currency: o.Currency}
	s := share{Orders: 1, Amounts: a}
	if o.CancelledAt != nil {
		s.Cancellations = 1
	}
	return k, s, true, nil
}

// dayDelta is a change to one merchant_daily_sales row. The sums of a pass
// are unbounded (many orders of up to 2^63-1 each), so they are big.Int, as
// the columns are numeric.
type dayDelta struct {
	Orders, Cancellations    int64
	Gross, Refunds, Net, Tax big.Int
}

func (d *dayDelta) add(s share, sign int64) {
	var x big.Int
	d.Orders += sign * s.Orders
	d.Cancellations += sign * s.Cancellations
	d.Gross.Add(&d.Gross, x.Mul(x.SetInt64(s.Gross), big.NewInt(sign)))
	d.Refunds.Add(&d.Refunds, x.Mul(x.SetInt64(s.Refunds), big.NewInt(sign)))
	d.Net.Add(&d.Net, x.Mul(x.SetInt64(s.Net), big.NewInt(sign)))
	d.Tax.Add(&d.Tax, x.Mul(x.SetInt64(s.Tax), big.NewInt(sign)))
}

func (d *dayDelta) zero() bool {
	return d.Orders == 0 && d.Cancellations == 0 && d.Gross.Sign() == 0 && d.Refunds.Sign() == 0 && d.Net.Sign() == 0 && d.Tax.Sign() == 0
}
