package readmodel

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/reportd/reportd/internal/domain"
	"github.com/reportd/reportd/internal/orderevents"
)

// appendLockKey is the transaction-scoped advisory lock that serialises
// appends (see Append).
const appendLockKey int64 = 0x6f72646576656e74 // "ordevent"

// notifyChannel is the LISTEN/NOTIFY channel that wakes the projector.
const notifyChannel = "order_events"

// Store is the order read model on Postgres.
type Store struct {
	write  *pgxpool.Pool
	read   *pgxpool.Pool
	logger *slog.Logger

	batchSize   int           // log rows per projector transaction
	safetyPoll  time.Duration // projector wakes at least this often
	retryPause  time.Duration // pause before reconnecting after a projector error
	rebuildSize int           // log rows per step of a rebuild
	// A rebuild's swap waits at most swapLockTimeout for the live tables
	// (readers queue behind it meanwhile), swapAttempts times (WithSwap).
	swapLockTimeout time.Duration
	swapAttempts    int
	decode          decodeFunc // event payload decoder

	partitions       int           // partitions per projection (see partitions.go)
	lease            time.Duration // partition lease lifetime
	owner            string        // this process's name in the leases
	keepLeasesOnStop bool          // tests: stop like a killed worker
	partIndexes      *partitionIndexes
}

// NewStore returns a Store that appends and projects on write and serves
// report queries from read, which may be the same pool (or a replica).
func NewStore(write, read *pgxpool.Pool, logger *slog.Logger) *Store {
	if read == nil {
		read = write
	}
	return &Store{
		write:           write,
		read:            read,
		logger:          logger,
		batchSize:       5000,
		safetyPoll:      5 * time.Second,
		retryPause:      time.Second,
		rebuildSize:     10000,
		swapLockTimeout: DefaultSwapLockTimeout,
		swapAttempts:    DefaultSwapAttempts,
		decode:          orderevents.Decode,
		partitions:      DefaultPartitions,
		lease:           DefaultLease,
		owner:           defaultOwner(),
		partIndexes:     &partitionIndexes{valid: map[int]bool{}, checked: map[int]time.Time{}},
	}
}

