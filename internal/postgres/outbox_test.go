package postgres_test

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/reportd/reportd/internal/pgtest"
	"github.com/reportd/reportd/internal/postgres"
	"github.com/reportd/reportd/internal/testenv"
)

// waitWake fails the test unless wake is signalled within timeout.
func waitWake(t *testing.T, wake <-chan struct{}, timeout time.Duration, what string) {
	t.Helper()
	select {
	case <-wake:
	case <-time.After(timeout):
		t.Fatalf("no wake-up within %s %s", timeout, what)
	}
}

func TestWatchOutboxWakesOnNewReports(t *testing.T) {
	store := postgres.NewStore(pgtest.New(t))
	client := newClient(t, store, "")
	ctx, cancel := context.WithCancel(context.Background())
	wake := make(chan struct{}, 1)
	done := make(chan struct{})
	go func() {
		defer close(done)
		store.WatchOutbox(ctx, slog.New(slog.DiscardHandler), wake)
	}()
	t.Cleanup(func() { cancel(); <-done })

	waitWake(t, wake, 10*time.Second, "once listening (for what came before)")
	for i := range 3 {
		if _, err := store.CreateReport(context.Background(), newReport(client), 0, nil, nil); err != nil {
			t.Fatal(err)
		}
		waitWake(t, wake, 10*time.Second, "after a report was created")
		if i == 0 {
			select {
			case <-wake:
				t.Fatal("one insert woke the dispatcher twice")
			default:
			}
		}
	}
	cancel()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("WatchOutbox did not return when its context ended")
	}
}

// TestListenOutboxOutlivesQuietPeriods: a wait that times out pings the
// connection and leaves it listening.
func TestListenOutboxOutlivesQuietPeriods(t *testing.T) {
	pool := pgtest.New(t)
	store := postgres.NewStore(pool)
	client := newClient(t, store, "")
	ctx, cancel := context.WithCancel(context.Background())
	wake := make(chan struct{}, 1)
	errc := make(chan error, 1)
	go func() {
		errc <- postgres.ListenOutbox(store, ctx, slog.New(slog.DiscardHandler), wake, 10*time.Millisecond)
	}()
	t.Cleanup(func() { cancel(); <-errc })
	waitWake(t, wake, 10*time.Second, "once listening")

	testenv.Eventually(t, 10*time.Second, "the listener to ping its quiet connection", func() bool {
		var pinged bool
		if err := pool.QueryRow(context.Background(), `SELECT EXISTS (SELECT 1 FROM pg_stat_activity
			WHERE datname = current_database() AND query = '-- ping')`).Scan(&pinged); err != nil {
			t.Fatal(err)
		}
		return pinged
	})
	if _, err := store.CreateReport(context.Background(), newReport(client), 0, nil, nil); err != nil {
		t.Fatal(err)
	}
	waitWake(t, wake, 10*time.Second, "after a report was created past quiet periods")
	select {
	case err := <-errc:
		t.Fatalf("the listener stopped: %v", err)
	default:
	}
}
