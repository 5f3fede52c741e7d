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
	var ok bool
	if err := conn.QueryRow(ctx, `SELECT pg_try_advisory_lock(hashtext($1))`, l.name).Scan(&ok); err != nil {
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
