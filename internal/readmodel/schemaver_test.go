package readmodel_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/reportd/reportd/internal/orderevents"
	"github.com/reportd/reportd/internal/readmodel"
)

// An event of a schema version this release does not know (written by a
// newer release that was rolled back) is parked for its own order, with an
// error that says so, in both projections and in the order's as_of fold; the
// audit trail still lists it as stored, without an upcast. Nothing fails.
func TestUnknownSchemaVersionInTheLogIsParked(t *testing.T) {
	ctx := context.Background()
	s, _ := newStore(t)
	at := time.Date(2026, 2, 1, 10, 0, 0, 0, time.UTC)
	placed := event("ord_new", 1, orderevents.TypeOrderPlaced, orderevents.OrderPlaced{CustomerID: "cus_1", MerchantID: "mer_1", Currency: "EUR",
		Items: []orderevents.Item{{SKU: "a", Qty: 1, UnitPriceCents: 100, TaxCents: 19}}, TotalCents: 119}, at)
	placed.SchemaVersion = 3
	ok := event("ord_ok", 1, orderevents.TypeOrderPlaced, orderevents.OrderPlaced{CustomerID: "cus_1", MerchantID: "mer_1", Currency: "EUR",
		Items: []orderevents.Item{{SKU: "a", Qty: 1, UnitPriceCents: 100, TaxCents: 19}}, TotalCents: 119}, at)
	mustAppend(t, s, "cli_a", placed, ok,
		event("ord_new", 2, orderevents.TypePaymentCaptured, orderevents.PaymentCaptured{AmountCents: 119}, at.Add(time.Minute)))
	project(t, s)

	if diff := cmp.Diff(both(1, 1), counts(t, s)); diff != "" {
		t.Errorf("held and parked (-want +got):\n%s", diff)
	}
	parked, err := s.Parked(ctx, readmodel.ParkedFilter{})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range parked {
		if p.OrderID != "ord_new" || !strings.Contains(p.Error, "unknown schema_version 3") {
			t.Errorf("parked %+v, want ord_new for its unknown schema_version", p)
		}
	}
	snap, err := s.OrderAsOf(ctx, "cli_a", "ord_new", at.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if snap.Parked == nil || snap.Parked.SchemaVersion != 3 || snap.Applied != 0 || snap.Held != 1 {
		t.Errorf("ord_new as of now: %+v", snap)
	}
	okSnap, err := s.OrderAsOf(ctx, "cli_a", "ord_ok", at.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if okSnap.TotalCents != 119 || okSnap.TaxCents != 19 || okSnap.Amounts.Gross != 119 {
		t.Errorf("ord_ok as of now: total %d, tax %d, gross %d; want 119, 19, 119", okSnap.TotalCents, okSnap.TaxCents, okSnap.Amounts.Gross)
	}
	trail, err := s.OrderEvents(ctx, "cli_a", "ord_new", 0, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(trail) != 2 || trail[0].SchemaVersion != 3 || trail[0].Upcast != nil || trail[1].SchemaVersion != 1 {
		t.Errorf("audit trail of ord_new: %+v", trail)
	}
}
