package readmodel

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/reportd/reportd/internal/domain"
)

// Partitions: every statement on projection_partitions and
// projection_workers is in this file, so a rebuild into a shadow schema can
// copy them. Table names are unqualified: they resolve on search_path.
//
// A projection's orders are split into N partitions by
// projection_partition(client_id, order_id, N) (migration 00010). Each
// partition has its own checkpoint: the global log position it has read up
// to. A pass over a partition locks its row (FOR UPDATE) and moves the
// checkpoint in the same transaction as the rows it applied, so whoever runs
// it, and however passes interleave, every event is applied exactly once and
// one order's events in sequence order (an order is in one partition only).
//
// Leases spread the partitions over the workers: a lease names its owner,
// expires unless renewed, and carries a fencing token that goes up with each
// new lease. A worker passes over a partition only while the row still names
// it with its token; a lease taken over (after it expired) bumps the token
// under the row lock, so the worker that lost it finds out at its next pass
// and applies nothing. Correctness rests on the row lock and the token, not
// on clocks: leases only decide who does the work and how soon a dead
// worker's partitions move.

// ErrPartitionsChanged means PROJECTION_PARTITIONS differs from the number of
// partitions a projection already has. Changing it moves orders between
// partitions, which is safe only for a whole new version: it takes a
// rebuild, whose swap re-creates the partitions at the rebuilt position.
var ErrPartitionsChanged = errors.New("PROJECTION_PARTITIONS differs from the projection's partitions")

// ProjectorOptions are how a Store splits projections across processes.
type ProjectorOptions struct {
	// Partitions per projection (PROJECTION_PARTITIONS). It is fixed when a
	// projection's partitions are created; a rebuild may change it.
	Partitions int
	// Lease is how long a partition lease lasts unless renewed
	// (PROJECTION_LEASE); it is renewed every Lease/3, and a dead worker's
	// partitions move to another within about one Lease.
	Lease time.Duration
	// Owner names this process in the leases; it must be unique among the
	// workers. Empty: host name, process id and a random suffix.
	Owner string
}

// Default projector options.
const (
	DefaultPartitions = 8
	DefaultLease      = 10 * time.Second
)

func defaultOwner() string {
	host, _ := os.Hostname()
	var b [4]byte
	_, _ = rand.Read(b[:])
	return fmt.Sprintf("%s-%d-%s", host, os.Getpid(), hex.EncodeToString(b[:]))
}

// WithProjector sets how s splits projections across processes; zero fields
// keep their defaults. Call it before s projects.
func (s *Store) WithProjector(o ProjectorOptions) *Store {
	if o.Partitions > 0 {
		s.partitions = o.Partitions
	}
	if o.Lease > 0 {
		s.lease = o.Lease
	}
	if o.Owner != "" {
		s.owner = o.Owner
	}
	return s
}

// Owner is the name s's leases carry.
func (s *Store) Owner() string { return s.owner }

// partition is one slice of a projection's orders.
type partition struct {
	projection projection
	index      int // 0 ≤ index < count
	count      int // the projection's number of partitions
}

// lease is a partition this process holds, with its fencing token.
type lease struct {
	partition
	token int64
}

// ensurePartitions creates p's partitions, s.partitions of them, each
// starting at p's single checkpoint, unless they exist; it refuses with
// ErrPartitionsChanged when they exist in another number.
func (s *Store) ensurePartitions(ctx context.Context, p projection) error {
	count, err := s.createPartitions(ctx, p)
	if err != nil {
		return err
	}
	if count != s.partitions {
		return fmt.Errorf("projection %s has %d partitions, PROJECTION_PARTITIONS is %d (set it back to %d, or run reportctl projections rebuild with the new value first): %w",
			p.name, count, s.partitions, count, ErrPartitionsChanged)
	}
	return nil
}

