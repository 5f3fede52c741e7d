package postgres

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5/pgxpool"
)

// Leadership is a session advisory lock held on its own connection: exactly
// one process at a time runs the sweepers. If that process dies, Postgres
// drops the session and the lock with it, and another process takes over.
type Leadership struct {
	pool *pgxpool.Pool
	name string
	conn *pgxpool.Conn
}

// NewLeadership names the lock; every process that competes must use the same name.
func (s *Store) NewLeadership(name string) *Leadership {
	return &Leadership{pool: s.pool, name: name}
}

// Acquire reports whether this process leads now. It checks that a held
// lock's connection is still alive and tries to take a free lock.
func (l *Leadership) Acquire(ctx context.Context) (bool, error) {
	if l.conn != nil {
		if err := l.conn.Ping(ctx); err == nil {
			return true, nil
		}
		l.conn.Release()
		l.conn = nil
	}
	conn, err := l.pool.Acquire(ctx)
	if err != nil {
		return false, classify(fmt.Errorf("acquire leader connection: %w", err))
	}
	// A leader cut off by a partition never closes its session, so the
	// server would keep the lock for it until TCP keepalives give up (two
	// hours by default) and nobody would sweep. These keepalives are the
	// session's own: the server drops it, and the lock, about 11 s after
	// the leader stops answering (5 s idle, then 3 probes 2 s apart).
	var ok bool
	var idle, interval, count string
	if err := conn.QueryRow(ctx, `SELECT set_config('tcp_keepalives_idle', '5', false),
		set_config('tcp_keepalives_interval', '2', false), set_config('tcp_keepalives_count', '3', false),
		pg_try_advisory_lock(hashtext($1))`, l.name).Scan(&idle, &interval, &count, &ok); err != nil {
		conn.Release()
		return false, classify(fmt.Errorf("try leader lock %s: %w", l.name, err))
	}
	if !ok {
		conn.Release()
		return false, nil
	}
	l.conn = conn
	return true, nil
}

// Release gives the lock up.
func (l *Leadership) Release(ctx context.Context) {
	if l.conn == nil {
		return
	}
	_, _ = l.conn.Exec(ctx, `SELECT pg_advisory_unlock(hashtext($1))`, l.name)
	l.conn.Release()
	l.conn = nil
}
