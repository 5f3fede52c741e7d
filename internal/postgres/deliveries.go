package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/reportd/reportd/internal/reports"
)

const deliveryColumns = `id, report_id, client_id, event_type, url, body, status, attempts, last_status_code,
	coalesce(last_error, ''), CASE WHEN status IN ('pending', 'failing') THEN next_attempt_at END,
	created_at, delivered_at, dead_at`

func scanDelivery(row pgx.Row) (reports.Delivery, error) {
	var d reports.Delivery
	err := row.Scan(&d.ID, &d.ReportID, &d.ClientID, &d.EventType, &d.URL, &d.Body, &d.Status, &d.Attempts,
		&d.LastStatusCode, &d.LastError, &d.NextAttemptAt, &d.CreatedAt, &d.DeliveredAt, &d.DeadAt)
	return d, err
}

// LoadDelivery loads a delivery for the worker.
func (s *Store) LoadDelivery(ctx context.Context, id string) (reports.Delivery, error) {
	d, err := scanDelivery(s.pool.QueryRow(ctx, `SELECT `+deliveryColumns+` FROM deliveries WHERE id = $1`, id))
	return d, notFound(err, "delivery", id)
}

// RecordAttempt logs an attempt and moves the delivery to status. One
// statement does both, so they commit together in a single round trip.
// next is when the following attempt is due (for failing).
func (s *Store) RecordAttempt(ctx context.Context, id string, a reports.AttemptRecord, status reports.DeliveryStatus, next time.Time) (attempt int, err error) {
	var code *int
	if a.StatusCode != 0 {
		code = &a.StatusCode
	}
	err = s.pool.QueryRow(ctx, `WITH d AS (
			UPDATE deliveries SET attempts = attempts + 1, status = $2, last_status_code = $3,
				last_error = NULLIF($4, ''), next_attempt_at = $5, updated_at = now(),
				delivered_at = CASE WHEN $2 = 'delivered' THEN now() ELSE delivered_at END,
				dead_at = CASE WHEN $2 = 'dead' THEN now() ELSE NULL END
			WHERE id = $1 RETURNING attempts)
		INSERT INTO delivery_attempts (delivery_id, attempt, started_at, status_code, latency_ms, outcome, error, response_body)
		SELECT $1, d.attempts, $6, $3, $7, $8, NULLIF($4, ''), NULLIF($9, '') FROM d
		RETURNING attempt`,
		id, status, code, a.Error, next, a.StartedAt, a.Latency.Milliseconds(), a.Outcome, a.ResponseBody).Scan(&attempt)
	if err != nil {
		return 0, notFound(err, "delivery", id)
	}
	return attempt, nil
}

// LoadDeliveryToSend loads a delivery with the secrets that sign it now
// (current first), in one round trip.
func (s *Store) LoadDeliveryToSend(ctx context.Context, id string) (reports.Delivery, []string, error) {
	var secrets []string
	var d reports.Delivery
	err := s.pool.QueryRow(ctx, `SELECT `+deliveryColumns+`,
			coalesce((SELECT array_agg(w.secret ORDER BY w.expires_at DESC NULLS FIRST, w.id DESC) FROM webhook_secrets w
			          WHERE w.client_id = deliveries.client_id AND (w.expires_at IS NULL OR w.expires_at > now())), '{}')
		FROM deliveries WHERE id = $1`, id).
		Scan(&d.ID, &d.ReportID, &d.ClientID, &d.EventType, &d.URL, &d.Body, &d.Status, &d.Attempts,
			&d.LastStatusCode, &d.LastError, &d.NextAttemptAt, &d.CreatedAt, &d.DeliveredAt, &d.DeadAt, &secrets)
	return d, secrets, notFound(err, "delivery", id)
}

