package readmodel

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
)

// Partition indexes: a partition finds its own events through an index on
// order_events (projection_partition(client_id, order_id, N), position), one
// per partition count N (migration 00015 makes the one for 8). A pass over
// partition i after checkpoint c is then a range scan of (i, c..head), in
// position order, instead of a scan of every event after c with an md5 on
// each: N partitions no longer read the log tail N times.
//
// An expression index is matched only when the query holds the same
// expression, with N as a literal: the queries write the validated count
// in. Even then the planner prefers the primary key for
// "position > c AND projection_partition(...) = i ORDER BY position": it
// prices the index as random heap reads (its leading column does not follow
// the heap) and the md5 filter as nearly free, and reads the tail with an
// md5 per event, N times (EXPLAIN ANALYZE on a 400,000-event log: 29 ms for
// one partition's 2,493 events that way, 7 ms through the index). So with
// the index in place the range is written as a row comparison,
// (partition, position) > (i, c) AND ≤ (i, head), ordered by both: only
// the index serves that without a sort of the whole log.
//
// A stored hash column would need no literal, but adding one rewrites the
// whole log under an exclusive lock; an index is built CONCURRENTLY while
// appends go on, one per count. Until the index for a partition's count is
// valid (being built, or not yet made for a count a rebuild just brought)
// passes use the plain filter, exact as before, only slower: the row
// comparison without its index would scan the whole log.

// partitionIndexName is order_events' index for n partitions.
func partitionIndexName(n int) string {
	return "order_events_partition_" + strconv.Itoa(n) + "_idx"
}

// partitionRange is the WHERE and ORDER BY of a read of partition idx (a
// parameter) of n partitions after position after and up to upTo (SQL
// expressions), in position order: a row comparison the partition index
// serves when indexed, the plain filter when not, and no filter at all
// when n ≤ 1 (every event is in partition 0). n is an int, so formatting
// it in cannot inject anything.
func partitionRange(n int, indexed bool, idx, after, upTo string) (where, orderBy string) {
	if n <= 1 {
		return "position > " + after + " AND position <= " + upTo, "position"
	}
	part := "projection_partition(client_id, order_id, " + strconv.Itoa(n) + ")"
	if !indexed {
		return "position > " + after + " AND position <= " + upTo + " AND " + part + " = " + idx, "position"
	}
	return "(" + part + ", position) > (" + idx + ", " + after + ") AND (" + part + ", position) <= (" + idx + ", " + upTo + ")",
		part + ", position"
}

// partitionIndexes remembers which counts' partition indexes are valid, so
// a pass need not ask; the answer is asked again after
// partitionIndexRecheck (an index dropped by hand must not leave passes on
// the row comparison, which without it would scan the whole log).
type partitionIndexes struct {
	mu      sync.Mutex
	valid   map[int]bool
	checked map[int]time.Time
}

const partitionIndexRecheck = 5 * time.Second

// partitionIndexed says whether the partition index for n partitions is
// valid, asking q (the pass's transaction) at most every
// partitionIndexRecheck. An error counts as not: the plain filter is always
// exact.
func (s *Store) partitionIndexed(ctx context.Context, q interface {
	QueryRow(context.Context, string, ...any) pgx.Row
}, n int) bool {
	if n <= 1 {
		return false
	}
	pi := s.partIndexes
	pi.mu.Lock()
	if time.Since(pi.checked[n]) < partitionIndexRecheck {
		defer pi.mu.Unlock()
		return pi.valid[n]
	}
	pi.mu.Unlock()
	var valid bool
	err := q.QueryRow(ctx, "SELECT coalesce((SELECT indisvalid FROM pg_index WHERE indexrelid = to_regclass($1)), false)",
		qualified("public", partitionIndexName(n))).Scan(&valid)
	if err != nil {
		valid = false
	}
	s.markPartitionIndex(n, valid)
	return valid
}

func (s *Store) markPartitionIndex(n int, valid bool) {
	pi := s.partIndexes
	pi.mu.Lock()
	defer pi.mu.Unlock()
	pi.valid[n], pi.checked[n] = valid, time.Now()
}

// partitionIndexPoll is how often ensurePartitionIndex looks again at an
// index another session is building.
const partitionIndexPoll = 200 * time.Millisecond

