package postgres_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/reportd/reportd/internal/orderevents"
	"github.com/reportd/reportd/internal/pgtest"
	"github.com/reportd/reportd/internal/postgres"
	"github.com/reportd/reportd/internal/readmodel"
)

// TestMigrationBackfillsDailyTax: migration 00014 fills merchant_daily_sales'
// tax from the projection's per-order fold with the projector's rules, in
// the live tables and in the retired version kept for rollback, so that a
// verify finds no drift before or after a rollback.
func TestMigrationBackfillsDailyTax(t *testing.T) {
	ctx := context.Background()
	pool := pgtest.New(t)
	if _, err := pool.Exec(ctx, "INSERT INTO clients (id, name) VALUES ('cli_a', 'Client A')"); err != nil {
		t.Fatal(err)
	}
	rm := readmodel.NewStore(pool, pool, slog.New(slog.DiscardHandler))
	day1 := time.Date(2026, 2, 1, 10, 0, 0, 0, time.UTC)
	day2 := day1.AddDate(0, 0, 1)
	placed := func(order string, at time.Time, cur string, unit, tax int64) orderevents.Event {
		return taxEvent(order, 1, orderevents.TypeOrderPlaced, orderevents.OrderPlaced{CustomerID: "cus_1", MerchantID: "mer_1", Currency: cur,
			Items: []orderevents.Item{{SKU: "s", Qty: 2, UnitPriceCents: unit, TaxCents: tax}}, TotalCents: 2*unit + tax}, at)
	}
	v1 := taxEvent("o_v1", 1, orderevents.TypeOrderPlaced, orderevents.OrderPlacedV1{CustomerID: "cus_1", MerchantID: "mer_1", Currency: "EUR",
		Items: []orderevents.ItemV1{{SKU: "s", Qty: 1, UnitPriceCents: 500}}, TotalCents: 500}, day1)
	v1.SchemaVersion = orderevents.SchemaVersion1
	events := []orderevents.Event{
		placed("o_1", day1, "EUR", 1000, 380),
		placed("o_2", day1, "EUR", 2000, 760),
		v1,
		placed("o_3", day1, "JPY", 900, 180),
		placed("o_4", day2, "EUR", 100, 38), // cancelled: no tax
		taxEvent("o_4", 2, orderevents.TypeOrderCancelled, orderevents.OrderCancelled{Reason: "r"}, day2.Add(time.Hour)),
		placed("o_5", day2, "EUR", 300, 114), // refunded: the tax stays
		taxEvent("o_5", 2, orderevents.TypeOrderRefunded, orderevents.OrderRefunded{AmountCents: 714}, day2.Add(time.Hour)),
	}
	if _, err := rm.Append(ctx, "cli_a", events); err != nil {
		t.Fatal(err)
	}
	if _, err := rm.ProjectOnce(ctx); err != nil {
		t.Fatal(err)
	}
	// A rebuild retires the first version into a schema of its own.
	if err := rm.Rebuild(ctx, readmodel.ProjectionMerchantDailySales, nil); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"2026-02-01 EUR": "1140", "2026-02-01 JPY": "180", "2026-02-02 EUR": "114"}
	if diff := cmp.Diff(want, dailyTax(t, pool)); diff != "" {
		t.Fatalf("tax as the projector sums it (-want +got):\n%s", diff)
	}

	if err := postgres.MigrateDownTo(ctx, pool, 13); err != nil {
		t.Fatalf("migrate down to 00013: %v", err)
	}
	var cols int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM information_schema.columns
		WHERE table_name = 'merchant_daily_sales' AND column_name = 'tax_cents'`).Scan(&cols); err != nil || cols != 0 {
		t.Fatalf("after the down migration %d tables have tax_cents (%v), want none", cols, err)
	}
	migrateUp(t, pool)
	if diff := cmp.Diff(want, dailyTax(t, pool)); diff != "" {
		t.Errorf("tax after the backfill (-projector +migration):\n%s", diff)
	}
	if _, err := rm.Verify(ctx, readmodel.ProjectionMerchantDailySales, 10, nil); err != nil {
		t.Errorf("verify after the backfill: %v", err)
	}
	// The retired version was backfilled too: rolled back to, it is a
	// fresh fold's equal.
	if err := rm.Rollback(ctx, readmodel.ProjectionMerchantDailySales, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := rm.Verify(ctx, readmodel.ProjectionMerchantDailySales, 10, nil); err != nil {
		t.Errorf("verify after a rollback to the retired version: %v", err)
	}
}

func dailyTax(tb testing.TB, pool *pgxpool.Pool) map[string]string {
	tb.Helper()
	rows, err := pool.Query(context.Background(), "SELECT day::text || ' ' || currency, tax_cents::text FROM merchant_daily_sales")
	if err != nil {
		tb.Fatal(err)
	}
	defer rows.Close()
	out := map[string]string{}
	for rows.Next() {
		var k, v string
		if err := rows.Scan(&k, &v); err != nil {
			tb.Fatal(err)
		}
		out[k] = v
	}
	if err := rows.Err(); err != nil {
		tb.Fatal(err)
	}
	return out
}

func taxEvent(order string, seq int64, typ string, data any, at time.Time) orderevents.Event {
	b, err := json.Marshal(data)
	if err != nil {
		panic(err)
	}
	return orderevents.Event{EventID: fmt.Sprintf("evt_%s_%d", order, seq), OrderID: order, Sequence: seq, Type: typ,
		SchemaVersion: orderevents.LatestSchemaVersion(typ), OccurredAt: at, Data: b}
}
