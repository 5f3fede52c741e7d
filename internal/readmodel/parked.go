package readmodel

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// ParkedEvent is an order event that failed to apply to one projection. It
// holds back only its own order: HeldBehind later events of that order wait
// behind it.
type ParkedEvent struct {
	Projection string    `json:"projection"`
	ClientID   string    `json:"client_id"`
	OrderID    string    `json:"order_id"`
	Sequence   int64     `json:"sequence"`
	Position   int64     `json:"position"`
	Type       string    `json:"type"`
	Error      string    `json:"error"`
	ParkedAt   time.Time `json:"parked_at"`
	HeldBehind int64     `json:"held_behind"`
}

// ParkedFilter narrows Parked and RetryParked; an empty field matches all.
type ParkedFilter struct {
	Projection string
	ClientID   string
	OrderID    string
}

// Parked lists parked events, oldest log position first.
func (s *Store) Parked(ctx context.Context, f ParkedFilter) ([]ParkedEvent, error) {
	if _, err := findProjection(f.Projection); err != nil {
		return nil, fmt.Errorf("list parked events: %w", err)
	}
	rows, err := s.write.Query(ctx, `
		SELECT p.projection, p.client_id, p.order_id, p.sequence, p.position, coalesce(e.type, ''), p.error, p.parked_at,
		       (SELECT count(*) FROM projection_held h
		        WHERE h.projection = p.projection AND h.client_id = p.client_id AND h.order_id = p.order_id)
		FROM projection_parked p LEFT JOIN order_events e ON e.position = p.position
		WHERE ($1 = '' OR p.projection = $1) AND ($2 = '' OR p.client_id = $2) AND ($3 = '' OR p.order_id = $3)
		ORDER BY p.position, p.projection`, f.Projection, f.ClientID, f.OrderID)
	if err != nil {
		return nil, fmt.Errorf("list parked events: %w", err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowToStructByPos[ParkedEvent])
	if err != nil {
		return nil, fmt.Errorf("list parked events: %w", err)
	}
	return out, nil
}

// RetryResult counts what a retry did.
type RetryResult struct {
	Retried int `json:"retried"` // parked events tried again
	Applied int `json:"applied"` // of them, applied now (with what waited behind them)
	Parked  int `json:"parked"`  // of them, parked again
}

// RetryParked un-parks the matching events and applies them again, with the
// events of their orders that wait behind them. An event that fails again is
// parked again, with its new error. It waits for the live passes or a rebuild
// of the projection to finish.
func (s *Store) RetryParked(ctx context.Context, f ParkedFilter) (RetryResult, error) {
	ps, err := findProjection(f.Projection)
	if err != nil {
		return RetryResult{}, fmt.Errorf("retry parked events: %w", err)
	}
	var res RetryResult
	for _, p := range ps {
		r, err := s.retryParked(ctx, p, f)
		if err != nil {
			return res, fmt.Errorf("retry parked events of %s: %w", p.name, err)
		}
		res.Retried += r.Retried
		res.Applied += r.Applied
		res.Parked += r.Parked
	}
	return res, nil
}

func (s *Store) retryParked(ctx context.Context, p projection, f ParkedFilter) (RetryResult, error) {
	var res RetryResult
	err := pgx.BeginFunc(ctx, s.write, func(tx pgx.Tx) error {
		// The orders may be in any partition: hold them all, so no pass
		// folds these orders beside the retry.
		if _, err := tx.Exec(ctx, "SELECT 1 FROM projection_checkpoints WHERE name = $1 FOR UPDATE", p.name); err != nil {
			return fmt.Errorf("lock checkpoint: %w", err)
		}
		if err := lockAllPartitions(ctx, tx, p); err != nil {
			return err
		}
		// Back into projection_held: the fold then treats them like any
		// held event, next in sequence.
		rows, err := tx.Query(ctx, `
			WITH un AS (
				DELETE FROM projection_parked
				WHERE projection = $1 AND ($2 = '' OR client_id = $2) AND ($3 = '' OR order_id = $3)
				RETURNING projection, client_id, order_id, sequence, position
			), held AS (
				INSERT INTO projection_held (projection, client_id, order_id, sequence, position)
				SELECT projection, client_id, order_id, sequence, position FROM un
				ON CONFLICT DO NOTHING
			)
			SELECT client_id, order_id, sequence FROM un`, p.name, f.ClientID, f.OrderID)
		if err != nil {
			return fmt.Errorf("un-park events: %w", err)
		}
		var keys []orderKey
		var seqs []int64
		var k orderKey
		var seq int64
		_, err = pgx.ForEachRow(rows, []any{&k.ClientID, &k.OrderID, &seq}, func() error {
			keys = append(keys, k)
			seqs = append(seqs, seq)
			return nil
		})
		if err != nil {
			return fmt.Errorf("un-park events: %w", err)
		}
		if len(keys) == 0 {
			return nil
		}
		if err := s.foldOrders(ctx, tx, p, keys, nil); err != nil {
			return err
		}
		clientIDs := make([]string, len(keys))
		orderIDs := make([]string, len(keys))
		for i, k := range keys {
			clientIDs[i], orderIDs[i] = k.ClientID, k.OrderID
		}
		var again int
		err = tx.QueryRow(ctx, `
			SELECT count(*) FROM projection_parked p
			JOIN unnest($2::text[], $3::text[], $4::bigint[]) AS k (client_id, order_id, sequence)
			  ON p.client_id = k.client_id AND p.order_id = k.order_id AND p.sequence = k.sequence
			WHERE p.projection = $1`, p.name, clientIDs, orderIDs, seqs).Scan(&again)
		if err != nil {
			return fmt.Errorf("count events parked again: %w", err)
		}
		res = RetryResult{Retried: len(keys), Applied: len(keys) - again, Parked: again}
		return nil
	})
	if err != nil {
		return RetryResult{}, err
	}
	if res.Retried > 0 {
		s.logger.InfoContext(ctx, "retried parked events", "projection", p.name,
			"retried", res.Retried, "applied", res.Applied, "parked", res.Parked)
	}
	return res, nil
}