// createPartitions creates p's partitions as ensurePartitions does, unless
// some exist, and returns how many p has. A rebuild or verify, which may
// run with another PROJECTION_PARTITIONS, needs them to exist, whatever
// their number.
func (s *Store) createPartitions(ctx context.Context, p projection) (int, error) {
	var count, created int
	err := pgx.BeginFunc(ctx, s.write, func(tx pgx.Tx) error {
		// The checkpoint row lock serialises two workers starting at once.
		if _, err := tx.Exec(ctx, "SELECT 1 FROM projection_checkpoints WHERE name = $1 FOR UPDATE", p.name); err != nil {
			return fmt.Errorf("lock checkpoint: %w", err)
		}
		tag, err := tx.Exec(ctx, `
			INSERT INTO projection_partitions (projection, partition, partitions, position)
			SELECT c.name, i, $2, c.position
			FROM projection_checkpoints c, generate_series(0, $2 - 1) AS i
			WHERE c.name = $1 AND NOT EXISTS (SELECT 1 FROM projection_partitions WHERE projection = $1)`,
			p.name, s.partitions)
		if err != nil {
			return fmt.Errorf("create partitions: %w", err)
		}
		created = int(tag.RowsAffected())
		return tx.QueryRow(ctx, "SELECT count(*) FROM projection_partitions WHERE projection = $1", p.name).Scan(&count)
	})
	if err != nil {
		return 0, fmt.Errorf("partition %s: %w", p.name, err)
	}
	if created > 0 {
		s.logger.InfoContext(ctx, "created projection partitions", "projection", p.name, "partitions", created)
	}
	return count, nil
}

// lockPartition locks a partition's row for one pass and returns its
// checkpoint and number of partitions. With a lease it takes the row only
// while the lease is still this process's (ok false: lost); without one
// (ProjectOnce) only a partition that no live lease holds and no one is
// passing over.
func lockPartition(ctx context.Context, tx pgx.Tx, p projection, index int, l *lease, owner string) (cp int64, count int, ok bool, err error) {
	if l != nil {
		err = tx.QueryRow(ctx, `SELECT position, partitions FROM projection_partitions
			WHERE projection = $1 AND partition = $2 AND owner = $3 AND token = $4 FOR UPDATE`,
			p.name, index, owner, l.token).Scan(&cp, &count)
	} else {
		err = tx.QueryRow(ctx, `SELECT position, partitions FROM projection_partitions
			WHERE projection = $1 AND partition = $2 AND (owner IS NULL OR expires_at <= now()) FOR UPDATE SKIP LOCKED`,
			p.name, index).Scan(&cp, &count)
	}
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, 0, false, nil
	}
	if err != nil {
		return 0, 0, false, fmt.Errorf("lock partition %d: %w", index, err)
	}
	return cp, count, true, nil
}

// movePartition moves a locked partition's checkpoint to cp, and renews the
// lease, if any, as the pass proves its holder alive.
func (s *Store) movePartition(ctx context.Context, tx pgx.Tx, p projection, index int, cp int64, l *lease) error {
	leased := l != nil
	_, err := tx.Exec(ctx, `UPDATE projection_partitions SET position = $3, updated_at = now(),
			expires_at = CASE WHEN $4 THEN greatest(expires_at, now() + $5::interval) ELSE expires_at END
		WHERE projection = $1 AND partition = $2`, p.name, index, cp, leased, s.lease)
	if err != nil {
		return fmt.Errorf("move partition %d checkpoint to %d: %w", index, cp, err)
	}
	return nil
}

// lockAllPartitions locks every partition of p, in partition order (so two
// lockers cannot deadlock), waiting for passes under way; retries and
// rebuilds hold them so no pass runs beside them.
func lockAllPartitions(ctx context.Context, tx pgx.Tx, p projection) error {
	if _, err := tx.Exec(ctx, "SELECT 1 FROM projection_partitions WHERE projection = $1 ORDER BY partition FOR UPDATE", p.name); err != nil {
		return fmt.Errorf("lock partitions: %w", err)
	}
	return nil
}

