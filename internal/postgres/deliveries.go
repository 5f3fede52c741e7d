package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/reportd/reportd/internal/domain"
)

// qualifiedDeliveryColumns is deliveryColumns for a query that joins
// another table.
const qualifiedDeliveryColumns = `deliveries.id, report_id, deliveries.client_id, event_type, deliveries.url, body, deliveries.status, attempts, last_status_code,
	coalesce(last_error, ''), CASE WHEN deliveries.status IN ('pending', 'failing') THEN next_attempt_at END,
	deliveries.created_at, delivered_at, dead_at, endpoint_id, sequence`

const deliveryColumns = `id, report_id, client_id, event_type, url, body, status, attempts, last_status_code,
	coalesce(last_error, ''), CASE WHEN status IN ('pending', 'failing') THEN next_attempt_at END,
	created_at, delivered_at, dead_at, endpoint_id, sequence`

func scanDelivery(row pgx.Row) (domain.Delivery, error) {
	var d domain.Delivery
	err := row.Scan(&d.ID, &d.ReportID, &d.ClientID, &d.EventType, &d.URL, &d.Body, &d.Status, &d.Attempts,
		&d.LastStatusCode, &d.LastError, &d.NextAttemptAt, &d.CreatedAt, &d.DeliveredAt, &d.DeadAt, &d.EndpointID, &d.Sequence)
	return d, err
}

// LoadDelivery loads a delivery for the worker.
func (s *Store) LoadDelivery(ctx context.Context, id string) (domain.Delivery, error) {
	d, err := scanDelivery(s.pool.QueryRow(ctx, `SELECT `+deliveryColumns+` FROM deliveries WHERE id = $1`, id))
	return d, notFound(err, "delivery", id)
}

