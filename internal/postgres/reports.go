package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/reportd/reportd/internal/domain"
)

// CreateReport inserts a report unless the client already has maxInFlight
// unfinished reports (0: no limit). When key is set, the response that
// respond builds from the new row is stored on the claimed idempotency key
// in the same transaction, so a report never exists without its replayable
// response. Without a key, concurrent inserts are batched into one
// statement: the quota check and the insert of many reports share one round
// trip and one commit.
func (s *Store) CreateReport(ctx context.Context, r domain.NewReport, maxInFlight int, key *domain.IdempotencyKey,
	respond func(domain.Report) (status int, body []byte, err error)) (domain.Report, error) {
	params, err := json.Marshal(r.Params)
	if err != nil {
		return domain.Report{}, fmt.Errorf("encode params: %w", err)
	}
	if key == nil {
		return s.inserts.insert(ctx, &insertRequest{r: r, params: string(params), maxInFlight: maxInFlight})
	}
	var created domain.Report
	err = s.inTx(ctx, func(tx pgx.Tx) error {
		if created, err = insertReport(ctx, tx, r, params, maxInFlight); err != nil {
			return err
		}
		status, body, err := respond(created)
		if err != nil {
			return err
		}
		return completeKey(ctx, tx, *key, status, body)
	})
	return created, err
}

// insertReport inserts one report unless its client has maxInFlight
// unfinished reports (0: no limit): ErrQuotaExceeded. A schedule's fire
// that already made its report inserts nothing: ErrConflict.
func insertReport(ctx context.Context, q querier, r domain.NewReport, params []byte, maxInFlight int) (domain.Report, error) {
	onConflict := ""
	if r.ScheduleID != "" {
		onConflict = ` ON CONFLICT (schedule_id, scheduled_for) WHERE schedule_id IS NOT NULL DO NOTHING`
	}
	// The count stops at the limit, so its cost does not grow with a backlog.
	created, err := scanInserted(q.QueryRow(ctx, `INSERT INTO reports (id, client_id, type, format, params, metadata, webhook_url, min_position, request_id,
			schedule_id, scheduled_for, as_of)
		SELECT $1, $2, $3, $4, $5, $6,
			coalesce(NULLIF($7, ''), (SELECT c.webhook_url FROM clients c WHERE c.id = $2 AND c.webhook_disabled_at IS NULL)), $8, NULLIF($10, ''),
			NULLIF($11, ''), $12, $13
		WHERE $9 <= 0 OR (SELECT count(*) FROM (SELECT 1 FROM reports
			WHERE client_id = $2 AND status IN ('queued', 'running') LIMIT $9) AS in_flight) < $9`+onConflict+`
		RETURNING `+insertedColumns,
		r.ID, r.ClientID, r.Type, r.Format, params, nullJSON(r.Metadata), r.WebhookURL, r.MinPosition, maxInFlight, r.RequestID,
		r.ScheduleID, r.ScheduledFor, r.AsOf), r)
	switch {
	case errors.Is(err, pgx.ErrNoRows) && r.ScheduleID != "" && maxInFlight <= 0:
		return domain.Report{}, fmt.Errorf("insert report of %s at %s: %w", r.ScheduleID, r.ScheduledFor, domain.ErrConflict)
	case errors.Is(err, pgx.ErrNoRows):
		return domain.Report{}, domain.ErrQuotaExceeded
	case err != nil:
		return domain.Report{}, classify(fmt.Errorf("insert report: %w", err))
	}
	return created, nil
}

func nullJSON(b json.RawMessage) any {
	if len(b) == 0 {
		return nil
	}
	return []byte(b)
}

// reportColumns lists what scanReport reads, with the webhook summary taken
// from the report's newest delivery to its own URL (endpoints have their
// own delivery lists).
const reportColumns = `id, client_id, type, format, params, metadata, coalesce(webhook_url, ''), min_position,
	status, attempts, coalesce(error_code, ''), coalesce(error_message, ''),
	coalesce(object_key, ''), coalesce(content_type, ''), coalesce(size_bytes, 0), coalesce(sha256, ''),
	coalesce(pages, 0), coalesce(rows, 0), coalesce(data_position, 0),
	created_at, started_at, completed_at, expires_at,
	(SELECT d.status FROM deliveries d WHERE d.report_id = reports.id AND d.target = 'default' ORDER BY d.created_at DESC LIMIT 1),
	(SELECT d.attempts FROM deliveries d WHERE d.report_id = reports.id AND d.target = 'default' ORDER BY d.created_at DESC LIMIT 1),
	coalesce(schedule_id, ''), scheduled_for, as_of, running_announced_at IS NOT NULL, progress, run_seq`

