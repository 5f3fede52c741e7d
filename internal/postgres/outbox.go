package postgres

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgconn/ctxwatch"
)

// outboxChannel is what migration 00004's trigger notifies when reports are
// inserted.
const outboxChannel = "reports_outbox"

// Outbox listener timings.
const (
	// outboxQuiet is how long the listener waits for a notification before
	// it pings its connection: a connection that died without a word (a
	// failover, a partition) would otherwise wait forever.
	outboxQuiet = 30 * time.Second
	// outboxPing bounds that ping.
	outboxPing = 5 * time.Second
	// outboxReconnectPause is the wait before listening again after a failure.
	outboxReconnectPause = time.Second
)

// WatchOutbox signals wake whenever new reports may be waiting in the
// outbox, until ctx ends: on each NOTIFY from an insert's transaction, and
// on each (re)connect, since what was notified while nobody listened is
// lost. It never blocks on wake (give it a buffer of one): a pending signal
// already says "look". It listens on a connection of its own and reconnects
// after failures; the dispatcher's slow poll covers the gaps.
func (s *Store) WatchOutbox(ctx context.Context, logger *slog.Logger, wake chan<- struct{}) {
	s.watch(ctx, logger, outboxChannel, wake)
}

// watch signals wake on each NOTIFY on channel and on each (re)connect,
// until ctx ends.
func (s *Store) watch(ctx context.Context, logger *slog.Logger, channel string, wake chan<- struct{}) {
	for {
		err := s.listen(ctx, logger, channel, wake, outboxQuiet)
		if ctx.Err() != nil {
			return
		}
		logger.WarnContext(ctx, "listener stopped; listening again", "channel", channel, "err", err, "pause", outboxReconnectPause)
		select {
		case <-ctx.Done():
			return
		case <-time.After(outboxReconnectPause):
		}
	}
}

// listenOutbox listens for new reports on one connection until it fails or
// ctx ends, pinging it after each quiet period.
func (s *Store) listenOutbox(ctx context.Context, logger *slog.Logger, wake chan<- struct{}, quiet time.Duration) error {
	return s.listen(ctx, logger, outboxChannel, wake, quiet)
}

// listen listens on channel on one connection until it fails or ctx ends,
// pinging it after each quiet period.
func (s *Store) listen(ctx context.Context, logger *slog.Logger, channel string, wake chan<- struct{}, quiet time.Duration) error {
	cfg := s.pool.Config().ConnConfig.Copy()
	// A timed-out wait must leave the connection usable: set a deadline
	// instead of sending the server a cancel request.
	cfg.BuildContextWatcherHandler = func(c *pgconn.PgConn) ctxwatch.Handler {
		return &pgconn.DeadlineContextWatcherHandler{Conn: c.Conn()}
	}
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return fmt.Errorf("connect %s listener: %w", channel, err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	if _, err := conn.Exec(ctx, "LISTEN "+channel); err != nil {
		return fmt.Errorf("listen %s: %w", channel, err)
	}
	logger.DebugContext(ctx, "listener listening", "channel", channel)
	wakeUp(wake) // for what was inserted before we listened
	for {
		wctx, cancel := context.WithTimeout(ctx, quiet)
		_, err := conn.WaitForNotification(wctx)
		cancel()
		switch {
		case ctx.Err() != nil:
			return ctx.Err()
		case err == nil:
			wakeUp(wake)
		case pgconn.Timeout(err):
			pctx, cancel := context.WithTimeout(ctx, outboxPing)
			err := conn.Ping(pctx)
			cancel()
			if err != nil {
				return fmt.Errorf("ping %s listener: %w", channel, err)
			}
		default:
			return fmt.Errorf("wait for %s: %w", channel, err)
		}
	}
}

func wakeUp(wake chan<- struct{}) {
	select {
	case wake <- struct{}{}:
	default:
	}
}
