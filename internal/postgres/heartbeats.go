package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/reportd/reportd/internal/domain"
)

// Beat renews worker's heartbeat (creating it on the first beat).
func (s *Store) Beat(ctx context.Context, worker string) error {
	if _, err := s.pool.Exec(ctx, `INSERT INTO worker_heartbeats (worker_id) VALUES ($1)
		ON CONFLICT (worker_id) DO UPDATE SET seen_at = now()`, worker); err != nil {
		return classify(fmt.Errorf("heartbeat of worker %s: %w", worker, err))
	}
	return nil
}

// EndHeartbeat removes worker's heartbeat on a clean shutdown, once its
// task servers have stopped and handed back to asynq the tasks still
// running: those runs are let go (run_by cleared) rather than rescued, so
// each report gets one new run, not two.
func (s *Store) EndHeartbeat(ctx context.Context, worker string) error {
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `UPDATE reports SET run_by = NULL WHERE run_by = $1 AND status = 'running'`, worker); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `DELETE FROM worker_heartbeats WHERE worker_id = $1`, worker)
		return err
	})
	if err != nil {
		return classify(fmt.Errorf("end heartbeat of worker %s: %w", worker, err))
	}
	return nil
}

// OrphanedRuns lists up to limit running reports whose worker has no
// heartbeat newer than timeout: the worker is gone (or stopped, or cut
// off), and its task sits in asynq's active set until the lease ends. It
// lists none unless worker leads the rescue: of the workers with a fresh
// heartbeat, the one that started first.
func (s *Store) OrphanedRuns(ctx context.Context, worker string, timeout time.Duration, limit int) ([]domain.OrphanedRun, error) {
	rows, err := s.pool.Query(ctx, `SELECT r.id, r.client_id, coalesce(r.request_id, ''), r.run_by, r.run_seq FROM reports r
		WHERE r.status = 'running' AND r.run_by IS NOT NULL
		  AND NOT EXISTS (SELECT 1 FROM worker_heartbeats h WHERE h.worker_id = r.run_by AND h.seen_at > now() - $1::interval)
		  AND $3 = (SELECT h.worker_id FROM worker_heartbeats h WHERE h.seen_at > now() - $1::interval
		            ORDER BY h.started_at, h.worker_id LIMIT 1)
		ORDER BY r.updated_at LIMIT $2`, timeout, limit, worker)
	if err != nil {
		return nil, classify(fmt.Errorf("list orphaned runs: %w", err))
	}
	list, err := pgx.CollectRows(rows, pgx.RowToStructByPos[domain.OrphanedRun])
	if err != nil {
		return nil, classify(fmt.Errorf("list orphaned runs: %w", err))
	}
	return list, nil
}

// DeleteStaleHeartbeats removes heartbeats older than timeout; a worker
// that was only stopped writes its row again when it resumes.
func (s *Store) DeleteStaleHeartbeats(ctx context.Context, timeout time.Duration) (int64, error) {
	tag, err := s.pool.Exec(ctx, `DELETE FROM worker_heartbeats WHERE seen_at <= now() - $1::interval`, timeout)
	if err != nil {
		return 0, classify(fmt.Errorf("delete stale heartbeats: %w", err))
	}
	return tag.RowsAffected(), nil
}