// insertedColumns are what an INSERT's RETURNING adds to what the caller
// sent: a new report has no result, no attempts and no deliveries yet, so
// reading back every column (and two lookups in deliveries) is work for
// nothing on the busiest path.
const insertedColumns = `created_at, coalesce(webhook_url, ''), metadata`

// inserted is the row's part of a new report: its insertedColumns.
type inserted struct {
	createdAt  time.Time
	webhookURL string
	metadata   []byte
}

func (i *inserted) targets() []any { return []any{&i.createdAt, &i.webhookURL, &i.metadata} }

// report builds the new report r as its row now holds it.
func (i *inserted) report(r domain.NewReport) domain.Report {
	rep := domain.Report{ID: r.ID, ClientID: r.ClientID, Type: r.Type, Format: r.Format, Params: r.Params,
		MinPosition: r.MinPosition, AsOf: r.AsOf, WebhookURL: i.webhookURL, Status: domain.StatusQueued, CreatedAt: i.createdAt,
		ScheduleID: r.ScheduleID, ScheduledFor: r.ScheduledFor}
	if len(i.metadata) > 0 {
		rep.Metadata = i.metadata // as jsonb wrote it, the same as every later read
	}
	rep.WebhookStatus, rep.WebhookAttempts = webhookSummary(rep, nil, nil)
	return rep
}

// scanInserted reads the row an INSERT … RETURNING insertedColumns made of r.
func scanInserted(row pgx.Row, r domain.NewReport) (domain.Report, error) {
	var i inserted
	if err := row.Scan(i.targets()...); err != nil {
		return domain.Report{}, err
	}
	return i.report(r), nil
}

func scanReport(row pgx.Row) (domain.Report, error) {
	var r domain.Report
	var params []byte
	var metadata []byte
	var webhookStatus *string
	var webhookAttempts *int
	var progress []byte
	err := row.Scan(&r.ID, &r.ClientID, &r.Type, &r.Format, &params, &metadata, &r.WebhookURL, &r.MinPosition,
		&r.Status, &r.Attempts, &r.ErrorCode, &r.ErrorMessage,
		&r.ObjectKey, &r.ContentType, &r.SizeBytes, &r.SHA256, &r.Pages, &r.Rows, &r.DataPosition,
		&r.CreatedAt, &r.StartedAt, &r.CompletedAt, &r.ExpiresAt, &webhookStatus, &webhookAttempts,
		&r.ScheduleID, &r.ScheduledFor, &r.AsOf, &r.RunningAnnounced, &progress, &r.Run)
	if err != nil {
		return domain.Report{}, err
	}
	if err := json.Unmarshal(params, &r.Params); err != nil {
		return domain.Report{}, fmt.Errorf("decode params of %s: %w", r.ID, err)
	}
	if len(metadata) > 0 {
		r.Metadata = metadata
	}
	if r.AsOf != nil {
		asOf := r.AsOf.UTC()
		r.AsOf = &asOf
	}
	if len(progress) > 0 {
		r.Progress = &domain.Progress{}
		if err := json.Unmarshal(progress, r.Progress); err != nil {
			return domain.Report{}, fmt.Errorf("decode progress of %s: %w", r.ID, err)
		}
	}
	r.WebhookStatus, r.WebhookAttempts = webhookSummary(r, webhookStatus, webhookAttempts)
	return r, nil
}

// webhookSummary turns the newest delivery into the report's webhook
// status: none (no URL, the URL was disabled, or a report that finished
// without a delivery: a canceled one), pending, delivered, failing or dead.
func webhookSummary(r domain.Report, status *string, attempts *int) (string, int) {
	if status == nil || attempts == nil {
		// Succeeding or failing writes the delivery in the same
		// transaction, so a finished report without one never gets one.
		if r.WebhookURL == "" || r.Status.Finished() {
			return "none", 0
		}
		return "pending", 0
	}
	if domain.DeliveryStatus(*status) == domain.DeliveryDisabled {
		return "none", *attempts
	}
	return *status, *attempts
}

