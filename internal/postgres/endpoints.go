package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/reportd/reportd/internal/domain"
	"github.com/reportd/reportd/internal/ids"
	"github.com/reportd/reportd/internal/webhook"
)

const endpointColumns = `id, client_id, url, description, events, secret IS NOT NULL, status, failing_since, disabled_at, created_at, updated_at`

func scanEndpoint(row pgx.Row) (domain.Endpoint, error) {
	e := domain.Endpoint{Object: "webhook_endpoint"}
	var own bool
	err := row.Scan(&e.ID, &e.ClientID, &e.URL, &e.Description, &e.Events, &own, &e.Status, &e.FailingSince, &e.DisabledAt, &e.CreatedAt, &e.UpdatedAt)
	e.Signing = domain.SigningClient
	if own {
		e.Signing = domain.SigningEndpoint
	}
	if e.Events == nil {
		e.Events = []string{}
	}
	return e, err
}

// CreateEndpoint stores a client's new endpoint unless the client already has
// domain.MaxEndpointsPerClient (domain.ErrTooMany). secret, if not empty, is
// the endpoint's own signing key, sealed at rest like the client's.
func (s *Store) CreateEndpoint(ctx context.Context, e domain.Endpoint, secret string) (domain.Endpoint, error) {
	var sealed *string
	if secret != "" {
		k, err := s.sealKey(e.ClientID, secret)
		if err != nil {
			return domain.Endpoint{}, err
		}
		sealed = &k.secret
	}
	var created domain.Endpoint
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		// The client's row lock serialises its creations, so the count holds.
		if _, err := tx.Exec(ctx, `SELECT 1 FROM clients WHERE id = $1 FOR UPDATE`, e.ClientID); err != nil {
			return fmt.Errorf("lock client %s: %w", e.ClientID, err)
		}
		var err error
		created, err = scanEndpoint(tx.QueryRow(ctx, `INSERT INTO webhook_endpoints (id, client_id, url, description, events, secret)
			SELECT $1, $2, $3, $4, $5, $6
			WHERE (SELECT count(*) FROM webhook_endpoints WHERE client_id = $2 AND deleted_at IS NULL) < $7
			RETURNING `+endpointColumns, e.ID, e.ClientID, e.URL, e.Description, e.Events, sealed, domain.MaxEndpointsPerClient))
		if errors.Is(err, pgx.ErrNoRows) {
			return domain.ErrTooMany
		}
		if err != nil {
			return fmt.Errorf("insert webhook endpoint: %w", err)
		}
		return nil
	})
	if errors.Is(err, domain.ErrTooMany) {
		return domain.Endpoint{}, domain.ErrTooMany
	}
	return created, err
}

// GetEndpoint loads a client's endpoint; another client's, or a deleted
// one, is ErrNotFound.
func (s *Store) GetEndpoint(ctx context.Context, clientID, id string) (domain.Endpoint, error) {
	e, err := scanEndpoint(s.pool.QueryRow(ctx, `SELECT `+endpointColumns+` FROM webhook_endpoints
		WHERE id = $1 AND ($2 = '' OR client_id = $2) AND deleted_at IS NULL`, id, clientID))
	return e, notFound(err, "webhook endpoint", id)
}

// ListEndpoints lists a client's endpoints, oldest first (at most
// domain.MaxEndpointsPerClient, so one page).
func (s *Store) ListEndpoints(ctx context.Context, clientID string) ([]domain.Endpoint, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+endpointColumns+` FROM webhook_endpoints
		WHERE client_id = $1 AND deleted_at IS NULL ORDER BY created_at, id`, clientID)
	if err != nil {
		return nil, classify(fmt.Errorf("list webhook endpoints: %w", err))
	}
	list, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (domain.Endpoint, error) { return scanEndpoint(r) })
	if err != nil {
		return nil, classify(fmt.Errorf("list webhook endpoints: %w", err))
	}
	return list, nil
}