// ReportDeliveries lists a report's deliveries with every attempt.
func (s *Store) ReportDeliveries(ctx context.Context, clientID, reportID string) ([]reports.Delivery, error) {
	if _, err := s.GetReport(ctx, clientID, reportID); err != nil {
		return nil, err
	}
	rows, err := s.pool.Query(ctx, `SELECT `+deliveryColumns+` FROM deliveries WHERE report_id = $1 AND client_id = $2 ORDER BY created_at`, reportID, clientID)
	if err != nil {
		return nil, classify(fmt.Errorf("list deliveries of %s: %w", reportID, err))
	}
	list, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (reports.Delivery, error) { return scanDelivery(r) })
	if err != nil {
		return nil, classify(fmt.Errorf("list deliveries of %s: %w", reportID, err))
	}
	for i := range list {
		if list[i].AttemptLog, err = s.attempts(ctx, list[i].ID); err != nil {
			return nil, err
		}
	}
	return list, nil
}

func (s *Store) attempts(ctx context.Context, deliveryID string) ([]reports.Attempt, error) {
	rows, err := s.pool.Query(ctx, `SELECT attempt, started_at, status_code, latency_ms, outcome, coalesce(error, ''), coalesce(response_body, '')
		FROM delivery_attempts WHERE delivery_id = $1 ORDER BY id`, deliveryID)
	if err != nil {
		return nil, classify(fmt.Errorf("list attempts of %s: %w", deliveryID, err))
	}
	list, err := pgx.CollectRows(rows, pgx.RowToStructByPos[reports.Attempt])
	if err != nil {
		return nil, classify(fmt.Errorf("list attempts of %s: %w", deliveryID, err))
	}
	return list, nil
}

// ListDeliveries returns a page of a client's deliveries, oldest first.
func (s *Store) ListDeliveries(ctx context.Context, clientID string, f reports.DeliveryFilter) ([]reports.Delivery, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+deliveryColumns+` FROM deliveries
		WHERE client_id = $1 AND ($2 = '' OR status = $2) AND created_at >= $3
		  AND ($5 = '' OR (created_at, id) > ($4, $5))
		ORDER BY created_at, id LIMIT $6`, clientID, string(f.Status), f.Since, f.AfterCreated, f.AfterID, f.Limit)
	if err != nil {
		return nil, classify(fmt.Errorf("list deliveries: %w", err))
	}
	list, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (reports.Delivery, error) { return scanDelivery(r) })
	if err != nil {
		return nil, classify(fmt.Errorf("list deliveries: %w", err))
	}
	return list, nil
}

// Redeliver makes one of a client's deliveries due again ("" clientID: any client).
func (s *Store) Redeliver(ctx context.Context, clientID, id string) (reports.Delivery, error) {
	d, err := scanDelivery(s.pool.QueryRow(ctx, `UPDATE deliveries SET status = 'pending', next_attempt_at = now(), dead_at = NULL, updated_at = now()
		WHERE id = $1 AND ($2 = '' OR client_id = $2) RETURNING `+deliveryColumns, id, clientID))
	if errors.Is(err, pgx.ErrNoRows) {
		return reports.Delivery{}, fmt.Errorf("delivery %s: %w", id, reports.ErrNotFound)
	}
	if err != nil {
		return reports.Delivery{}, classify(fmt.Errorf("redeliver %s: %w", id, err))
	}
	return d, nil
}

// ReplayDeliveries makes every delivery in status, created since, due again
// ("" clientID: every client). It returns their ids.
func (s *Store) ReplayDeliveries(ctx context.Context, clientID string, status reports.DeliveryStatus, since time.Time, limit int) ([]string, error) {
	return s.ids(ctx, `UPDATE deliveries SET status = 'pending', next_attempt_at = now(), dead_at = NULL, updated_at = now()
		WHERE id IN (SELECT id FROM deliveries WHERE ($1 = '' OR client_id = $1) AND status = $2 AND created_at >= $3
		             ORDER BY created_at LIMIT $4)
		RETURNING id`, clientID, string(status), since, limit)
}

// StaleDeliveries lists deliveries that should have been attempted more than
// age ago; the sweeper re-enqueues them in case their task was lost.
func (s *Store) StaleDeliveries(ctx context.Context, age time.Duration, limit int) ([]reports.WorkRef, error) {
	return s.refs(ctx, `SELECT id, report_id, client_id FROM deliveries WHERE status IN ('pending', 'failing') AND next_attempt_at < now() - $1::interval
		ORDER BY next_attempt_at LIMIT $2`, age, limit)
}