// resetPartitions sets every partition of p to cp after a rebuild, s.partitions
// of them: the only way their number changes. Leases of a number that
// changes end (the rows are new), so workers take them afresh.
func (s *Store) resetPartitions(ctx context.Context, tx pgx.Tx, p projection, cp int64) error {
	var count int
	if err := tx.QueryRow(ctx, "SELECT count(*) FROM projection_partitions WHERE projection = $1", p.name).Scan(&count); err != nil {
		return fmt.Errorf("count partitions: %w", err)
	}
	if count == s.partitions {
		if _, err := tx.Exec(ctx, "UPDATE projection_partitions SET position = $2, updated_at = now() WHERE projection = $1", p.name, cp); err != nil {
			return fmt.Errorf("reset partitions: %w", err)
		}
		return nil
	}
	b := &pgx.Batch{}
	b.Queue("DELETE FROM projection_partitions WHERE projection = $1", p.name)
	b.Queue(`INSERT INTO projection_partitions (projection, partition, partitions, position)
		SELECT $1, i, $2, $3 FROM generate_series(0, $2 - 1) AS i`, p.name, s.partitions, cp)
	if err := tx.SendBatch(ctx, b).Close(); err != nil {
		return fmt.Errorf("re-create %d partitions: %w", s.partitions, err)
	}
	s.logger.InfoContext(ctx, "re-created projection partitions", "projection", p.name, "from", count, "to", s.partitions)
	return nil
}

// partitionCount is p's number of partitions (0 before any worker created them).
func (s *Store) partitionCount(ctx context.Context, p projection) (int, error) {
	var n int
	if err := s.write.QueryRow(ctx, "SELECT count(*) FROM projection_partitions WHERE projection = $1", p.name).Scan(&n); err != nil {
		return 0, fmt.Errorf("count partitions of %s: %w", p.name, err)
	}
	return n, nil
}

// heartbeat registers this process as a worker of p, drops workers whose
// registration expired, and returns how many live workers p has (this one
// included).
func (s *Store) heartbeat(ctx context.Context, p projection) (int, error) {
	var live int
	b := &pgx.Batch{}
	b.Queue(`INSERT INTO projection_workers (projection, owner, expires_at) VALUES ($1, $2, now() + $3::interval)
		ON CONFLICT (projection, owner) DO UPDATE SET expires_at = EXCLUDED.expires_at`, p.name, s.owner, s.lease)
	b.Queue("DELETE FROM projection_workers WHERE projection = $1 AND expires_at < now() - $2::interval", p.name, s.lease)
	b.Queue("SELECT count(*) FROM projection_workers WHERE projection = $1 AND expires_at > now()", p.name).
		QueryRow(func(r pgx.Row) error { return r.Scan(&live) })
	if err := s.write.SendBatch(ctx, b).Close(); err != nil {
		return 0, fmt.Errorf("heartbeat %s: %w", p.name, err)
	}
	return max(live, 1), nil
}

// renewLeases extends this process's leases on p and returns those it still
// holds: a lease missing from the answer was taken over.
func (s *Store) renewLeases(ctx context.Context, p projection, held []lease) ([]lease, error) {
	if len(held) == 0 {
		return nil, nil
	}
	idx := make([]int32, len(held))
	tok := make([]int64, len(held))
	for i, l := range held {
		idx[i], tok[i] = int32(l.index), l.token //nolint:gosec // index < partitions, an int32 in the table
	}
	rows, err := s.write.Query(ctx, `
		UPDATE projection_partitions pp SET expires_at = now() + $5::interval
		FROM unnest($3::int[], $4::bigint[]) AS h (partition, token)
		WHERE pp.projection = $1 AND pp.owner = $2 AND pp.partition = h.partition AND pp.token = h.token
		RETURNING pp.partition, pp.partitions, pp.token`, p.name, s.owner, idx, tok, s.lease)
	if err != nil {
		return nil, fmt.Errorf("renew leases of %s: %w", p.name, err)
	}
	out, err := collectLeases(rows, p)
	if err != nil {
		return nil, fmt.Errorf("renew leases of %s: %w", p.name, err)
	}
	return out, nil
}