// Append writes the batch to the log in one transaction. It is idempotent on
// event_id: events already in the log count as duplicates and change nothing.
// An event that reuses an (order_id, sequence) under another event_id fails
// the whole batch with an error wrapping domain.ErrSequenceConflict (a
// *domain.SequenceConflictError when the event is known).
//
// Appends are serialised by a transaction-scoped advisory lock taken before
// any position is drawn from the sequence. Without it, two concurrent appends
// could commit out of position order (B draws 11 and commits while A, holding
// 10, is still open); a projector that had read past 11 would never see 10.
// With the lock, the next append can draw positions only after the previous
// one has committed or rolled back (Postgres releases transaction locks after
// the commit is visible), so positions become visible in increasing order and
// "everything after my checkpoint" is always complete. Rolled-back appends
// leave holes in the numbering, which is harmless: the projector never expects
// positions to be contiguous. The cost is one appender at a time, which a
// 1,000-event batch per transaction makes cheap.
func (s *Store) Append(ctx context.Context, clientID string, events []orderevents.Event) (domain.AppendResult, error) {
	var res domain.AppendResult
	if len(events) == 0 {
		return res, errors.New("append order events: empty batch")
	}
	n := len(events)
	eventIDs := make([]string, n)
	orderIDs := make([]string, n)
	for i, e := range events {
		eventIDs[i], orderIDs[i] = e.EventID, e.OrderID
	}

	err := pgx.BeginFunc(ctx, s.write, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock($1)", appendLockKey); err != nil {
			return fmt.Errorf("lock order event log: %w", err)
		}
		// Plain index look-ups (= ANY) stay fast however stale the
		// planner's statistics of a fast-growing log are.
		type seqKey struct {
			order string
			seq   int64
		}
		known := make(map[string]bool)
		taken := make(map[seqKey]string)
		b := &pgx.Batch{}
		b.Queue("SELECT event_id FROM order_events WHERE client_id = $1 AND event_id = ANY($2)", clientID, eventIDs).
			Query(func(rows pgx.Rows) error {
				var id string
				_, err := pgx.ForEachRow(rows, []any{&id}, func() error { known[id] = true; return nil })
				return err
			})
		b.Queue("SELECT order_id, sequence, event_id FROM order_events WHERE client_id = $1 AND order_id = ANY($2)", clientID, orderIDs).
			Query(func(rows pgx.Rows) error {
				var k seqKey
				var id string
				_, err := pgx.ForEachRow(rows, []any{&k.order, &k.seq, &id}, func() error { taken[k] = id; return nil })
				return err
			})
		if err := tx.SendBatch(ctx, b).Close(); err != nil {
			return fmt.Errorf("look up existing events: %w", err)
		}
		dup := make([]bool, n)
		for i, e := range events {
			// A known event_id is a duplicate even if its sequence also
			// matches another event: event_id is the idempotency key.
			if known[e.EventID] {
				dup[i] = true
				res.Duplicates++
			} else if id, ok := taken[seqKey{e.OrderID, e.Sequence}]; ok && id != e.EventID {
				return &domain.SequenceConflictError{EventID: e.EventID, OrderID: e.OrderID, Sequence: e.Sequence}
			}
		}

		var (
			newIDs, newOrders, newTypes, newData []string
			newSeqs                              []int64
			newVersions                          []int32
			newTimes                             []time.Time
		)
		for i, e := range events {
			if dup[i] {
				continue
			}
			newIDs = append(newIDs, e.EventID)
			newOrders = append(newOrders, e.OrderID)
			newSeqs = append(newSeqs, e.Sequence)
			newTypes = append(newTypes, e.Type)
			newVersions = append(newVersions, int32(cmp.Or(e.SchemaVersion, orderevents.SchemaVersion1))) //nolint:gosec // the edge bounds it to a known version
			newTimes = append(newTimes, e.OccurredAt)
			newData = append(newData, string(e.Data))
		}
		res.Accepted = len(newIDs)
		if res.Accepted == 0 {
			if err := tx.QueryRow(ctx, "SELECT coalesce(max(position), 0) FROM order_events").Scan(&res.Position); err != nil {
				return fmt.Errorf("read log head: %w", err)
			}
			return nil
		}
		err := tx.QueryRow(ctx, `
			WITH ins AS (
				INSERT INTO order_events (client_id, event_id, order_id, sequence, type, schema_version, occurred_at, data)
				SELECT $1, b.event_id, b.order_id, b.sequence, b.type, b.schema_version, b.occurred_at, b.data::jsonb
				FROM unnest($2::text[], $3::text[], $4::bigint[], $5::text[], $6::int[], $7::timestamptz[], $8::text[])
				     WITH ORDINALITY AS b (event_id, order_id, sequence, type, schema_version, occurred_at, data, i)
				ORDER BY b.i
				RETURNING position
			)
			SELECT max(position) FROM ins`,
			clientID, newIDs, newOrders, newSeqs, newTypes, newVersions, newTimes, newData).Scan(&res.Position)
		if err != nil {
			var pgErr *pgconn.PgError
			if errors.As(err, &pgErr) && pgErr.Code == "23505" {
				return fmt.Errorf("append order events: %w", domain.ErrSequenceConflict)
			}
			return fmt.Errorf("insert order events: %w", err)
		}
		// Delivered only when the transaction commits.
		if _, err := tx.Exec(ctx, "SELECT pg_notify($1, $2)", notifyChannel, strconv.FormatInt(res.Position, 10)); err != nil {
			return fmt.Errorf("notify projector: %w", err)
		}
		return nil
	})
	if err != nil {
		return domain.AppendResult{}, fmt.Errorf("append %d order events for client %s: %w", n, clientID, err)
	}
	return res, nil
}
