package readmodel_test

import (
	"context"
	"log/slog"
	"math/rand/v2"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/reportd/reportd/internal/domain"
	"github.com/reportd/reportd/internal/orderevents"
	"github.com/reportd/reportd/internal/postgres"
	"github.com/reportd/reportd/internal/readmodel"
	"github.com/reportd/reportd/internal/testenv"
)

// testLease is short so a takeover is quick; correctness never depends on it.
const testLease = 2 * time.Second

// projectorProcess is one worker's projector: its own pool and owner name.
type projectorProcess struct {
	store  *readmodel.Store
	cancel context.CancelFunc
	done   chan error
}

func startProjector(t *testing.T, pool *pgxpool.Pool, owner string, partitions int) *projectorProcess {
	t.Helper()
	own, err := pgxpool.New(context.Background(), pool.Config().ConnString())
	if err != nil {
		t.Fatalf("connect %s: %v", owner, err)
	}
	t.Cleanup(own.Close)
	s := readmodel.NewStore(own, own, slog.New(slog.DiscardHandler)).
		WithProjector(readmodel.ProjectorOptions{Partitions: partitions, Lease: testLease, Owner: owner})
	readmodel.SetSafetyPoll(s, 200*time.Millisecond)
	ctx, cancel := context.WithCancel(context.Background())
	p := &projectorProcess{store: s, cancel: cancel, done: make(chan error, 1)}
	go func() { p.done <- s.RunProjector(ctx) }()
	t.Cleanup(func() { p.stop(t) })
	return p
}

func (p *projectorProcess) stop(t *testing.T) {
	t.Helper()
	if p.cancel == nil {
		return
	}
	p.cancel()
	p.cancel = nil
	if err := <-p.done; err != nil {
		t.Errorf("RunProjector: %v", err)
	}
}

// owners counts the live leases per owner, over both projections.
func owners(t *testing.T, s *readmodel.Store) map[string]int {
	t.Helper()
	list, err := s.Status(context.Background())
	if err != nil {
		t.Fatalf("status: %v", err)
	}
	out := map[string]int{}
	for _, p := range list {
		for _, pt := range p.Partitions {
			out[pt.Owner]++
		}
	}
	return out
}

// caughtUpTo says whether every projection has read the log up to pos.
func caughtUpTo(t *testing.T, s *readmodel.Store, pos int64) bool {
	t.Helper()
	got, err := s.Position(context.Background())
	if err != nil {
		t.Fatalf("position: %v", err)
	}
	return got >= pos
}

// appendShuffled appends events for both tenants, shuffled (so gaps are held
// and released across partitions) in small batches, and returns the last
// position.
func appendShuffled(t *testing.T, s *readmodel.Store, events []orderevents.Event, seed uint64) int64 {
	t.Helper()
	mixed := slices.Clone(events)
	rand.New(rand.NewPCG(seed, seed)).Shuffle(len(mixed), func(i, j int) { mixed[i], mixed[j] = mixed[j], mixed[i] })
	var last int64
	for start := 0; start < len(mixed); start += 53 {
		for _, client := range []string{"cli_a", "cli_b"} {
			res, err := s.Append(context.Background(), client, mixed[start:min(start+53, len(mixed))])
			if err != nil {
				t.Fatalf("append: %v", err)
			}
			last = max(last, res.Position)
		}
	}
	return last
}

// foldedFromLog projects the log of pool's database from scratch, on one
// partition, into a fresh database and returns its checksums: what the read
// model must equal.
func foldedFromLog(t *testing.T, pool *pgxpool.Pool) [2]string {
	t.Helper()
	ctx := context.Background()
	fresh, freshPool := newStore(t)
	fresh.WithProjector(readmodel.ProjectorOptions{Partitions: 1})
	rows, err := pool.Query(ctx, "SELECT client_id, event_id, order_id, sequence, type, schema_version, occurred_at, data FROM order_events ORDER BY position")
	if err != nil {
		t.Fatalf("read log: %v", err)
	}
	byClient := map[string][]orderevents.Event{}
	for rows.Next() {
		var client string
		var e orderevents.Event
		if err := rows.Scan(&client, &e.EventID, &e.OrderID, &e.Sequence, &e.Type, &e.SchemaVersion, &e.OccurredAt, &e.Data); err != nil {
			t.Fatalf("read log: %v", err)
		}
		byClient[client] = append(byClient[client], e)
	}
	if err := rows.Err(); err != nil {
		t.Fatalf("read log: %v", err)
	}
	for client, evs := range byClient {
		appendAll(t, fresh, client, inOrder(evs), 1000, false)
	}
	return checksums(t, freshPool)
}