// GetReport loads a client's report; another client's report is ErrNotFound.
func (s *Store) GetReport(ctx context.Context, clientID, id string) (domain.Report, error) {
	r, err := scanReport(s.pool.QueryRow(ctx, `SELECT `+reportColumns+` FROM reports WHERE id = $1 AND client_id = $2`, id, clientID))
	return r, notFound(err, "report", id)
}

// LoadReport loads a report for the worker, whatever its client.
func (s *Store) LoadReport(ctx context.Context, id string) (domain.Report, error) {
	r, err := scanReport(s.pool.QueryRow(ctx, `SELECT `+reportColumns+` FROM reports WHERE id = $1`, id))
	return r, notFound(err, "report", id)
}

func notFound(err error, what, id string) error {
	if errors.Is(err, pgx.ErrNoRows) {
		return fmt.Errorf("%s %s: %w", what, id, domain.ErrNotFound)
	}
	if err != nil {
		return classify(fmt.Errorf("load %s %s: %w", what, id, err))
	}
	return nil
}

// ListReports returns a page of a client's reports, newest first.
func (s *Store) ListReports(ctx context.Context, clientID string, f domain.ListFilter) ([]domain.Report, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+reportColumns+` FROM reports
		WHERE client_id = $1
		  AND ($2 = '' OR status = $2)
		  AND ($3 = '' OR type = $3)
		  AND ($5 = '' OR (created_at, id) < ($4, $5))
		ORDER BY created_at DESC, id DESC
		LIMIT $6`, clientID, string(f.Status), string(f.Type), f.AfterCreated, f.AfterID, f.Limit)
	if err != nil {
		return nil, classify(fmt.Errorf("list reports: %w", err))
	}
	list, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (domain.Report, error) { return scanReport(row) })
	if err != nil {
		return nil, classify(fmt.Errorf("list reports: %w", err))
	}
	return list, nil
}

// StartReport moves a queued or running report to running, counts the
// attempt and starts a new run of it on worker: the run's number (r.Run)
// fences every earlier run out (see [Store.SucceedReport]). ok is false when
// the report is already finished, so a duplicate task does nothing.
func (s *Store) StartReport(ctx context.Context, id, worker string) (r domain.Report, ok bool, err error) {
	r, err = scanReport(s.pool.QueryRow(ctx, `UPDATE reports
		SET status = 'running', attempts = attempts + 1, started_at = coalesce(started_at, now()), updated_at = now(),
			run_by = NULLIF($2, ''), run_seq = run_seq + 1
		WHERE id = $1 AND status IN ('queued', 'running') RETURNING `+reportColumns, id, worker))
	if errors.Is(err, pgx.ErrNoRows) {
		r, err = s.LoadReport(ctx, id)
		return r, false, err
	}
	if err != nil {
		return domain.Report{}, false, classify(fmt.Errorf("start report %s: %w", id, err))
	}
	return r, true, nil
}

// ReleaseAttempt takes back the attempt run counted, for a run that ended
// waiting (for the read model or a dependency) rather than building:
// attempts counts builds. Its task waits in asynq's retry set, not on the
// worker, so the run is no longer the worker's (run_by) to be rescued. A run
// fenced out by a newer one changes nothing.
func (s *Store) ReleaseAttempt(ctx context.Context, id string, run int64) error {
	if _, err := s.pool.Exec(ctx, `UPDATE reports SET attempts = attempts - 1, run_by = NULL
		WHERE id = $1 AND status = 'running' AND attempts > 0 AND run_seq = $2`, id, run); err != nil {
		return classify(fmt.Errorf("release attempt of report %s: %w", id, err))
	}
	return nil
}

