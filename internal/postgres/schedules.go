package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/reportd/reportd/internal/domain"
	"github.com/reportd/reportd/internal/schedule"
)

// schedulesChannel is what migration 00006's trigger notifies when schedules change.
const schedulesChannel = "schedules_changed"

const scheduleColumns = `id, client_id, cron, timezone, report, paused, next_run_at, last_run_at,
	coalesce(last_report_id, ''), created_at, updated_at`

func scanSchedule(row pgx.Row) (schedule.Schedule, error) {
	var s schedule.Schedule
	var tmpl []byte
	if err := row.Scan(&s.ID, &s.ClientID, &s.Cron, &s.Timezone, &tmpl, &s.Paused, &s.NextRunAt, &s.LastRunAt,
		&s.LastReportID, &s.CreatedAt, &s.UpdatedAt); err != nil {
		return schedule.Schedule{}, err
	}
	if err := json.Unmarshal(tmpl, &s.Report); err != nil {
		return schedule.Schedule{}, fmt.Errorf("decode report of schedule %s: %w", s.ID, err)
	}
	return s, nil
}

// CreateSchedule inserts a schedule unless its client already has max
// (0: no limit): schedule.ErrLimit.
func (s *Store) CreateSchedule(ctx context.Context, sch schedule.Schedule, maxPerClient int) (schedule.Schedule, error) {
	tmpl, err := json.Marshal(sch.Report)
	if err != nil {
		return schedule.Schedule{}, fmt.Errorf("encode report of schedule: %w", err)
	}
	var created schedule.Schedule
	err = s.inTx(ctx, func(tx pgx.Tx) error {
		// One creation per client at a time, so concurrent requests cannot
		// pass the count together.
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtext('schedules:' || $1))`, sch.ClientID); err != nil {
			return fmt.Errorf("lock schedules of %s: %w", sch.ClientID, err)
		}
		created, err = scanSchedule(tx.QueryRow(ctx, `INSERT INTO schedules (id, client_id, cron, timezone, report, paused, next_run_at)
			SELECT $1, $2, $3, $4, $5, $6, $7
			WHERE $8 <= 0 OR (SELECT count(*) FROM schedules WHERE client_id = $2) < $8
			RETURNING `+scheduleColumns, sch.ID, sch.ClientID, sch.Cron, sch.Timezone, tmpl, sch.Paused, sch.NextRunAt, maxPerClient))
		if errors.Is(err, pgx.ErrNoRows) {
			return schedule.ErrLimit
		}
		if err != nil {
			return fmt.Errorf("insert schedule: %w", err)
		}
		return nil
	})
	return created, err
}

// GetSchedule loads a client's schedule; another client's is ErrNotFound.
func (s *Store) GetSchedule(ctx context.Context, clientID, id string) (schedule.Schedule, error) {
	sch, err := scanSchedule(s.pool.QueryRow(ctx, `SELECT `+scheduleColumns+` FROM schedules WHERE id = $1 AND client_id = $2`, id, clientID))
	return sch, notFound(err, "schedule", id)
}

// ListSchedules returns a page of a client's schedules, newest first, after
// the (created_at, id) of the previous page's last row.
func (s *Store) ListSchedules(ctx context.Context, clientID string, afterCreated time.Time, afterID string, limit int) ([]schedule.Schedule, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+scheduleColumns+` FROM schedules
		WHERE client_id = $1 AND ($3 = '' OR (created_at, id) < ($2, $3))
		ORDER BY created_at DESC, id DESC LIMIT $4`, clientID, afterCreated, afterID, limit)
	if err != nil {
		return nil, classify(fmt.Errorf("list schedules: %w", err))
	}
	list, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (schedule.Schedule, error) { return scanSchedule(row) })
	if err != nil {
		return nil, classify(fmt.Errorf("list schedules: %w", err))
	}
	return list, nil
}

// UpdateSchedule changes a client's schedule: change edits the locked row
// (and sets its NextRunAt), and the result is written back.
func (s *Store) UpdateSchedule(ctx context.Context, clientID, id string, change func(*schedule.Schedule) error) (schedule.Schedule, error) {
	var updated schedule.Schedule
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		sch, err := scanSchedule(tx.QueryRow(ctx, `SELECT `+scheduleColumns+` FROM schedules WHERE id = $1 AND client_id = $2 FOR UPDATE`, id, clientID))
		if err := notFound(err, "schedule", id); err != nil {
			return err
		}
		if err := change(&sch); err != nil {
			return err
		}
		tmpl, err := json.Marshal(sch.Report)
		if err != nil {
			return fmt.Errorf("encode report of schedule %s: %w", id, err)
		}
		updated, err = scanSchedule(tx.QueryRow(ctx, `UPDATE schedules SET cron = $2, timezone = $3, report = $4, paused = $5,
			next_run_at = $6, updated_at = now() WHERE id = $1 RETURNING `+scheduleColumns,
			id, sch.Cron, sch.Timezone, tmpl, sch.Paused, sch.NextRunAt))
		if err != nil {
			return fmt.Errorf("update schedule %s: %w", id, err)
		}
		return nil
	})
	return updated, err
}

// DeleteSchedule deletes a client's schedule; its reports stay.
func (s *Store) DeleteSchedule(ctx context.Context, clientID, id string) error {
	tag, err := s.pool.Exec(ctx, `DELETE FROM schedules WHERE id = $1 AND client_id = $2`, id, clientID)
	if err != nil {
		return classify(fmt.Errorf("delete schedule %s: %w", id, err))
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("schedule %s: %w", id, domain.ErrNotFound)
	}
	return nil
}

// FireSchedule fires one schedule that is due at now, if any: in one
// transaction it locks the row (SKIP LOCKED, so workers never wait on each
// other or fire one schedule twice), creates the report plan decides on
// through the same insert as POST /v1/reports, and moves next_run_at on.
// ok is false when nothing was due.
func (s *Store) FireSchedule(ctx context.Context, now time.Time, plan func(schedule.Schedule) schedule.Fire) (f schedule.Fired, ok bool, err error) {
	err = s.inTx(ctx, func(tx pgx.Tx) error {
		sch, err := scanSchedule(tx.QueryRow(ctx, `SELECT `+scheduleColumns+` FROM schedules
			WHERE next_run_at <= $1 AND NOT paused ORDER BY next_run_at LIMIT 1 FOR UPDATE SKIP LOCKED`, now))
		if errors.Is(err, pgx.ErrNoRows) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("claim due schedule: %w", err)
		}
		ok = true
		fire := plan(sch)
		f = schedule.Fired{Schedule: sch, Fire: fire}
		if fire.Report != nil {
			params, err := json.Marshal(fire.Report.Params)
			if err != nil {
				return fmt.Errorf("encode params: %w", err)
			}
			// Scheduled fires are not held to the in-flight limit: the
			// per-client schedule cap and the interval floor bound them.
			rep, err := insertReport(ctx, tx, *fire.Report, params, 0)
			switch {
			case errors.Is(err, domain.ErrConflict):
				f.Duplicate = true // made by an earlier fire; only move on
			case err != nil:
				return err
			default:
				f.ReportID = rep.ID
			}
		}
		var next *time.Time
		if !fire.NextRunAt.IsZero() {
			next = &fire.NextRunAt
		}
		if _, err := tx.Exec(ctx, `UPDATE schedules SET next_run_at = $2, last_run_at = $3,
			last_report_id = coalesce(NULLIF($4, ''), last_report_id), updated_at = now() WHERE id = $1`,
			sch.ID, next, fire.ScheduledFor, f.ReportID); err != nil {
			return fmt.Errorf("advance schedule %s: %w", sch.ID, err)
		}
		return nil
	})
	if err != nil {
		return schedule.Fired{}, false, err
	}
	return f, ok, nil
}

// NextScheduleRun is the earliest next_run_at of an active schedule; ok is
// false when there is none.
func (s *Store) NextScheduleRun(ctx context.Context) (time.Time, bool, error) {
	var next *time.Time
	if err := s.pool.QueryRow(ctx, `SELECT min(next_run_at) FROM schedules WHERE NOT paused`).Scan(&next); err != nil {
		return time.Time{}, false, classify(fmt.Errorf("find next schedule run: %w", err))
	}
	if next == nil {
		return time.Time{}, false, nil
	}
	return *next, true, nil
}

// WatchSchedules signals wake whenever schedules change, as WatchOutbox does
// for new reports.
func (s *Store) WatchSchedules(ctx context.Context, logger *slog.Logger, wake chan<- struct{}) {
	s.watch(ctx, logger, schedulesChannel, wake)
}