// claimLeases takes up to want of p's partitions that are free or whose
// lease expired, bumping their fencing tokens.
func (s *Store) claimLeases(ctx context.Context, p projection, want int) ([]lease, error) {
	if want <= 0 {
		return nil, nil
	}
	// SKIP LOCKED: a partition under a pass is not free anyway.
	rows, err := s.write.Query(ctx, `
		UPDATE projection_partitions pp SET owner = $2, token = pp.token + 1, expires_at = now() + $4::interval
		FROM (SELECT partition FROM projection_partitions
		      WHERE projection = $1 AND (owner IS NULL OR expires_at <= now())
		      ORDER BY partition LIMIT $3 FOR UPDATE SKIP LOCKED) free
		WHERE pp.projection = $1 AND pp.partition = free.partition
		RETURNING pp.partition, pp.partitions, pp.token`, p.name, s.owner, want, s.lease)
	if err != nil {
		return nil, fmt.Errorf("claim partitions of %s: %w", p.name, err)
	}
	out, err := collectLeases(rows, p)
	if err != nil {
		return nil, fmt.Errorf("claim partitions of %s: %w", p.name, err)
	}
	return out, nil
}

// releaseLeases gives partitions back, free for any worker at once.
func (s *Store) releaseLeases(ctx context.Context, p projection, ls []lease) error {
	if len(ls) == 0 {
		return nil
	}
	idx := make([]int32, len(ls))
	tok := make([]int64, len(ls))
	for i, l := range ls {
		idx[i], tok[i] = int32(l.index), l.token //nolint:gosec // index < partitions, an int32 in the table
	}
	_, err := s.write.Exec(ctx, `
		UPDATE projection_partitions pp SET owner = NULL, expires_at = '-infinity'
		FROM unnest($3::int[], $4::bigint[]) AS h (partition, token)
		WHERE pp.projection = $1 AND pp.owner = $2 AND pp.partition = h.partition AND pp.token = h.token`,
		p.name, s.owner, idx, tok)
	if err != nil {
		return fmt.Errorf("release partitions of %s: %w", p.name, err)
	}
	return nil
}

// leaveWorkers drops this process's worker registration of p.
func (s *Store) leaveWorkers(ctx context.Context, p projection) error {
	if _, err := s.write.Exec(ctx, "DELETE FROM projection_workers WHERE projection = $1 AND owner = $2", p.name, s.owner); err != nil {
		return fmt.Errorf("leave workers of %s: %w", p.name, err)
	}
	return nil
}

func collectLeases(rows pgx.Rows, p projection) ([]lease, error) {
	var out []lease
	var l lease
	l.projection = p
	_, err := pgx.ForEachRow(rows, []any{&l.index, &l.count, &l.token}, func() error {
		out = append(out, l)
		return nil
	})
	return out, err
}

// positionSQL is the log position every projection has reached: the lowest
// partition checkpoint, or the single checkpoint of a projection whose
// partitions do not exist yet.
const positionSQL = `
	SELECT coalesce(min(coalesce(pp.position, c.position)), 0)
	FROM projection_checkpoints c
	LEFT JOIN (SELECT projection, min(position) AS position FROM projection_partitions GROUP BY projection) pp
	  ON pp.projection = c.name`

// partitionSummary is one projection's partitions, as Status shows them.
type partitionSummary struct {
	partitions []domain.PartitionStatus
	lagSeconds float64 // age of the oldest event some partition has not read
}