// TestTwoProjectorsSplitTheProjections runs two projectors side by side on
// one database: both get partitions, the read model equals a fold of the
// log, and when one dies without releasing its leases the other takes its
// partitions over after the lease time and carries on, with nothing applied
// twice or skipped.
func TestTwoProjectorsSplitTheProjections(t *testing.T) {
	const partitions = 8
	writer, pool := newStore(t)
	a := startProjector(t, pool, "worker-a", partitions)
	b := startProjector(t, pool, "worker-b", partitions)

	// Each gets its fair share of each projection's partitions.
	testenv.Eventually(t, 30*time.Second, "both projectors to hold 8 partitions each", func() bool {
		return cmp.Equal(owners(t, writer), map[string]int{"worker-a": partitions, "worker-b": partitions})
	})
	last := appendShuffled(t, writer, seedEvents(40, 6), 11)
	testenv.Eventually(t, 60*time.Second, "the projectors to read the whole log", func() bool { return caughtUpTo(t, writer, last) })
	if diff := cmp.Diff(foldedFromLog(t, pool), checksums(t, pool)); diff != "" {
		t.Fatalf("two projectors' read model differs from a fold of the log (-fold +projected):\n%s", diff)
	}
	checkNothingLags(t, writer)

	// a dies with its leases: b takes them when they expire, and projects
	// what arrives meanwhile.
	readmodel.StopLikeAKill(a.store)
	a.stop(t)
	more := seedEvents(60, 3) // more customers: new orders, and new events for old ones
	last = appendShuffled(t, writer, more, 12)
	testenv.Eventually(t, 30*time.Second, "worker-b to take over every partition", func() bool {
		return cmp.Equal(owners(t, writer), map[string]int{"worker-b": 2 * partitions})
	})
	testenv.Eventually(t, 60*time.Second, "worker-b to read the whole log", func() bool { return caughtUpTo(t, writer, last) })
	if diff := cmp.Diff(foldedFromLog(t, pool), checksums(t, pool)); diff != "" {
		t.Fatalf("after the takeover the read model differs from a fold of the log (-fold +projected):\n%s", diff)
	}
	checkNothingLags(t, writer)

	// A new worker gets its share back from b.
	startProjector(t, pool, "worker-c", partitions)
	testenv.Eventually(t, 30*time.Second, "worker-b to hand half its partitions to worker-c", func() bool {
		return cmp.Equal(owners(t, writer), map[string]int{"worker-b": partitions, "worker-c": partitions})
	})
	b.stop(t) // a clean stop releases at once
	testenv.Eventually(t, 30*time.Second, "worker-c to take worker-b's released partitions", func() bool {
		return cmp.Equal(owners(t, writer), map[string]int{"worker-c": 2 * partitions})
	})
}

func checkNothingLags(t *testing.T, s *readmodel.Store) {
	t.Helper()
	list, err := s.Status(context.Background())
	if err != nil {
		t.Fatalf("status: %v", err)
	}
	for _, p := range list {
		if p.LagEvents != 0 || p.Position != p.Head || len(p.Partitions) != 8 {
			t.Errorf("caught up, status %+v, want no lag, position at head and 8 partitions", p)
		}
		for _, pt := range p.Partitions {
			if pt.LagEvents != 0 || pt.Position != p.Head {
				t.Errorf("%s partition %+v, want no lag at head %d", p.Name, pt, p.Head)
			}
		}
	}
}

