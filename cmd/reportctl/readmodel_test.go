package main

import (
	"context"
	"log/slog"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/reportd/reportd/internal/pgtest"
	"github.com/reportd/reportd/internal/postgres"
	"github.com/reportd/reportd/internal/readmodel"
)

// newReadModelDB is a fresh database with one client, cli_a, and a read
// model on it: what the events and projections commands work on. It returns
// the database URL the commands are given.
func newReadModelDB(t *testing.T) (string, *pgxpool.Pool, *readmodel.Store) {
	t.Helper()
	ctx := context.Background()
	url := pgtest.NewURL(t)
	pool, err := postgres.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	if _, err := pool.Exec(ctx, "INSERT INTO clients (id, name) VALUES ('cli_a', 'Client A')"); err != nil {
		t.Fatal(err)
	}
	return url, pool, readmodel.NewStore(pool, pool, slog.New(slog.DiscardHandler))
}
