package seed_test

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"

	"github.com/reportd/reportd/internal/orderevents"
	"github.com/reportd/reportd/internal/pgtest"
	"github.com/reportd/reportd/internal/readmodel"
	"github.com/reportd/reportd/internal/seed"
)

func TestEventsAreValidVariedAndDeterministic(t *testing.T) {
	opt := seed.Options{Customers: 20, OrdersPerCustomer: 10, Merchants: 8, Seed: 3}
	events, sum := seed.Events(opt)
	again, _ := seed.Events(opt)
	if diff := cmp.Diff(events, again); diff != "" {
		t.Errorf("same seed gave different events (-first +second):\n%s", diff)
	}
	other, _ := seed.Events(seed.Options{Customers: 20, OrdersPerCustomer: 10, Merchants: 8, Seed: 4})
	if cmp.Equal(events, other) {
		t.Error("different seeds gave the same events")
	}
	if sum.Orders != 200 || len(sum.Customers) != 20 || len(sum.Merchants) != 8 {
		t.Errorf("summary: %d orders, %d customers, %d merchants; want 200, 20, 8", sum.Orders, len(sum.Customers), len(sum.Merchants))
	}

	// Every event passes the API's validation.
	for start := 0; start < len(events); start += orderevents.MaxBatch {
		b, err := orderevents.EncodeBatch(events[start:min(start+orderevents.MaxBatch, len(events))])
		if err != nil {
			t.Fatal(err)
		}
		if _, err := orderevents.ParseBatch(b); err != nil {
			t.Fatalf("seeded batch at %d fails validation: %v", start, err)
		}
	}

	types := map[string]bool{}
	currencies := map[string]bool{}
	nonASCII, early, taxless := 0, 0, 0
	seen := map[string]int64{} // order -> highest sequence seen so far
	for _, e := range events {
		types[e.Type] = true
		if e.Type == orderevents.TypeOrderPlaced {
			var p orderevents.OrderPlaced
			_ = json.Unmarshal(e.Data, &p)
			currencies[p.Currency] = true
			var lines int64
			for _, it := range p.Items {
				lines += it.Qty*it.UnitPriceCents + it.TaxCents
				if it.TaxCents <= 0 {
					taxless++
				}
			}
			if lines != p.TotalCents {
				t.Errorf("order %s: lines with tax add up to %d, total_cents %d", e.OrderID, lines, p.TotalCents)
			}
		}
		if utf8.RuneCount(e.Data) != len(e.Data) || bytes.Contains(e.Data, []byte(`\u`)) {
			nonASCII++
		}
		if e.Sequence > seen[e.OrderID]+1 {
			early++
		}
		seen[e.OrderID] = max(seen[e.OrderID], e.Sequence)
	}
	if len(types) != 5 {
		t.Errorf("event types %v, want all 5", types)
	}
	if len(currencies) < 4 {
		t.Errorf("currencies %v, want at least 4", currencies)
	}
	if taxless != 0 {
		t.Errorf("%d seeded lines carry no tax; every currency has a rate", taxless)
	}
	if nonASCII == 0 {
		t.Error("no event carries non-ASCII text")
	}
	if early == 0 {
		t.Error("no event arrives before its predecessor")
	}
}

func TestRunProjectsEverything(t *testing.T) {
	ctx := context.Background()
	pool := pgtest.New(t)
	if _, err := pool.Exec(ctx, "INSERT INTO clients (id, name) VALUES ('cli_demo', 'Demo')"); err != nil {
		t.Fatal(err)
	}
	store := readmodel.NewStore(pool, pool, slog.New(slog.DiscardHandler))
	opt := seed.Options{Customers: 30, OrdersPerCustomer: 12, Merchants: 9, Seed: 11}
	var progress strings.Builder
	sum, err := seed.Run(ctx, store, "cli_demo", opt, &progress)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(progress.String(), "events appended") {
		t.Errorf("progress output %q says nothing about appended events", progress.String())
	}
	if _, err := store.ProjectOnce(ctx); err != nil {
		t.Fatal(err)
	}
	var orders, customers, merchants, currencies, statuses int
	err = pool.QueryRow(ctx, `SELECT count(*), count(DISTINCT customer_id), count(DISTINCT merchant_id),
		count(DISTINCT currency), count(DISTINCT status) FROM customer_order_history WHERE client_id = 'cli_demo'`).
		Scan(&orders, &customers, &merchants, &currencies, &statuses)
	if err != nil {
		t.Fatal(err)
	}
	if orders != sum.Orders || customers != len(sum.Customers) || merchants != len(sum.Merchants) || currencies < 4 || statuses != 5 {
		t.Errorf("projected %d orders, %d customers, %d merchants, %d currencies, %d statuses; want %d, %d, %d, ≥4, 5",
			orders, customers, merchants, currencies, statuses, sum.Orders, len(sum.Customers), len(sum.Merchants))
	}
	status, err := store.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range status {
		if p.HeldEvents != 0 || p.LagEvents != 0 {
			t.Errorf("status %+v: events left held or unprojected", p)
		}
	}

	// Seeding again with the same seed only finds duplicates.
	var again strings.Builder
	if _, err := seed.Run(ctx, store, "cli_demo", opt, &again); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(again.String(), "(0 new,") {
		t.Errorf("second run output %q, want no new events", again.String())
	}
}