// TestPartitionCountIsFixed: a projector with another PROJECTION_PARTITIONS
// is refused with ErrPartitionsChanged; a rebuild changes the number.
func TestPartitionCountIsFixed(t *testing.T) {
	ctx := context.Background()
	s, pool := newStore(t)
	appendAll(t, s, "cli_a", seedEvents(5, 3), 100, false) // 8 partitions, the default
	before := checksums(t, pool)

	other := readmodel.NewStore(pool, pool, slog.New(slog.DiscardHandler)).WithProjector(readmodel.ProjectorOptions{Partitions: 3})
	if err := other.PreparePartitions(ctx); !errorsIs(err, readmodel.ErrPartitionsChanged) {
		t.Fatalf("PreparePartitions with 3 of 8: %v, want ErrPartitionsChanged", err)
	}
	if err := other.RunProjector(ctx); !errorsIs(err, readmodel.ErrPartitionsChanged) {
		t.Fatalf("RunProjector with 3 of 8: %v, want ErrPartitionsChanged", err)
	}
	if err := other.Rebuild(ctx, "", nil); err != nil {
		t.Fatalf("rebuild: %v", err)
	}
	if err := other.PreparePartitions(ctx); err != nil {
		t.Fatalf("after a rebuild with 3: %v", err)
	}
	if diff := cmp.Diff(before, checksums(t, pool)); diff != "" {
		t.Errorf("rebuild into 3 partitions changed the read model (-before +after):\n%s", diff)
	}
	list, err := other.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range list {
		got := make([]int64, len(p.Partitions))
		for i, pt := range p.Partitions {
			got[i] = pt.Position
		}
		if diff := cmp.Diff([]int64{p.Head, p.Head, p.Head}, got); diff != "" {
			t.Errorf("%s partition positions after the rebuild (-want +got):\n%s", p.Name, diff)
		}
	}
	appendAll(t, other, "cli_b", seedEvents(5, 3), 100, false)
	if _, err := s.ProjectOnce(ctx); !errorsIs(err, readmodel.ErrPartitionsChanged) {
		t.Errorf("the old store's ProjectOnce with 8 of 3: %v, want ErrPartitionsChanged", err)
	}
}

