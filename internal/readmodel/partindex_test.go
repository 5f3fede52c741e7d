package readmodel_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/reportd/reportd/internal/orderevents"
	"github.com/reportd/reportd/internal/readmodel"
	"github.com/reportd/reportd/internal/seed"
	"github.com/reportd/reportd/internal/testenv"
)

func seedEventsSeed(customers, orders int, seedValue int64) []orderevents.Event {
	events, _ := seed.Events(seed.Options{Customers: customers, OrdersPerCustomer: orders, Merchants: 7, Seed: seedValue})
	return events
}

// indexDef is the definition of a partition index and whether it is valid
// ("" when it does not exist).
func indexDef(t *testing.T, pool *pgxpool.Pool, name string) (string, bool) {
	t.Helper()
	var def string
	var valid bool
	err := pool.QueryRow(context.Background(), `SELECT coalesce(pg_get_indexdef(x.indexrelid), ''), coalesce(x.indisvalid, false)
		FROM (SELECT to_regclass($1) AS oid) i LEFT JOIN pg_index x ON x.indexrelid = i.oid`, "public."+name).Scan(&def, &valid)
	if err != nil {
		t.Fatalf("look up %s: %v", name, err)
	}
	return def, valid
}

// appendOnly appends events in batches without projecting; it returns the head.
func appendOnly(t *testing.T, s *readmodel.Store, events []orderevents.Event) int64 {
	t.Helper()
	var head int64
	for start := 0; start < len(events); start += 50 {
		res, err := s.Append(context.Background(), "cli_a", events[start:min(start+50, len(events))])
		if err != nil {
			t.Fatalf("append: %v", err)
		}
		head = res.Position
	}
	return head
}

// TestPartitionIndexOfAnotherCount: the read model is the same whether a
// partition finds its events through its index (migration 00015's, for 8),
// through the plain filter (the index dropped), or first one then the other
// (3 partitions: the worker builds their index beside its passes, replacing
// an invalid one a failed build left).
func TestPartitionIndexOfAnotherCount(t *testing.T) {
	ctx := context.Background()
	events := seedEvents(30, 6)

	indexed, indexedPool := newStore(t)
	if def, valid := indexDef(t, indexedPool, "order_events_partition_8_idx"); def == "" || !valid {
		t.Fatalf("migration 00015's index: %q valid %v", def, valid)
	}
	appendAll(t, indexed, "cli_a", events, 50, true)
	want := checksums(t, indexedPool)
	// The passes went through it (a backend reports its counts when idle).
	testenv.Eventually(t, 10*time.Second, "scans of the 8-partition index", func() bool {
		var scans int64
		err := indexedPool.QueryRow(ctx, "SELECT idx_scan FROM pg_stat_user_indexes WHERE indexrelname = 'order_events_partition_8_idx'").Scan(&scans)
		return err == nil && scans > 0
	})

	plain, plainPool := newStore(t)
	if _, err := plainPool.Exec(ctx, "DROP INDEX order_events_partition_8_idx"); err != nil {
		t.Fatalf("drop index: %v", err)
	}
	appendAll(t, plain, "cli_a", events, 50, true)
	if got := checksums(t, plainPool); got != want {
		t.Errorf("projected without the index: %v, want %v", got, want)
	}

	three, threePool := newStore(t)
	head := appendOnly(t, three, events)
	// What a CREATE INDEX CONCURRENTLY that failed leaves: an invalid index
	// under the name (here a unique one, over many orders per partition).
	if _, err := threePool.Exec(ctx, `CREATE UNIQUE INDEX CONCURRENTLY order_events_partition_3_idx
		ON order_events (projection_partition(client_id, order_id, 3))`); err == nil {
		t.Fatal("a unique index over 3 partitions of many orders was built")
	}
	if def, valid := indexDef(t, threePool, "order_events_partition_3_idx"); def == "" || valid {
		t.Fatalf("the failed build left %q (valid %v), want an invalid index", def, valid)
	}
	p := startProjector(t, threePool, "three", 3)
	testenv.Eventually(t, 30*time.Second, "a valid index for 3 partitions", func() bool {
		def, valid := indexDef(t, threePool, "order_events_partition_3_idx")
		return valid && strings.HasSuffix(def, `(projection_partition(client_id, order_id, 3), "position")`) && !strings.Contains(def, "UNIQUE")
	})
	testenv.Eventually(t, 30*time.Second, "3 partitions at the head", func() bool {
		pos, err := p.store.Position(ctx)
		return err == nil && pos >= head
	})
	if got := checksums(t, threePool); got != want {
		t.Errorf("projected into 3 partitions: %v, want %v", got, want)
	}
	// Events after the index is valid go through it.
	more := seedEventsSeed(10, 3, 7)
	head = appendOnly(t, three, more)
	appendAll(t, indexed, "cli_a", more, 50, true)
	testenv.Eventually(t, 30*time.Second, "3 partitions at the new head", func() bool {
		pos, err := p.store.Position(ctx)
		return err == nil && pos >= head
	})
	if got, want := checksums(t, threePool), checksums(t, indexedPool); got != want {
		t.Errorf("after more events, 3 partitions: %v, want %v", got, want)
	}
}