// RecordAttempt logs an attempt and moves the delivery to status. One
// statement does both, so they commit together in a single round trip.
// next is when the following attempt is due (for failing).
func (s *Store) RecordAttempt(ctx context.Context, id string, a domain.AttemptRecord, status domain.DeliveryStatus, next time.Time) (attempt int, err error) {
	var code *int
	if a.StatusCode != 0 {
		code = &a.StatusCode
	}
	err = s.pool.QueryRow(ctx, `WITH d AS (
			UPDATE deliveries SET attempts = attempts + 1, status = $2, last_status_code = $3,
				last_error = NULLIF($4, ''), next_attempt_at = $5, updated_at = now(), lease_until = NULL,
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
// (current first), in one round trip. An endpoint's delivery goes to the
// endpoint's URL as it is now (a PATCH moves what waits), signed with the
// endpoint's own secret if it has one, else with the client's keys.
func (s *Store) LoadDeliveryToSend(ctx context.Context, id string) (domain.Delivery, []string, error) {
	var secrets []string
	var d domain.Delivery
	var endpointURL, endpointSecret *string
	err := s.pool.QueryRow(ctx, `SELECT `+qualifiedDeliveryColumns+`, e.url, e.secret,
			coalesce((SELECT array_agg(w.secret ORDER BY w.expires_at DESC NULLS FIRST, w.id DESC) FROM webhook_secrets w
			          WHERE w.client_id = deliveries.client_id AND (w.expires_at IS NULL OR w.expires_at > now())), '{}')
		FROM deliveries LEFT JOIN webhook_endpoints e ON e.id = deliveries.endpoint_id WHERE deliveries.id = $1`, id).
		Scan(&d.ID, &d.ReportID, &d.ClientID, &d.EventType, &d.URL, &d.Body, &d.Status, &d.Attempts,
			&d.LastStatusCode, &d.LastError, &d.NextAttemptAt, &d.CreatedAt, &d.DeliveredAt, &d.DeadAt, &d.EndpointID, &d.Sequence,
			&endpointURL, &endpointSecret, &secrets)
	if err != nil {
		return d, nil, notFound(err, "delivery", id)
	}
	if endpointURL != nil {
		d.URL = *endpointURL
	}
	if endpointSecret != nil {
		secrets = []string{*endpointSecret}
	}
	keys, err := s.openKeys(d.ClientID, secrets)
	return d, keys, err
}

// LoadDeliveriesToSend loads some of a client's deliveries with the secrets
// that sign them now, in one round trip. Ids that are not the client's are
// left out.
func (s *Store) LoadDeliveriesToSend(ctx context.Context, clientID string, ids []string) ([]domain.Delivery, []string, error) {
	var secrets []string
	err := s.pool.QueryRow(ctx, `SELECT coalesce(array_agg(secret ORDER BY expires_at DESC NULLS FIRST, id DESC), '{}') FROM webhook_secrets
		WHERE client_id = $1 AND (expires_at IS NULL OR expires_at > now())`, clientID).Scan(&secrets)
	if err != nil {
		return nil, nil, classify(fmt.Errorf("load secrets of %s: %w", clientID, err))
	}
	rows, err := s.pool.Query(ctx, `SELECT `+deliveryColumns+` FROM deliveries WHERE id = ANY($1) AND client_id = $2 ORDER BY created_at, id`, ids, clientID)
	if err != nil {
		return nil, nil, classify(fmt.Errorf("load %d deliveries: %w", len(ids), err))
	}
	list, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (domain.Delivery, error) { return scanDelivery(r) })
	if err != nil {
		return nil, nil, classify(fmt.Errorf("load %d deliveries: %w", len(ids), err))
	}
	keys, err := s.openKeys(clientID, secrets)
	if err != nil {
		return nil, nil, err
	}
	return list, keys, nil
}

// RecordAttempts is RecordAttempt for many deliveries in one statement:
// every attempt row and status change commits together.
func (s *Store) RecordAttempts(ctx context.Context, outcomes []domain.AttemptOutcome) error {
	n := len(outcomes)
	ids, statuses, errs, bodies, kinds := make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n)
	codes, latencies := make([]*int32, n), make([]int64, n)
	next, started := make([]time.Time, n), make([]time.Time, n)
	for i, o := range outcomes {
		ids[i], statuses[i], next[i] = o.DeliveryID, string(o.Status), o.Next
		a := o.Attempt
		started[i], latencies[i], kinds[i], errs[i], bodies[i] = a.StartedAt, a.Latency.Milliseconds(), a.Outcome, a.Error, a.ResponseBody
		if a.StatusCode != 0 {
			code := int32(a.StatusCode) //nolint:gosec // an HTTP status code
			codes[i] = &code
		}
	}
	_, err := s.pool.Exec(ctx, `WITH o AS (
			SELECT id, status, code, error, next, started, latency, outcome, body
			FROM unnest($1::text[], $2::text[], $3::int[], $4::text[], $5::timestamptz[], $6::timestamptz[], $7::bigint[], $8::text[], $9::text[])
			       AS u(id, status, code, error, next, started, latency, outcome, body)),
		d AS (
			UPDATE deliveries SET attempts = attempts + 1, status = o.status, last_status_code = o.code,
				last_error = NULLIF(o.error, ''), next_attempt_at = o.next, updated_at = now(), lease_until = NULL,
				delivered_at = CASE WHEN o.status = 'delivered' THEN now() ELSE delivered_at END,
				dead_at = CASE WHEN o.status = 'dead' THEN now() ELSE NULL END
			FROM o WHERE deliveries.id = o.id RETURNING deliveries.id, deliveries.attempts)
		INSERT INTO delivery_attempts (delivery_id, attempt, started_at, status_code, latency_ms, outcome, error, response_body)
		SELECT o.id, d.attempts, o.started, o.code, o.latency, o.outcome, NULLIF(o.error, ''), NULLIF(o.body, '') FROM o JOIN d USING (id)`,
		ids, statuses, codes, errs, next, started, latencies, kinds, bodies)
	if err != nil {
		return classify(fmt.Errorf("record %d attempts: %w", n, err))
	}
	return nil
}

// ReportDeliveries lists a report's deliveries with every attempt.
func (s *Store) ReportDeliveries(ctx context.Context, clientID, reportID string) ([]domain.Delivery, error) {
	if _, err := s.GetReport(ctx, clientID, reportID); err != nil {
		return nil, err
	}
	rows, err := s.pool.Query(ctx, `SELECT `+deliveryColumns+` FROM deliveries WHERE report_id = $1 AND client_id = $2 ORDER BY sequence, created_at, id`, reportID, clientID)
	if err != nil {
		return nil, classify(fmt.Errorf("list deliveries of %s: %w", reportID, err))
	}
	list, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (domain.Delivery, error) { return scanDelivery(r) })
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

func (s *Store) attempts(ctx context.Context, deliveryID string) ([]domain.Attempt, error) {
	rows, err := s.pool.Query(ctx, `SELECT attempt, started_at, status_code, latency_ms, outcome, coalesce(error, ''), coalesce(response_body, '')
		FROM delivery_attempts WHERE delivery_id = $1 ORDER BY id`, deliveryID)
	if err != nil {
		return nil, classify(fmt.Errorf("list attempts of %s: %w", deliveryID, err))
	}
	list, err := pgx.CollectRows(rows, pgx.RowToStructByPos[domain.Attempt])
	if err != nil {
		return nil, classify(fmt.Errorf("list attempts of %s: %w", deliveryID, err))
	}
	return list, nil
}

// ListDeliveries returns a page of a client's deliveries, oldest first.
func (s *Store) ListDeliveries(ctx context.Context, clientID string, f domain.DeliveryFilter) ([]domain.Delivery, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+deliveryColumns+` FROM deliveries
		WHERE client_id = $1 AND ($2 = '' OR status = $2) AND created_at >= $3
		  AND ($5 = '' OR (created_at, id) > ($4, $5))
		  AND ($7 = '' OR endpoint_id = $7)
		ORDER BY created_at, id LIMIT $6`, clientID, string(f.Status), f.Since, f.AfterCreated, f.AfterID, f.Limit, f.EndpointID)
	if err != nil {
		return nil, classify(fmt.Errorf("list deliveries: %w", err))
	}
	list, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (domain.Delivery, error) { return scanDelivery(r) })
	if err != nil {
		return nil, classify(fmt.Errorf("list deliveries: %w", err))
	}
	return list, nil
}

// Redeliver makes one of a client's deliveries due again ("" clientID: any client).
func (s *Store) Redeliver(ctx context.Context, clientID, id string) (domain.Delivery, error) {
	d, err := scanDelivery(s.pool.QueryRow(ctx, `UPDATE deliveries SET status = 'pending', next_attempt_at = now(), dead_at = NULL, updated_at = now()
		WHERE id = $1 AND ($2 = '' OR client_id = $2) RETURNING `+deliveryColumns, id, clientID))
	if errors.Is(err, pgx.ErrNoRows) {
		return domain.Delivery{}, fmt.Errorf("delivery %s: %w", id, domain.ErrNotFound)
	}
	if err != nil {
		return domain.Delivery{}, classify(fmt.Errorf("redeliver %s: %w", id, err))
	}
	return d, nil
}

// ReplayDeliveries makes every delivery that f selects due again ("" clientID:
// every client), oldest first: its status (dead or failing), created in
// [since, until) (a zero until: no end), to one endpoint if f names one.
func (s *Store) ReplayDeliveries(ctx context.Context, clientID string, f domain.ReplayFilter) ([]domain.WorkRef, error) {
	return s.refs(ctx, `WITH r AS (
			UPDATE deliveries SET status = 'pending', next_attempt_at = now(), dead_at = NULL, updated_at = now()
			WHERE id IN (SELECT id FROM deliveries WHERE ($1 = '' OR client_id = $1) AND status = $2 AND created_at >= $3
			               AND ($5::timestamptz IS NULL OR created_at < $5) AND ($6 = '' OR endpoint_id = $6)
			             ORDER BY created_at LIMIT $4)
			RETURNING id, report_id, client_id, created_at)
		SELECT id, report_id, client_id FROM r ORDER BY created_at, id`, clientID, string(f.Status), f.Since, f.Limit, f.Until, f.EndpointID)
}

// LiveDeliveries returns those of ids that are not dead letters (an id
// with no row counts as live: nothing keeps it dead).
func (s *Store) LiveDeliveries(ctx context.Context, ids []string) ([]string, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	return s.ids(ctx, `SELECT id FROM unnest($1::text[]) AS u(id)
		WHERE NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.id = u.id AND d.status = 'dead')`, ids)
}

// StaleDeliveries lists deliveries that should have been attempted more than
// age ago; the sweeper re-enqueues them in case their task was lost.
func (s *Store) StaleDeliveries(ctx context.Context, age time.Duration, limit int) ([]domain.WorkRef, error) {
	return s.refs(ctx, `SELECT id, report_id, client_id FROM deliveries WHERE status IN ('pending', 'failing') AND next_attempt_at < now() - $1::interval
		ORDER BY next_attempt_at LIMIT $2`, age, limit)
}