// TestSingleCheckpointBecomesEveryPartitionsStart: a database migrated with
// its projections at position P (the single checkpoint of the releases
// before partitions) starts every partition at P and never applies the
// events up to P again. The frozen checkpoint refuses an old worker.
func TestSingleCheckpointBecomesEveryPartitionsStart(t *testing.T) {
	ctx := context.Background()
	s, pool := newStore(t)
	res, err := s.Append(ctx, "cli_a", seedEvents(4, 2))
	if err != nil {
		t.Fatal(err)
	}
	// As if an old release had projected up to res.Position: nothing of it
	// is in the tables, so a partition that re-applied it would show.
	for _, sql := range []string{
		"ALTER TABLE projection_checkpoints DISABLE TRIGGER projection_checkpoints_frozen",
		"UPDATE projection_checkpoints SET position = " + strconv.FormatInt(res.Position, 10),
		"ALTER TABLE projection_checkpoints ENABLE TRIGGER projection_checkpoints_frozen",
	} {
		if _, err := pool.Exec(ctx, sql); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := pool.Exec(ctx, "UPDATE projection_checkpoints SET position = position + 1"); err == nil {
		t.Error("an old worker's checkpoint update succeeded, want it refused")
	}
	if _, err := s.ProjectOnce(ctx); err != nil {
		t.Fatal(err)
	}
	var rows int
	if err := pool.QueryRow(ctx, "SELECT count(*) FROM customer_order_history").Scan(&rows); err != nil {
		t.Fatal(err)
	}
	if rows != 0 {
		t.Errorf("%d orders projected from before the single checkpoint, want 0", rows)
	}
	list, err := s.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range list {
		want := slices.Repeat([]domain.PartitionStatus{{Position: res.Position}}, 8)
		for i := range want {
			want[i].Partition = i
		}
		if diff := cmp.Diff(want, p.Partitions); diff != "" {
			t.Errorf("%s partitions (-want +got):\n%s", p.Name, diff)
		}
	}
}

// TestRebuildSwapsUnderRunningProjectors: a blue/green rebuild swaps in
// while two partitioned projectors run and events stream in, once with the
// same number of partitions and once with another (the swap re-creates
// them; the projectors take the new ones). The read model equals a fold of
// the log each time, and a verify finds no drift.
func TestRebuildSwapsUnderRunningProjectors(t *testing.T) {
	ctx := context.Background()
	writer, pool := newStore(t)
	startProjector(t, pool, "worker-a", 8)
	startProjector(t, pool, "worker-b", 8)
	for round, partitions := range []int{8, 4} {
		streamed := make(chan int64, 1)
		go func() { streamed <- appendShuffledQuietly(writer, seedEvents(30+10*round, 4), uint64(20+round)) }()
		rebuilder := readmodel.NewStore(pool, pool, slog.New(slog.DiscardHandler)).WithProjector(readmodel.ProjectorOptions{Partitions: partitions})
		if err := rebuilder.Rebuild(ctx, "", nil); err != nil {
			t.Fatalf("round %d: rebuild into %d partitions: %v", round, partitions, err)
		}
		last := <-streamed
		if last < 0 {
			t.Fatalf("round %d: append failed", round)
		}
		testenv.Eventually(t, 60*time.Second, "the projectors to read the whole log", func() bool { return caughtUpTo(t, writer, last) })
		if diff := cmp.Diff(foldedFromLog(t, pool), checksums(t, pool)); diff != "" {
			t.Fatalf("round %d: after a swap into %d partitions the read model differs from a fold of the log (-fold +projected):\n%s", round, partitions, diff)
		}
		if _, err := rebuilder.Verify(ctx, "", 10, nil); err != nil {
			t.Fatalf("round %d: verify: %v", round, err)
		}
		list, err := writer.Status(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range list {
			if len(p.Partitions) != partitions {
				t.Errorf("round %d: %s has %d partitions, want %d", round, p.Name, len(p.Partitions), partitions)
			}
		}
	}
}

// appendShuffledQuietly is appendShuffled for a goroutine: -1 on failure.
func appendShuffledQuietly(s *readmodel.Store, events []orderevents.Event, seed uint64) int64 {
	mixed := slices.Clone(events)
	rand.New(rand.NewPCG(seed, seed)).Shuffle(len(mixed), func(i, j int) { mixed[i], mixed[j] = mixed[j], mixed[i] })
	var last int64
	for start := 0; start < len(mixed); start += 37 {
		res, err := s.Append(context.Background(), "cli_a", mixed[start:min(start+37, len(mixed))])
		if err != nil {
			return -1
		}
		last = max(last, res.Position)
	}
	return last
}

// TestPartitionsMigrationLandsOutOfOrder: a database already past the
// higher-numbered migrations that landed first still takes 00010.
func TestPartitionsMigrationLandsOutOfOrder(t *testing.T) {
	ctx := context.Background()
	_, pool := newStore(t)
	for _, sql := range []string{
		"DROP INDEX order_events_partition_8_idx", // 00015's: it depends on projection_partition
		"DELETE FROM goose_db_version WHERE version_id = 15",
		"DROP TRIGGER projection_checkpoints_frozen ON projection_checkpoints",
		"DROP FUNCTION projection_checkpoints_frozen()",
		"DROP FUNCTION projection_partition(text, text, integer)",
		"DROP TABLE projection_workers",
		"DROP TABLE projection_partitions",
		"DELETE FROM goose_db_version WHERE version_id = 10",
	} {
		if _, err := pool.Exec(ctx, sql); err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
	}
	if err := postgres.Migrate(ctx, pool, slog.New(slog.DiscardHandler)); err != nil {
		t.Fatalf("migrate with 00010 missing below later ones: %v", err)
	}
	var n int
	if err := pool.QueryRow(ctx, "SELECT count(*) FROM projection_partitions").Scan(&n); err != nil {
		t.Fatalf("after migrating: %v", err)
	}
	var valid bool
	if err := pool.QueryRow(ctx, "SELECT indisvalid FROM pg_index WHERE indexrelid = 'order_events_partition_8_idx'::regclass").Scan(&valid); err != nil || !valid {
		t.Fatalf("partition index after migrating: valid %v, %v", valid, err)
	}
}