// SucceedReport records run's result and creates the report's
// report.succeeded deliveries (one per target) in one transaction. It
// returns the delivery ids to enqueue. A report that is no longer running,
// or whose current run is a newer one, is left alone (ErrConflict).
//
// The fencing rule, for every way two runs of one report can overlap (a
// rescued run beside a worker that was only stopped or cut off, asynq's
// late hand-back of the original task): each StartReport takes the next
// run_seq, and only the run holding the current run_seq may finish the
// report (SucceedReport, FailReport) or give its attempt back
// (ReleaseAttempt). Each run uploads to its own object key (jobs.ObjectKey
// includes the run), so the loser deletes only its own file, never the
// winner's. One result, one report.succeeded event, and attempts counts
// the runs that started.
func (s *Store) SucceedReport(ctx context.Context, id string, run int64, res domain.Result, ev *domain.NewDelivery) (deliveryIDs []string, err error) {
	return s.finishReport(ctx, id, ev, `UPDATE reports SET status = 'succeeded', completed_at = now(), updated_at = now(),
		error_code = NULL, error_message = NULL, object_key = $2, content_type = $3, size_bytes = $4, sha256 = $5,
		pages = $6, rows = $7, data_position = $8, expires_at = $9, run_by = NULL
		WHERE id = $1 AND status = 'running' AND run_seq = $10`,
		id, res.ObjectKey, res.ContentType, res.SizeBytes, res.SHA256, res.Pages, res.Rows, res.DataPosition, res.ExpiresAt, run)
}

// FailReport marks a queued or running report failed and creates its
// report.failed deliveries. run fences it like SucceedReport; 0 fails the
// report whatever run it is on (for a report that never started).
func (s *Store) FailReport(ctx context.Context, id string, run int64, code, message string, ev *domain.NewDelivery) (deliveryIDs []string, err error) {
	return s.finishReport(ctx, id, ev, `UPDATE reports SET status = 'failed', completed_at = now(), updated_at = now(),
		error_code = $2, error_message = $3, run_by = NULL
		WHERE id = $1 AND status IN ('queued', 'running') AND ($4::bigint = 0 OR run_seq = $4::bigint)`, id, code, message, run)
}

func (s *Store) finishReport(ctx context.Context, id string, ev *domain.NewDelivery, update string, args ...any) ([]string, error) {
	var deliveryIDs []string
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		if err := boundLockHold(ctx, tx); err != nil {
			return err
		}
		tag, err := tx.Exec(ctx, update, args...)
		if err != nil {
			return fmt.Errorf("finish report %s: %w", id, err)
		}
		if tag.RowsAffected() == 0 {
			return fmt.Errorf("finish report %s: %w", id, domain.ErrConflict)
		}
		if ev == nil {
			return nil
		}
		deliveryIDs, err = insertEvent(ctx, tx, id, *ev)
		return err
	})
	return deliveryIDs, err
}

// lockHoldMax bounds how long a worker's transaction that locks a report
// row may sit idle: a worker frozen (SIGSTOP) or cut off inside one would
// otherwise keep the lock, and block the rescue of the report, until its
// session dies, which for a frozen process is never (its kernel answers
// the keepalives). Postgres ends such a session after this.
const lockHoldMax = "5s"

// boundLockHold applies lockHoldMax to tx; call it first.
func boundLockHold(ctx context.Context, tx pgx.Tx) error {
	if _, err := tx.Exec(ctx, `SELECT set_config('idle_in_transaction_session_timeout', $1, true)`, lockHoldMax); err != nil {
		return fmt.Errorf("bound the transaction's idle time: %w", err)
	}
	return nil
}

// CancelReport cancels a queued or running report and creates its
// report.canceled deliveries in the same transaction; it returns their
// ids to enqueue. A finished one is ErrConflict.
func (s *Store) CancelReport(ctx context.Context, clientID, id string) (domain.Report, []string, error) {
	var r domain.Report
	var deliveryIDs []string
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		var err error
		r, err = scanReport(tx.QueryRow(ctx, `UPDATE reports SET status = 'canceled', completed_at = now(), updated_at = now()
			WHERE id = $1 AND client_id = $2 AND status IN ('queued', 'running') RETURNING `+reportColumns, id, clientID))
		if err != nil {
			return err
		}
		ev, err := domain.NewEvent(r, domain.EventCanceled, "", time.Now())
		if err != nil {
			return err
		}
		deliveryIDs, err = insertEvent(ctx, tx, id, ev)
		return err
	})
	if errors.Is(err, pgx.ErrNoRows) {
		if _, err := s.GetReport(ctx, clientID, id); err != nil {
			return domain.Report{}, nil, err
		}
		return domain.Report{}, nil, fmt.Errorf("cancel report %s: %w", id, domain.ErrConflict)
	}
	if err != nil {
		return domain.Report{}, nil, classify(fmt.Errorf("cancel report %s: %w", id, err))
	}
	return r, deliveryIDs, nil
}

