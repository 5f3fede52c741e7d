package readmodel_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/reportd/reportd/internal/orderevents"
	"github.com/reportd/reportd/internal/readmodel"
	"github.com/reportd/reportd/internal/seed"
)

// The fold as of now is the projection's row, order by order: one fold,
// two readers.
func TestOrderAsOfNowIsTheProjectedOrder(t *testing.T) {
	ctx := context.Background()
	s, pool := newStore(t)
	events, _ := seed.Events(seed.Options{Customers: 4, OrdersPerCustomer: 5, Seed: 7})
	appendAll(t, s, "cli_a", events, 37, false)
	projectAndReach(t, s, 0)

	rows, err := pool.Query(ctx, `SELECT order_id, last_sequence, status, total_cents, refunded_cents, item_count,
		coalesce(carrier, ''), paid_at FROM customer_order_history WHERE client_id = 'cli_a' ORDER BY order_id`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	n := 0
	for rows.Next() {
		n++
		var want readmodel.OrderSnapshot
		if err := rows.Scan(&want.OrderID, &want.LastSequence, &want.Status, &want.TotalCents, &want.RefundedCents,
			&want.ItemCount, &want.Carrier, &want.PaidAt); err != nil {
			t.Fatal(err)
		}
		got, err := s.OrderAsOf(ctx, "cli_a", want.OrderID, time.Now())
		if err != nil {
			t.Fatalf("order %s: %v", want.OrderID, err)
		}
		type view struct {
			Seq                    int64
			Status, Carrier        string
			Total, Refunded, Items int64
			Paid                   bool
		}
		if diff := cmp.Diff(
			view{want.LastSequence, want.Status, want.Carrier, want.TotalCents, want.RefundedCents, int64(want.ItemCount), want.PaidAt != nil},
			view{got.LastSequence, got.Status, got.Carrier, got.TotalCents, got.RefundedCents, int64(got.ItemCount), got.PaidAt != nil},
		); diff != "" {
			t.Errorf("order %s as of now (-projected +folded):\n%s", want.OrderID, diff)
		}
	}
	if n != 20 {
		t.Fatalf("projection holds %d orders, want 20", n)
	}
}

// As of a time, only the events that had occurred count; an event that
// fails to apply is parked and holds back the rest, as in the projector.
func TestOrderAsOfFoldsTheEventsOfItsTime(t *testing.T) {
	ctx := context.Background()
	s, _ := newStore(t)
	mustAppend(t, s, "cli_a",
		event("ord_1", 1, orderevents.TypeOrderPlaced, placed("cus_1", "mer_1", 1000), at(1)),
		event("ord_1", 2, orderevents.TypePaymentCaptured, orderevents.PaymentCaptured{AmountCents: 1000}, at(2)),
		event("ord_1", 3, orderevents.TypeOrderShipped, orderevents.OrderShipped{Carrier: "DHL", TrackingNumber: "1"}, at(3)),
		event("ord_1", 4, orderevents.TypeOrderRefunded, orderevents.OrderRefunded{AmountCents: 100}, at(4)),
		event("ord_gap", 1, orderevents.TypeOrderPlaced, placed("cus_1", "mer_1", 1000), at(1)),
		event("ord_gap", 3, orderevents.TypeOrderShipped, orderevents.OrderShipped{Carrier: "DHL", TrackingNumber: "1"}, at(3)))

	for _, tc := range []struct {
		asOf             time.Time
		status           string
		seq              int64
		applied, refunds int64
	}{
		{at(1), "placed", 1, 1, 0},
		{at(2).Add(30 * time.Minute), "paid", 2, 2, 0},
		{at(3), "shipped", 3, 3, 0},
		{at(9), "refunded", 4, 4, 100},
	} {
		got, err := s.OrderAsOf(ctx, "cli_a", "ord_1", tc.asOf)
		if err != nil || got.Status != tc.status || got.LastSequence != tc.seq || int64(got.Applied) != tc.applied || got.RefundedCents != tc.refunds {
			t.Errorf("as of %s: %+v, %v; want %s at sequence %d", tc.asOf, got, err, tc.status, tc.seq)
		}
	}
	if _, err := s.OrderAsOf(ctx, "cli_a", "ord_1", at(0)); !errors.Is(err, readmodel.ErrNoOrderEvents) {
		t.Errorf("before the first event: %v, want ErrNoOrderEvents", err)
	}
	if _, err := s.OrderAsOf(ctx, "cli_b", "ord_1", at(9)); !errors.Is(err, readmodel.ErrNoOrderEvents) {
		t.Errorf("another tenant: %v, want ErrNoOrderEvents", err)
	}
	gap, err := s.OrderAsOf(ctx, "cli_a", "ord_gap", at(9))
	if err != nil || gap.Status != "placed" || gap.Applied != 1 || gap.Held != 1 {
		t.Errorf("order with a gap: %+v, %v", gap, err)
	}

	readmodel.SetDecoder(s, func(typ string, version int, data []byte) (any, error) {
		if typ == orderevents.TypeOrderShipped {
			return nil, errors.New("decoder bug: cannot read OrderShipped")
		}
		return orderevents.Decode(typ, version, data)
	})
	parked, err := s.OrderAsOf(ctx, "cli_a", "ord_1", at(9))
	if err != nil || parked.Status != "paid" || parked.Applied != 2 || parked.Held != 1 || parked.Parked == nil ||
		parked.Parked.Sequence != 3 || parked.Parked.EventID != "evt_ord_1_3" || parked.ParkedError == "" {
		t.Errorf("with a parked event: %+v, %v", parked, err)
	}
}

func TestOrderEventsPageInSequenceOrder(t *testing.T) {
	ctx := context.Background()
	s, _ := newStore(t)
	mustAppend(t, s, "cli_a",
		event("ord_1", 3, orderevents.TypeOrderShipped, orderevents.OrderShipped{Carrier: "DHL", TrackingNumber: "1"}, at(3)),
		event("ord_1", 1, orderevents.TypeOrderPlaced, placed("cus_1", "mer_1", 1000), at(1)),
		event("ord_1", 2, orderevents.TypePaymentCaptured, orderevents.PaymentCaptured{AmountCents: 1000}, at(2)))
	mustAppend(t, s, "cli_b", event("ord_1", 1, orderevents.TypeOrderPlaced, placed("cus_1", "mer_1", 5), at(1)))
	var seqs []int64
	for after := int64(0); ; {
		page, err := s.OrderEvents(ctx, "cli_a", "ord_1", after, 2)
		if err != nil {
			t.Fatal(err)
		}
		if len(page) == 0 {
			break
		}
		for _, e := range page {
			seqs = append(seqs, e.Sequence)
		}
		after = page[len(page)-1].Sequence
	}
	if diff := cmp.Diff([]int64{1, 2, 3}, seqs); diff != "" {
		t.Errorf("sequences (-want +got):\n%s", diff)
	}
}