// ensurePartitionIndex makes the partition index for n partitions unless it
// exists and is valid; it returns once the index is usable. It builds it
// CONCURRENTLY (appends go on; it waits for transactions under way to end),
// which cannot run inside a transaction, so it takes a connection of its own.
// A session advisory lock keeps two processes from building it at once; an
// invalid index left by a build that died is dropped and built again, while
// one another session is still building is waited for.
func (s *Store) ensurePartitionIndex(ctx context.Context, n int) error {
	if n <= 1 {
		return nil
	}
	name := partitionIndexName(n)
	conn, err := s.write.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("partition index %s: %w", name, err)
	}
	defer conn.Release()
	const lockSQL = "SELECT pg_advisory_lock(hashtextextended('reportd partition index ' || $1, 0))"
	if _, err := conn.Exec(ctx, lockSQL, name); err != nil {
		return fmt.Errorf("lock partition index %s: %w", name, err)
	}
	defer func() {
		uctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		if _, err := conn.Exec(uctx, "SELECT pg_advisory_unlock(hashtextextended('reportd partition index ' || $1, 0))", name); err != nil {
			_ = conn.Conn().Close(uctx) // closing the session releases the lock as surely
		}
	}()
	qualifiedName := qualified("public", name)
	for {
		var exists, valid, building bool
		err := conn.QueryRow(ctx, `SELECT x.indexrelid IS NOT NULL, coalesce(x.indisvalid, false),
				EXISTS (SELECT 1 FROM pg_stat_progress_create_index p WHERE p.index_relid = x.indexrelid)
			FROM (SELECT to_regclass($1) AS oid) i LEFT JOIN pg_index x ON x.indexrelid = i.oid`,
			qualifiedName).Scan(&exists, &valid, &building)
		if err != nil {
			return fmt.Errorf("look up partition index %s: %w", name, err)
		}
		switch {
		case valid:
			s.markPartitionIndex(n, true)
			return nil
		case building:
			// Another session (a migration) is building it: wait for it.
			select {
			case <-ctx.Done():
				return fmt.Errorf("wait for partition index %s: %w", name, ctx.Err())
			case <-time.After(partitionIndexPoll):
			}
			continue
		case exists:
			s.logger.WarnContext(ctx, "dropping an invalid partition index a build left behind", "index", name)
			if _, err := conn.Exec(ctx, "DROP INDEX CONCURRENTLY IF EXISTS "+qualifiedName); err != nil {
				return fmt.Errorf("drop invalid partition index %s: %w", name, err)
			}
		}
		start := time.Now()
		s.logger.InfoContext(ctx, "building the partition index; passes scan the log until it is ready", "index", name, "partitions", n)
		_, err = conn.Exec(ctx, "CREATE INDEX CONCURRENTLY IF NOT EXISTS "+pgx.Identifier{name}.Sanitize()+
			" ON public.order_events (projection_partition(client_id, order_id, "+strconv.Itoa(n)+"), position)")
		if err != nil {
			return fmt.Errorf("build partition index %s: %w", name, err)
		}
		s.logger.InfoContext(ctx, "partition index ready", "index", name, "duration", time.Since(start))
	}
}

// ensurePartitionIndexes makes the partition index for every count the
// live partitions have, or for s.partitions before they exist.
func (s *Store) ensurePartitionIndexes(ctx context.Context) error {
	rows, err := s.write.Query(ctx, "SELECT DISTINCT partitions FROM projection_partitions")
	if err != nil {
		return fmt.Errorf("read partition counts: %w", err)
	}
	counts, err := pgx.CollectRows(rows, pgx.RowTo[int])
	if err != nil {
		return fmt.Errorf("read partition counts: %w", err)
	}
	if len(counts) == 0 {
		counts = []int{s.partitions}
	}
	for _, n := range counts {
		if err := s.ensurePartitionIndex(ctx, n); err != nil {
			return err
		}
	}
	return nil
}

// keepPartitionIndexes runs ensurePartitionIndexes beside the projector,
// which meanwhile projects without the index, until it succeeds or ctx ends.
func (s *Store) keepPartitionIndexes(ctx context.Context) {
	for {
		err := s.ensurePartitionIndexes(ctx)
		if err == nil || ctx.Err() != nil {
			return
		}
		s.logger.ErrorContext(ctx, "partition index not built; retrying", "error", err, "pause", time.Minute)
		select {
		case <-ctx.Done():
			return
		case <-time.After(time.Minute):
		}
	}
}