// UpdateEndpoint applies a PATCH ("" clientID: any client's, for operators).
// Enabling clears the endpoint's health record, so it starts afresh.
func (s *Store) UpdateEndpoint(ctx context.Context, clientID, id string, c domain.EndpointChange) (domain.Endpoint, error) {
	var events []string
	if c.Events != nil {
		events = *c.Events
		if events == nil {
			events = []string{}
		}
	}
	e, err := scanEndpoint(s.pool.QueryRow(ctx, `UPDATE webhook_endpoints SET
			url = coalesce($3, url), description = coalesce($4, description), events = coalesce($5, events),
			status = CASE WHEN $6 THEN 'active' ELSE status END,
			consecutive_failures = CASE WHEN $6 THEN 0 ELSE consecutive_failures END,
			failing_since = CASE WHEN $6 THEN NULL ELSE failing_since END,
			probe_at = CASE WHEN $6 THEN NULL ELSE probe_at END,
			probe_step = CASE WHEN $6 THEN 0 ELSE probe_step END,
			disabled_at = CASE WHEN $6 THEN NULL ELSE disabled_at END,
			updated_at = now()
		WHERE id = $1 AND ($2 = '' OR client_id = $2) AND deleted_at IS NULL
		RETURNING `+endpointColumns, id, clientID, c.URL, c.Description, events, c.Enable))
	return e, notFound(err, "webhook endpoint", id)
}

// DeleteEndpoint deletes a client's endpoint. Its deliveries and their
// attempts stay readable; those not yet delivered will never be, so they
// are settled as disabled at once.
func (s *Store) DeleteEndpoint(ctx context.Context, clientID, id string) error {
	return s.inTx(ctx, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `UPDATE webhook_endpoints SET deleted_at = now(), updated_at = now()
			WHERE id = $1 AND client_id = $2 AND deleted_at IS NULL`, id, clientID)
		if err != nil {
			return fmt.Errorf("delete webhook endpoint %s: %w", id, err)
		}
		if tag.RowsAffected() == 0 {
			return fmt.Errorf("webhook endpoint %s: %w", id, domain.ErrNotFound)
		}
		if _, err := tx.Exec(ctx, `UPDATE deliveries SET status = 'disabled', lease_until = NULL, updated_at = now()
			WHERE endpoint_id = $1 AND status IN ('pending', 'failing')`, id); err != nil {
			return fmt.Errorf("settle deliveries of deleted endpoint %s: %w", id, err)
		}
		return nil
	})
}

