package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/reportd/reportd/internal/domain"
)

// Beat renews worker's heartbeat (creating it on the first beat); host and
// pid name the process as asynq does.
func (s *Store) Beat(ctx context.Context, worker, host string, pid int) error {
	if _, err := s.pool.Exec(ctx, `INSERT INTO worker_heartbeats (worker_id, host, pid) VALUES ($1, $2, $3)
		ON CONFLICT (worker_id) DO UPDATE SET seen_at = now()`, worker, host, pid); err != nil {
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

// StaleProcesses reports whether worker leads the rescue (of the workers
// with a heartbeat newer than timeout, it started first) and, if it does,
// the processes whose heartbeat is older.
func (s *Store) StaleProcesses(ctx context.Context, worker string, timeout time.Duration) (bool, []domain.ProcessAddr, error) {
	var lead bool
	var hosts []string
	var pids []int32
	err := s.pool.QueryRow(ctx, `SELECT
		coalesce((SELECT h.worker_id FROM worker_heartbeats h WHERE h.seen_at > now() - $1::interval
		          ORDER BY h.started_at, h.worker_id LIMIT 1), '') = $2,
		coalesce(array_agg(host), '{}'), coalesce(array_agg(pid), '{}')
		FROM worker_heartbeats WHERE seen_at <= now() - $1::interval`, timeout, worker).Scan(&lead, &hosts, &pids)
	if err != nil {
		return false, nil, classify(fmt.Errorf("list stale workers: %w", err))
	}
	if !lead {
		return false, nil, nil
	}
	stale := make([]domain.ProcessAddr, len(hosts))
	for i := range hosts {
		stale[i] = domain.ProcessAddr{Host: hosts[i], PID: int(pids[i])}
	}
	return true, stale, nil
}

// UnstartedReports returns those of ids that are still queued: no run has
// started them.
func (s *Store) UnstartedReports(ctx context.Context, ids []string) ([]string, error) {
	return s.ids(ctx, `SELECT id FROM reports WHERE id = ANY($1) AND status = 'queued'`, ids)
}

// DeleteStaleHeartbeats removes heartbeats older than age; a worker that was
// only stopped writes its row again when it resumes.
func (s *Store) DeleteStaleHeartbeats(ctx context.Context, age time.Duration) (int64, error) {
	tag, err := s.pool.Exec(ctx, `DELETE FROM worker_heartbeats WHERE seen_at <= now() - $1::interval`, age)
	if err != nil {
		return 0, classify(fmt.Errorf("delete stale heartbeats: %w", err))
	}
	return tag.RowsAffected(), nil
}
