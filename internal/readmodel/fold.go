package readmodel

import (
	"time"

	"github.com/reportd/reportd/internal/orderevents"
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
	OccurredAt time.Time
	Data       []byte
}

// apply folds one event into the order. The status is the one the last
// applied event implies; timestamps keep the first occurrence, so a repeated
// PaymentCaptured does not move paid_at. It fails only on a payload that
// does not decode, which validation makes impossible for logged events.
func (o *orderState) apply(e *logEvent) error {
	o.LastSequence = e.Sequence
	data, err := orderevents.DecodeData(e.Type, e.Data)
	if err != nil {
		return err
	}
	at := e.OccurredAt.UTC()
	switch d := data.(type) {
	case orderevents.OrderPlaced:
		o.CustomerID, o.MerchantID, o.Currency = d.CustomerID, d.MerchantID, d.Currency
		o.PlacedAt = &at
		var n int64
		for _, it := range d.Items {
			n += it.Qty
		}
		o.ItemCount = int32(min(n, 1<<31-1))
		o.TotalCents = d.TotalCents
		o.Status = "placed"
	case orderevents.PaymentCaptured:
		if o.PaidAt == nil {
			o.PaidAt = &at
		}
		o.Status = "paid"
	case orderevents.OrderShipped:
		if o.ShippedAt == nil {
			o.ShippedAt = &at
		}
		o.Carrier, o.TrackingNumber = d.Carrier, d.TrackingNumber
		o.Status = "shipped"
	case orderevents.OrderCancelled:
		if o.CancelledAt == nil {
			o.CancelledAt = &at
		}
		o.Status = "cancelled"
	case orderevents.OrderRefunded:
		o.RefundedCents += d.AmountCents
		o.Status = "refunded"
	}
	return nil
}

// dayKey names one merchant_daily_sales row.
type dayKey struct {
	ClientID   string
	MerchantID string
	Day        time.Time // midnight UTC
	Currency   string
}

// dayDelta is a change to one merchant_daily_sales row.
type dayDelta struct {
	Orders, Cancellations int32
	Gross, Refunds, Net   int64
}

// contribution is what one order adds to merchant_daily_sales: nothing until
// it is placed; a cancelled order counts in orders and cancellations only.
func (o *orderState) contribution() (dayKey, dayDelta, bool) {
	if o == nil || o.PlacedAt == nil || o.MerchantID == "" {
		return dayKey{}, dayDelta{}, false
	}
	p := o.PlacedAt.UTC()
	k := dayKey{ClientID: o.ClientID, MerchantID: o.MerchantID, Day: time.Date(p.Year(), p.Month(), p.Day(), 0, 0, 0, 0, time.UTC), Currency: o.Currency}
	d := dayDelta{Orders: 1}
	if o.CancelledAt != nil {
		d.Cancellations = 1
		return k, d, true
	}
	d.Gross, d.Refunds, d.Net = o.TotalCents, o.RefundedCents, o.TotalCents-o.RefundedCents
	return k, d, true
}

func (d *dayDelta) add(o dayDelta, sign int) {
	s32, s64 := int32(sign), int64(sign) //nolint:gosec // sign is +1 or -1
	d.Orders += s32 * o.Orders
	d.Cancellations += s32 * o.Cancellations
	d.Gross += s64 * o.Gross
	d.Refunds += s64 * o.Refunds
	d.Net += s64 * o.Net
}

func (d *dayDelta) zero() bool { return *d == dayDelta{} }