// partitionStatus reads every partition's checkpoint, lag and lease, by
// projection. A lease that expired shows no owner: the partition is free.
// Each partition's lag is counted through its count's partition index (the
// count written in as a literal, see partindex.go), in one batch, in the
// snapshot the checkpoints were read in.
func (s *Store) partitionStatus(ctx context.Context) (map[string]partitionSummary, error) {
	// One snapshot for the checkpoints and the lag counted from them.
	tx, err := s.write.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
	if err != nil {
		return nil, fmt.Errorf("read partition status: %w", err)
	}
	defer func() { _ = tx.Rollback(context.WithoutCancel(ctx)) }()
	rows, err := tx.Query(ctx, `
		SELECT projection, partition, partitions, position,
		       CASE WHEN expires_at > now() THEN owner END,
		       CASE WHEN expires_at > now() AND owner IS NOT NULL THEN expires_at END
		FROM projection_partitions
		ORDER BY projection, partition`)
	if err != nil {
		return nil, fmt.Errorf("read partition status: %w", err)
	}
	type row struct {
		name  string
		count int
		pt    domain.PartitionStatus
		age   float64
	}
	var (
		list  []row
		r     row
		owner *string
	)
	_, err = pgx.ForEachRow(rows, []any{&r.name, &r.pt.Partition, &r.count, &r.pt.Position, &owner, &r.pt.LeaseExpiresAt}, func() error {
		r.pt.Owner, r.pt.Leased = "", owner != nil
		if owner != nil {
			r.pt.Owner = *owner
		}
		list = append(list, r)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read partition status: %w", err)
	}
	if len(list) > 0 {
		b := &pgx.Batch{}
		for i := range list {
			l := &list[i]
			where, _ := partitionRange(l.count, s.partitionIndexed(ctx, tx, l.count), "$2::int", "$1::bigint", "9223372036854775807")
			args := []any{l.pt.Position}
			if l.count > 1 {
				args = append(args, l.pt.Partition)
			}
			b.Queue(`SELECT count(*), coalesce(extract(epoch FROM now() - min(recorded_at))::float8, 0)
				FROM order_events WHERE `+where, args...).
				QueryRow(func(q pgx.Row) error { return q.Scan(&l.pt.LagEvents, &l.age) })
		}
		if err := tx.SendBatch(ctx, b).Close(); err != nil {
			return nil, fmt.Errorf("read partition lag: %w", err)
		}
	}
	out := map[string]partitionSummary{}
	for _, l := range list {
		sum := out[l.name]
		sum.partitions = append(sum.partitions, l.pt)
		sum.lagSeconds = max(sum.lagSeconds, l.age)
		out[l.name] = sum
	}
	return out, nil
}

// projectionPositionSQL is positionSQL for one projection, c (a row of
// projection_checkpoints): what a report's data position is. The single
// checkpoint is frozen once partitions exist (migration 00010).
const projectionPositionSQL = `
	SELECT coalesce((SELECT min(position) FROM projection_partitions WHERE projection = c.name), c.position)`

// livePartitionsTo catches every live partition of p up to log position to
// inside tx, which holds all their locks (lockLive): a swap or a verify
// brings the live version to one position.
func (s *Store) livePartitionsTo(ctx context.Context, tx pgx.Tx, p projection, to int64) error {
	rows, err := tx.Query(ctx, "SELECT partition, partitions, position FROM projection_partitions WHERE projection = $1 ORDER BY partition", p.name)
	if err != nil {
		return fmt.Errorf("read partitions of %s: %w", p.name, err)
	}
	type at struct {
		index, count int
		cp           int64
	}
	var parts []at
	var a at
	if _, err := pgx.ForEachRow(rows, []any{&a.index, &a.count, &a.cp}, func() error { parts = append(parts, a); return nil }); err != nil {
		return fmt.Errorf("read partitions of %s: %w", p.name, err)
	}
	for _, a := range parts {
		cp := a.cp
		for cp < to {
			n, next, err := s.pass(ctx, tx, p, partition{projection: p, index: a.index, count: a.count}, cp, to, s.rebuildSize)
			if err != nil {
				return err
			}
			if next == cp {
				break
			}
			if err := s.movePartition(ctx, tx, p, a.index, next, nil); err != nil {
				return err
			}
			cp = next
			if n < s.rebuildSize {
				break
			}
		}
	}
	return nil
}