// insertEvent writes one report event as a delivery to every target that
// takes it: the default target (when ev.URL is set) and each of the
// client's live endpoints whose filter matches, in one statement. Every
// delivery has its own id, its webhook-id. A repeat (a task that ran
// twice) inserts nothing new and returns the ids that exist.
func insertEvent(ctx context.Context, tx pgx.Tx, reportID string, ev domain.NewDelivery) ([]string, error) {
	// One id per possible target: the default one and up to the limit of
	// endpoints, numbered by the endpoints' creation order.
	newIDs := make([]string, domain.MaxEndpointsPerClient+1)
	newIDs[0] = ev.ID
	if newIDs[0] == "" {
		newIDs[0] = ids.New("msg")
	}
	for i := 1; i < len(newIDs); i++ {
		newIDs[i] = ids.New("msg")
	}
	rows, err := tx.Query(ctx, `WITH r AS (SELECT id, client_id FROM reports WHERE id = $1),
		t AS (
			SELECT 'default' AS target, NULL::text AS endpoint_id, $3::text AS url, 1 AS n FROM r WHERE $3 <> ''
			UNION ALL
			SELECT e.id, e.id, e.url, 1 + row_number() OVER (ORDER BY e.created_at, e.id)::int
			FROM webhook_endpoints e JOIN r ON e.client_id = r.client_id
			WHERE e.deleted_at IS NULL AND e.status <> 'disabled' AND (e.events = '{}' OR $2 = ANY (e.events)))
		INSERT INTO deliveries (id, report_id, client_id, event_type, url, body, target, endpoint_id, sequence)
		SELECT ($6::text[])[t.n], r.id, r.client_id, $2, t.url, $4, t.target, t.endpoint_id, $5 FROM t, r
		WHERE t.n <= cardinality($6::text[])
		ON CONFLICT (report_id, event_type, target) DO UPDATE SET report_id = EXCLUDED.report_id
		RETURNING id`, reportID, ev.EventType, ev.URL, ev.Body, ev.Sequence, newIDs)
	if err != nil {
		return nil, fmt.Errorf("insert %s deliveries for %s: %w", ev.EventType, reportID, err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("insert %s deliveries for %s: %w", ev.EventType, reportID, err)
	}
	return out, nil
}

// AnnounceRunning writes a running report's report.running event, once per
// report: a later run (a retry, a duplicate task) finds it announced and
// writes nothing. It returns the new deliveries' ids.
func (s *Store) AnnounceRunning(ctx context.Context, r domain.Report) ([]string, error) {
	var out []string
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		if err := boundLockHold(ctx, tx); err != nil {
			return err
		}
		tag, err := tx.Exec(ctx, `UPDATE reports SET running_announced_at = now()
			WHERE id = $1 AND status = 'running' AND running_announced_at IS NULL`, r.ID)
		if err != nil {
			return fmt.Errorf("announce report %s running: %w", r.ID, err)
		}
		if tag.RowsAffected() == 0 {
			return nil
		}
		ev, err := domain.NewEvent(r, domain.EventRunning, "", time.Now())
		if err != nil {
			return err
		}
		out, err = insertEvent(ctx, tx, r.ID, ev)
		return err
	})
	return out, err
}

// EndpointHealth reads and changes one endpoint's breaker under its row
// lock: change gets the health as it is and returns it as it must be. It
// also ends the lease of the delivery whose attempt decided it, and
// returns the health before and after.
func (s *Store) SettleEndpoint(ctx context.Context, endpointID, deliveryID string, change func(webhook.Health) webhook.Health) (before, after webhook.Health, err error) {
	err = s.inTx(ctx, func(tx pgx.Tx) error {
		var status string
		if err := tx.QueryRow(ctx, `SELECT status, consecutive_failures, failing_since, probe_at, probe_step
			FROM webhook_endpoints WHERE id = $1 FOR UPDATE`, endpointID).
			Scan(&status, &before.Failures, &before.FailingSince, &before.ProbeAt, &before.ProbeStep); err != nil {
			return notFound(err, "webhook endpoint", endpointID)
		}
		before.Status = webhook.EndpointStatus(status)
		after = change(before)
		if _, err := tx.Exec(ctx, `UPDATE webhook_endpoints SET status = $2, consecutive_failures = $3, failing_since = $4,
				probe_at = $5, probe_step = $6, updated_at = now(),
				disabled_at = CASE WHEN $2 = 'disabled' THEN coalesce(disabled_at, now()) ELSE NULL END
			WHERE id = $1`, endpointID, string(after.Status), after.Failures, after.FailingSince, after.ProbeAt, after.ProbeStep); err != nil {
			return fmt.Errorf("record health of endpoint %s: %w", endpointID, err)
		}
		if _, err := tx.Exec(ctx, `UPDATE deliveries SET lease_until = NULL WHERE id = $1`, deliveryID); err != nil {
			return fmt.Errorf("end lease of delivery %s: %w", deliveryID, err)
		}
		if after.Status == webhook.EndpointDisabled && before.Status != webhook.EndpointDisabled {
			// Nothing will be sent until it is enabled: what waits is a dead
			// letter now, listed and replayable per endpoint.
			if _, err := tx.Exec(ctx, `UPDATE deliveries SET status = 'dead', dead_at = now(), lease_until = NULL, updated_at = now()
				WHERE endpoint_id = $1 AND status IN ('pending', 'failing')`, endpointID); err != nil {
				return fmt.Errorf("dead-letter deliveries of disabled endpoint %s: %w", endpointID, err)
			}
		}
		return nil
	})
	return before, after, err
}

