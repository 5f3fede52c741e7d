package postgres

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/reportd/reportd/internal/domain"
	"github.com/reportd/reportd/internal/keyring"
)

// Store is the system of record for clients, reports, deliveries and
// idempotency keys.
type Store struct {
	pool    *pgxpool.Pool
	inserts *insertBatcher
	keyring *keyring.Keyring // seals webhook signing keys; see WithKeyring
}

// NewStore wraps a pool on the primary.
func NewStore(pool *pgxpool.Pool) *Store {
	return &Store{pool: pool, inserts: &insertBatcher{pool: pool}}
}

// Ping checks that Postgres answers, for /readyz.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.pool.Ping(ctx); err != nil {
		return fmt.Errorf("ping postgres: %w", err)
	}
	return nil
}

// classify wraps connection-level failures in domain.ErrUnavailable.
func classify(err error) error {
	if err == nil {
		return nil
	}
	if pgErr, ok := errors.AsType[*pgconn.PgError](err); ok {
		// 57P0x: the server is shutting down or restarting; 08xxx: connection exceptions.
		if len(pgErr.Code) == 5 && (pgErr.Code[:2] == "08" || pgErr.Code[:3] == "57P") {
			return fmt.Errorf("%w: %w", domain.ErrUnavailable, err)
		}
		return err
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	if pgconn.SafeToRetry(err) || pgconn.Timeout(err) || isConnError(err) {
		return fmt.Errorf("%w: %w", domain.ErrUnavailable, err)
	}
	return err
}

// isConnError matches failures to reach the server. pgx has no exported type
// for a dropped connection, so the message is the only signal left.
func isConnError(err error) bool {
	if _, ok := errors.AsType[*pgconn.ConnectError](err); ok {
		return true
	}
	msg := err.Error()
	for _, s := range []string{"conn closed", "connection refused", "broken pipe", "connection reset", "unexpected EOF", "failed to deallocate"} {
		if strings.Contains(msg, s) {
			return true
		}
	}
	return false
}

// inTx runs fn in a transaction and commits it.
func (s *Store) inTx(ctx context.Context, fn func(pgx.Tx) error) error {
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return classify(fmt.Errorf("begin transaction: %w", err))
	}
	defer func() { _ = tx.Rollback(context.WithoutCancel(ctx)) }()
	if err := fn(tx); err != nil {
		return classify(err)
	}
	if err := tx.Commit(ctx); err != nil {
		return classify(fmt.Errorf("commit: %w", err))
	}
	return nil
}

// Classify marks connection-level failures of any pgx call with
// domain.ErrUnavailable, for callers outside this package.
func Classify(err error) error { return classify(err) }
