package app

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/reportd/reportd/internal/api"
	"github.com/reportd/reportd/internal/domain"
	"github.com/reportd/reportd/internal/postgres"
	"github.com/reportd/reportd/internal/readmodel"
)

// ordersAdapter maps the read model's audit trail onto the API's types.
type ordersAdapter struct{ rm *readmodel.Store }

func (o ordersAdapter) OrderEvents(ctx context.Context, clientID, orderID string, afterSeq int64, limit int) ([]api.OrderEvent, error) {
	list, err := o.rm.OrderEvents(ctx, clientID, orderID, afterSeq, limit)
	if err != nil {
		return nil, postgres.Classify(err)
	}
	out := make([]api.OrderEvent, len(list))
	for i, e := range list {
		out[i] = api.OrderEvent{Object: "order_event", EventID: e.EventID, OrderID: e.OrderID, Sequence: e.Sequence, Type: e.Type,
			SchemaVersion: e.SchemaVersion, OccurredAt: e.OccurredAt, RecordedAt: e.RecordedAt, Position: e.Position, Data: e.Data}
		if e.Upcast != nil {
			out[i].Upcast = &api.UpcastData{SchemaVersion: e.UpcastVersion, Data: e.Upcast}
		}
	}
	return out, nil
}

func (o ordersAdapter) OrderAsOf(ctx context.Context, clientID, orderID string, asOf time.Time) (api.OrderState, error) {
	s, err := o.rm.OrderAsOf(ctx, clientID, orderID, asOf)
	if errors.Is(err, readmodel.ErrNoOrderEvents) {
		return api.OrderState{}, fmt.Errorf("%w: %w", domain.ErrNotFound, err)
	}
	if err != nil {
		return api.OrderState{}, postgres.Classify(err)
	}
	str := func(v string) *string {
		if v == "" {
			return nil
		}
		return &v
	}
	st := api.OrderState{
		Object: "order", OrderID: orderID, AsOf: asOf, Status: str(s.Status),
		CustomerID: str(s.CustomerID), MerchantID: str(s.MerchantID), Currency: str(s.Currency),
		ItemCount: s.ItemCount, TotalCents: s.TotalCents, TaxCents: s.TaxCents, RefundedCents: s.RefundedCents, NetCents: s.Amounts.Net,
		PaidAt: s.PaidAt, ShippedAt: s.ShippedAt, CancelledAt: s.CancelledAt,
		Carrier: str(s.Carrier), TrackingNumber: str(s.TrackingNumber),
		LastSequence: s.LastSequence, EventsApplied: s.Applied, EventsHeld: s.Held,
	}
	if s.Applied > 0 && !s.PlacedAt.IsZero() {
		st.PlacedAt = &s.PlacedAt
	}
	if s.Parked != nil {
		st.Parked = &api.ParkedOrderEvent{EventID: s.Parked.EventID, Sequence: s.Parked.Sequence, Type: s.Parked.Type, Error: s.ParkedError}
	}
	return st, nil
}