// StaleReports lists unfinished reports untouched for longer than age; the
// sweeper re-enqueues them in case their task was lost.
func (s *Store) StaleReports(ctx context.Context, age time.Duration, limit int) ([]domain.WorkRef, error) {
	return s.refs(ctx, `SELECT id, id AS report_id, client_id FROM reports WHERE status IN ('queued', 'running') AND updated_at < now() - $1::interval
		ORDER BY updated_at LIMIT $2`, age, limit)
}

// ClaimReportsToEnqueue marks up to limit new reports as handed to the queue
// and returns them: the transactional outbox. Several workers may claim at
// once; SKIP LOCKED gives each its own rows.
func (s *Store) ClaimReportsToEnqueue(ctx context.Context, limit int) ([]domain.QueuedReport, error) {
	rows, err := s.pool.Query(ctx, `UPDATE reports SET enqueued_at = now()
		WHERE id IN (SELECT id FROM reports WHERE status = 'queued' AND enqueued_at IS NULL
		             ORDER BY created_at LIMIT $1 FOR UPDATE SKIP LOCKED)
		RETURNING id, client_id, coalesce(request_id, '')`, limit)
	if err != nil {
		return nil, classify(fmt.Errorf("claim reports to enqueue: %w", err))
	}
	refs, err := pgx.CollectRows(rows, pgx.RowToStructByPos[domain.QueuedReport])
	if err != nil {
		return nil, classify(fmt.Errorf("claim reports to enqueue: %w", err))
	}
	return refs, nil
}

// UnclaimReports hands reports whose enqueue failed back to the outbox.
func (s *Store) UnclaimReports(ctx context.Context, ids []string) error {
	if _, err := s.pool.Exec(ctx, `UPDATE reports SET enqueued_at = NULL WHERE id = ANY($1) AND status = 'queued'`, ids); err != nil {
		return classify(fmt.Errorf("unclaim reports: %w", err))
	}
	return nil
}

// ExpiringReports lists succeeded reports whose retention has ended.
func (s *Store) ExpiringReports(ctx context.Context, limit int) ([]domain.ExpiredFile, error) {
	rows, err := s.pool.Query(ctx, `SELECT id, coalesce(object_key, ''), client_id, format, run_seq FROM reports
		WHERE status = 'succeeded' AND expires_at < now() ORDER BY expires_at LIMIT $1`, limit)
	if err != nil {
		return nil, classify(fmt.Errorf("list expiring reports: %w", err))
	}
	list, err := pgx.CollectRows(rows, pgx.RowToStructByPos[domain.ExpiredFile])
	if err != nil {
		return nil, classify(fmt.Errorf("list expiring reports: %w", err))
	}
	return list, nil
}

// ExpireReport marks a report expired once its object is gone and creates
// its report.expired deliveries in the same transaction; it returns their
// ids to enqueue (none when the report was not succeeded).
func (s *Store) ExpireReport(ctx context.Context, id string) ([]string, error) {
	var deliveryIDs []string
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		r, err := scanReport(tx.QueryRow(ctx, `UPDATE reports SET status = 'expired', updated_at = now()
			WHERE id = $1 AND status = 'succeeded' RETURNING `+reportColumns, id))
		if errors.Is(err, pgx.ErrNoRows) {
			return nil
		}
		if err != nil {
			return err
		}
		ev, err := domain.NewEvent(r, domain.EventExpired, "", time.Now())
		if err != nil {
			return err
		}
		deliveryIDs, err = insertEvent(ctx, tx, id, ev)
		return err
	})
	if err != nil {
		return nil, classify(fmt.Errorf("expire report %s: %w", id, err))
	}
	return deliveryIDs, nil
}

func (s *Store) refs(ctx context.Context, sql string, args ...any) ([]domain.WorkRef, error) {
	rows, err := s.pool.Query(ctx, sql, args...)
	if err != nil {
		return nil, classify(fmt.Errorf("list work: %w", err))
	}
	refs, err := pgx.CollectRows(rows, pgx.RowToStructByPos[domain.WorkRef])
	if err != nil {
		return nil, classify(fmt.Errorf("list work: %w", err))
	}
	return refs, nil
}

func (s *Store) ids(ctx context.Context, sql string, args ...any) ([]string, error) {
	rows, err := s.pool.Query(ctx, sql, args...)
	if err != nil {
		return nil, classify(fmt.Errorf("list ids: %w", err))
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, classify(fmt.Errorf("list ids: %w", err))
	}
	return ids, nil
}
