package readmodel_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/reportd/reportd/internal/orderevents"
	"github.com/reportd/reportd/internal/report"
)

// TestOpenDocumentMinPosition: a snapshot behind the promised position
// refuses to hand out rows; one at or past it reads them.
func TestOpenDocumentMinPosition(t *testing.T) {
	ctx := context.Background()
	s, _ := newStore(t)
	at := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	first, err := s.Append(ctx, "cli_a", []orderevents.Event{
		event("o1", 1, orderevents.TypeOrderPlaced, placedItems("cus_1", "mer_1", "EUR", 1, 100), at)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.ProjectOnce(ctx); err != nil {
		t.Fatal(err)
	}
	// Appended but not projected: the checkpoint stays at first.Position.
	second, err := s.Append(ctx, "cli_a", []orderevents.Event{
		event("o2", 1, orderevents.TypeOrderPlaced, placedItems("cus_1", "mer_1", "EUR", 2, 100), at.Add(time.Hour))})
	if err != nil {
		t.Fatal(err)
	}
	params := report.Params{CustomerID: "cus_1", From: "2026-03-01", To: "2026-03-31"}
	for _, typ := range []report.Type{report.TypeOrderHistory, report.TypeMerchantSales} {
		p := params
		if typ == report.TypeMerchantSales {
			p = report.Params{MerchantID: "mer_1", From: params.From, To: params.To}
		}
		called := false
		err = s.OpenDocument(ctx, "cli_a", typ, p, second.Position, func(report.Document) error { called = true; return nil })
		if !errors.Is(err, report.ErrBehind) || called {
			t.Errorf("%s at min_position %d before projecting: err %v, fn called %t; want ErrBehind and no call", typ, second.Position, err, called)
		}
		// A subject the snapshot does not know yet is behind, not unknown.
		unknown := report.Params{CustomerID: "cus_new", MerchantID: "mer_new", From: params.From, To: params.To}
		if err := s.OpenDocument(ctx, "cli_a", typ, unknown, second.Position, func(report.Document) error { return nil }); !errors.Is(err, report.ErrBehind) {
			t.Errorf("%s of an unseen subject at min_position %d: %v, want ErrBehind", typ, second.Position, err)
		}
		if err := s.OpenDocument(ctx, "cli_a", typ, p, first.Position, func(doc report.Document) error {
			if doc.Header.DataPosition < first.Position {
				t.Errorf("%s: data position %d < %d", typ, doc.Header.DataPosition, first.Position)
			}
			return nil
		}); err != nil {
			t.Errorf("%s at min_position %d (reached): %v", typ, first.Position, err)
		}
	}

	if _, err := s.ProjectOnce(ctx); err != nil {
		t.Fatal(err)
	}
	rows := 0
	if err := s.OpenDocument(ctx, "cli_a", report.TypeOrderHistory, params, second.Position, func(doc report.Document) error {
		for _, err := range doc.Orders {
			if err != nil {
				return err
			}
			rows++
		}
		return nil
	}); err != nil || rows != 2 {
		t.Errorf("after projecting: %d rows, err %v; want 2 rows", rows, err)
	}
}

// TestOpenDocumentMerchantDaysReplay: merchant_sales rows may be ranged
// twice (the PDF's chart pass, then its table) and yield the same rows
// both times, though an event lands between the passes: both read the
// document's snapshot. In UTC and in a zone that folds orders at read time.
func TestOpenDocumentMerchantDaysReplay(t *testing.T) {
	ctx := context.Background()
	s, _ := newStore(t)
	at := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	if _, err := s.Append(ctx, "cli_a", []orderevents.Event{
		event("o1", 1, orderevents.TypeOrderPlaced, placedItems("cus_1", "mer_1", "EUR", 1, 100), at),
		event("o2", 1, orderevents.TypeOrderPlaced, placedItems("cus_1", "mer_1", "USD", 2, 250), at.Add(30*time.Hour)),
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.ProjectOnce(ctx); err != nil {
		t.Fatal(err)
	}
	for i, zone := range []string{"", "Asia/Tokyo"} {
		late := fmt.Sprintf("o3_%d", i)
		p := report.Params{MerchantID: "mer_1", From: "2026-03-01", To: "2026-03-31", Timezone: zone}
		var passes [2][]report.MerchantDayRow
		err := s.OpenDocument(ctx, "cli_a", report.TypeMerchantSales, p, 0, func(doc report.Document) error {
			for i := range passes {
				for d, err := range doc.MerchantDays {
					if err != nil {
						return err
					}
					passes[i] = append(passes[i], d)
				}
				if i == 0 { // a new order for the merchant, projected between the passes
					if _, err := s.Append(ctx, "cli_a", []orderevents.Event{event(late, 1, orderevents.TypeOrderPlaced,
						placedItems("cus_1", "mer_1", "EUR", 1, 999), at.Add(time.Hour))}); err != nil {
						return err
					}
					if _, err := s.ProjectOnce(ctx); err != nil {
						return err
					}
				}
			}
			return nil
		})
		if err != nil {
			t.Fatalf("zone %q: %v", zone, err)
		}
		if len(passes[0]) != 2 {
			t.Errorf("zone %q: first pass %d rows, want 2: %+v", zone, len(passes[0]), passes[0])
		}
		if diff := cmp.Diff(passes[0], passes[1]); diff != "" {
			t.Errorf("zone %q: second pass differs (-first +second):\n%s", zone, diff)
		}
		// A new snapshot does see the late order.
		var orders int
		if err := s.OpenDocument(ctx, "cli_a", report.TypeMerchantSales, p, 0, func(doc report.Document) error {
			for d, err := range doc.MerchantDays {
				if err != nil {
					return err
				}
				orders += d.Orders
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		if want := 3 + i; orders != want {
			t.Errorf("zone %q: a new snapshot has %d orders, want %d", zone, orders, want)
		}
	}
}