// AdmitDelivery decides, under its endpoint's lock, whether a delivery's
// attempt may go now: decide gets the endpoint's health and the delivery's
// lane (its report's earlier events to the endpoint, the endpoint's leases
// in flight). An admitted delivery takes a lease until now+lease, which
// counts it in flight on every worker until its attempt is settled or the
// lease runs out (a crashed worker).
func (s *Store) AdmitDelivery(ctx context.Context, deliveryID string, lease time.Duration,
	decide func(webhook.Health, webhook.Lane, time.Time) webhook.Admission) (webhook.Admission, error) {
	var adm webhook.Admission
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		var endpointID, reportID string
		var seq int
		if err := tx.QueryRow(ctx, `SELECT endpoint_id, report_id, sequence FROM deliveries WHERE id = $1 AND endpoint_id IS NOT NULL`, deliveryID).
			Scan(&endpointID, &reportID, &seq); err != nil {
			return notFound(err, "endpoint delivery", deliveryID)
		}
		var h webhook.Health
		var status string
		var now time.Time
		if err := tx.QueryRow(ctx, `SELECT status, consecutive_failures, failing_since, probe_at, probe_step, now()
			FROM webhook_endpoints WHERE id = $1 FOR UPDATE`, endpointID).
			Scan(&status, &h.Failures, &h.FailingSince, &h.ProbeAt, &h.ProbeStep, &now); err != nil {
			return notFound(err, "webhook endpoint", endpointID)
		}
		h.Status = webhook.EndpointStatus(status)
		var l webhook.Lane
		var due *time.Time
		if err := tx.QueryRow(ctx, `SELECT
				(SELECT min(next_attempt_at) FROM deliveries WHERE report_id = $2 AND target = $1 AND sequence < $3 AND status IN ('pending', 'failing')),
				(SELECT count(*) FROM deliveries WHERE endpoint_id = $1 AND lease_until > now() AND id <> $4)`,
			endpointID, reportID, seq, deliveryID).Scan(&due, &l.InFlight); err != nil {
			return fmt.Errorf("read lane of delivery %s: %w", deliveryID, err)
		}
		if due != nil {
			l.EarlierOpen, l.EarlierDue = true, *due
		}
		adm = decide(h, l, now)
		if !adm.Go {
			// The row says when it is next looked at, so the sweeper does not
			// count a waiting delivery as lost.
			if _, err := tx.Exec(ctx, `UPDATE deliveries SET next_attempt_at = now() + $2::interval WHERE id = $1 AND status IN ('pending', 'failing')`,
				deliveryID, adm.Wait); err != nil {
				return fmt.Errorf("postpone delivery %s: %w", deliveryID, err)
			}
			return nil
		}
		if _, err := tx.Exec(ctx, `UPDATE deliveries SET lease_until = now() + $2::interval WHERE id = $1`, deliveryID, lease); err != nil {
			return fmt.Errorf("lease delivery %s: %w", deliveryID, err)
		}
		return nil
	})
	return adm, err
}

// WaitingDeliveries lists what an endpoint's deliveries wait for once it
// is healthy again, or what a settled delivery held back: ("", id) lists
// the endpoint's open deliveries, oldest first; (reportID, endpointID) the
// report's open events to it.
func (s *Store) WaitingDeliveries(ctx context.Context, endpointID, reportID string, limit int) ([]domain.WorkRef, error) {
	return s.refs(ctx, `SELECT id, report_id, client_id FROM deliveries
		WHERE endpoint_id = $1 AND ($2 = '' OR report_id = $2) AND status IN ('pending', 'failing')
		ORDER BY sequence, created_at, id LIMIT $3`, endpointID, reportID, limit)
}
