package readmodel_test

import (
	"context"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/reportd/reportd/internal/orderevents"
	"github.com/reportd/reportd/internal/report"
)

// TestTimeZoneDayBucketing: an order placed at 2026-03-31T23:30Z is on
// 2026-04-01 in Europe/Berlin, so it is in April's rows and range there,
// and in March's in UTC.
func TestTimeZoneDayBucketing(t *testing.T) {
	ctx := context.Background()
	s, _ := newStore(t)
	late := time.Date(2026, 3, 31, 23, 30, 0, 0, time.UTC)
	noon := time.Date(2026, 3, 31, 12, 0, 0, 0, time.UTC)
	april := time.Date(2026, 4, 1, 10, 0, 0, 0, time.UTC)
	if _, err := s.Append(ctx, "cli_a", []orderevents.Event{
		event("o_late", 1, orderevents.TypeOrderPlaced, placedItems("cus_1", "mer_1", "EUR", 1, 1000), late),
		event("o_noon", 1, orderevents.TypeOrderPlaced, placedItems("cus_1", "mer_1", "EUR", 1, 200), noon),
		event("o_apr", 1, orderevents.TypeOrderPlaced, placedItems("cus_1", "mer_1", "EUR", 1, 30), april),
		event("o_apr", 2, orderevents.TypeOrderCancelled, orderevents.OrderCancelled{Reason: "r"}, april.Add(time.Hour)),
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.ProjectOnce(ctx); err != nil {
		t.Fatal(err)
	}

	day := func(s string) time.Time { d, _ := time.Parse(time.DateOnly, s); return d }
	merchantRows := func(p report.Params) (int, []report.MerchantDayRow) {
		t.Helper()
		var got []report.MerchantDayRow
		var count int
		if err := s.OpenDocument(ctx, "cli_a", report.TypeMerchantSales, p, 0, func(doc report.Document) error {
			count = doc.RowCount
			for r, err := range doc.MerchantDays {
				if err != nil {
					return err
				}
				got = append(got, r)
			}
			return nil
		}); err != nil {
			t.Fatalf("merchant_sales %+v: %v", p, err)
		}
		return count, got
	}
	orderIDs := func(p report.Params) []string {
		t.Helper()
		var got []string
		if err := s.OpenDocument(ctx, "cli_a", report.TypeOrderHistory, p, 0, func(doc report.Document) error {
			for r, err := range doc.Orders {
				if err != nil {
					return err
				}
				got = append(got, r.OrderID)
			}
			return nil
		}); err != nil {
			t.Fatalf("order_history %+v: %v", p, err)
		}
		return got
	}
	march := report.Params{MerchantID: "mer_1", From: "2026-03-01", To: "2026-03-31"}
	aprilP := report.Params{MerchantID: "mer_1", From: "2026-04-01", To: "2026-04-30"}

	berlinApril, berlinMarch := aprilP, march
	berlinApril.Timezone, berlinMarch.Timezone = "Europe/Berlin", "Europe/Berlin"
	n, got := merchantRows(berlinApril)
	want := []report.MerchantDayRow{{MerchantID: "mer_1", Day: day("2026-04-01"), Currency: "EUR", Orders: 2, Cancellations: 1,
		GrossCents: 1000, RefundsCents: 0, NetCents: 1000}}
	if diff := cmp.Diff(want, got); diff != "" || n != len(want) {
		t.Errorf("Berlin April rows (count %d) (-want +got):\n%s", n, diff)
	}
	n, got = merchantRows(berlinMarch)
	want = []report.MerchantDayRow{{MerchantID: "mer_1", Day: day("2026-03-31"), Currency: "EUR", Orders: 1, GrossCents: 200, NetCents: 200}}
	if diff := cmp.Diff(want, got); diff != "" || n != len(want) {
		t.Errorf("Berlin March rows (count %d) (-want +got):\n%s", n, diff)
	}

	// In UTC (the projector's table) the late order is on 31 March; the
	// read-time fold in a zone at UTC+0 gives the very same rows.
	n, utcRows := merchantRows(march)
	want = []report.MerchantDayRow{{MerchantID: "mer_1", Day: day("2026-03-31"), Currency: "EUR", Orders: 2, GrossCents: 1200, NetCents: 1200}}
	if diff := cmp.Diff(want, utcRows); diff != "" || n != len(want) {
		t.Errorf("UTC March rows (count %d) (-want +got):\n%s", n, diff)
	}
	etc := march
	etc.Timezone = "Etc/UTC"
	if _, got := merchantRows(etc); !cmp.Equal(utcRows, got) {
		t.Errorf("Etc/UTC rows folded at read time differ from merchant_daily_sales (-table +fold):\n%s", cmp.Diff(utcRows, got))
	}

	cus := func(p report.Params) report.Params { p.MerchantID, p.CustomerID = "", "cus_1"; return p }
	if diff := cmp.Diff([]string{"o_late", "o_apr"}, orderIDs(cus(berlinApril))); diff != "" {
		t.Errorf("Berlin April orders (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"o_noon"}, orderIDs(cus(berlinMarch))); diff != "" {
		t.Errorf("Berlin March orders (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"o_noon", "o_late"}, orderIDs(cus(march))); diff != "" {
		t.Errorf("UTC March orders (-want +got):\n%s", diff)
	}
}
