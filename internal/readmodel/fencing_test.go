package readmodel

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/reportd/reportd/internal/orderevents"
	"github.com/reportd/reportd/internal/pgtest"
)

// TestLostLeaseAppliesNothing: a worker whose lease expired and was taken
// over (a long pause, say) passes over the partition no more: its pass
// applies nothing and moves no checkpoint, and the new holder's does.
func TestLostLeaseAppliesNothing(t *testing.T) {
	ctx := context.Background()
	pool := pgtest.New(t)
	if _, err := pool.Exec(ctx, "INSERT INTO clients (id, name) VALUES ('cli_a', 'Client A')"); err != nil {
		t.Fatal(err)
	}
	newWorker := func(owner string) *Store {
		return NewStore(pool, pool, slog.New(slog.DiscardHandler)).
			WithProjector(ProjectorOptions{Partitions: 1, Lease: time.Second, Owner: owner})
	}
	a, b := newWorker("worker-a"), newWorker("worker-b")
	p := projections()[0]
	if err := a.ensurePartitions(ctx, p); err != nil {
		t.Fatal(err)
	}
	aLeases, err := a.claimLeases(ctx, p, 1)
	if err != nil || len(aLeases) != 1 {
		t.Fatalf("worker-a claims: %v %v", aLeases, err)
	}
	if got, err := b.claimLeases(ctx, p, 1); err != nil || len(got) != 0 {
		t.Fatalf("worker-b claimed a live lease: %v %v", got, err)
	}
	placedAt := time.Date(2026, 2, 1, 9, 0, 0, 0, time.UTC)
	data := []byte(`{"customer_id":"cus_1","merchant_id":"mer_1","currency":"USD","items":[{"sku":"s","qty":1,"unit_price_cents":100}],"total_cents":100}`)
	if _, err := a.Append(ctx, "cli_a", []orderevents.Event{{EventID: "evt_1", OrderID: "ord_1", Sequence: 1,
		Type: orderevents.TypeOrderPlaced, OccurredAt: placedAt, Data: data}}); err != nil {
		t.Fatal(err)
	}

	// worker-a stalls past its lease (its clock is not what is tested: the
	// lease is made to have ended); worker-b takes the partition over.
	if _, err := pool.Exec(ctx, "UPDATE projection_partitions SET expires_at = now() - interval '1 second'"); err != nil {
		t.Fatal(err)
	}
	bLeases, err := b.claimLeases(ctx, p, 1)
	if err != nil || len(bLeases) != 1 {
		t.Fatalf("worker-b takes the expired lease: %v %v", bLeases, err)
	}
	if bLeases[0].token <= aLeases[0].token {
		t.Fatalf("takeover token %d, want above %d", bLeases[0].token, aLeases[0].token)
	}

	n, held, err := a.catchUp(ctx, p, 0, &aLeases[0], nil)
	if err != nil || held || n != 0 {
		t.Fatalf("worker-a after losing its lease: applied %d, held %t, err %v; want 0, false, nil", n, held, err)
	}
	if rows := countRows(t, a, p.stateTable); rows != 0 {
		t.Fatalf("worker-a applied %d orders without its lease", rows)
	}
	if renewed, err := a.renewLeases(ctx, p, aLeases); err != nil || len(renewed) != 0 {
		t.Fatalf("worker-a renewed a lost lease: %v %v", renewed, err)
	}
	n, held, err = b.catchUp(ctx, p, 0, &bLeases[0], nil)
	if err != nil || !held || n != 1 {
		t.Fatalf("worker-b: applied %d, held %t, err %v; want 1, true, nil", n, held, err)
	}
	if rows := countRows(t, b, p.stateTable); rows != 1 {
		t.Fatalf("worker-b projected %d orders, want 1", rows)
	}
}

func countRows(t *testing.T, s *Store, table string) int {
	t.Helper()
	var n int
	if err := s.write.QueryRow(context.Background(), "SELECT count(*) FROM "+table).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// TestTakeoverWaitsForThePassUnderWay: a lease that expires while its
// holder is in the middle of a pass is not taken over until that pass has
// committed (the pass holds the row lock), and the new holder starts from
// the checkpoint that pass wrote.
func TestTakeoverWaitsForThePassUnderWay(t *testing.T) {
	ctx := context.Background()
	pool := pgtest.New(t)
	a := NewStore(pool, pool, slog.New(slog.DiscardHandler)).WithProjector(ProjectorOptions{Partitions: 1, Owner: "worker-a"})
	b := NewStore(pool, pool, slog.New(slog.DiscardHandler)).WithProjector(ProjectorOptions{Partitions: 1, Owner: "worker-b"})
	p := projections()[0]
	if err := a.ensurePartitions(ctx, p); err != nil {
		t.Fatal(err)
	}
	aLeases, err := a.claimLeases(ctx, p, 1)
	if err != nil || len(aLeases) != 1 {
		t.Fatalf("worker-a claims: %v %v", aLeases, err)
	}
	// The lease runs out while worker-a is passing over the partition.
	if _, err := pool.Exec(ctx, "UPDATE projection_partitions SET expires_at = now() - interval '1 second'"); err != nil {
		t.Fatal(err)
	}
	tx, err := pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = tx.Rollback(ctx) }()
	if _, _, ok, err := lockPartition(ctx, tx, p, 0, &aLeases[0], a.owner); err != nil || !ok {
		t.Fatalf("worker-a locks its partition: %t %v", ok, err)
	}
	if got, err := b.claimLeases(ctx, p, 1); err != nil || len(got) != 0 {
		t.Fatalf("worker-b claimed a partition under a pass: %v %v", got, err)
	}
	if err := a.movePartition(ctx, tx, p, 0, 42, &aLeases[0]); err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	// The pass renewed the lease it proved alive; once that runs out too,
	// worker-b takes over from the pass's checkpoint.
	if _, err := pool.Exec(ctx, "UPDATE projection_partitions SET expires_at = now() - interval '1 second'"); err != nil {
		t.Fatal(err)
	}
	bLeases, err := b.claimLeases(ctx, p, 1)
	if err != nil || len(bLeases) != 1 {
		t.Fatalf("worker-b takes the expired lease: %v %v", bLeases, err)
	}
	err = pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		cp, _, ok, err := lockPartition(ctx, tx, p, 0, &bLeases[0], b.owner)
		if err == nil && (!ok || cp != 42) {
			t.Errorf("worker-b's pass starts at %d (locked %t), want 42", cp, ok)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}
