package postgres

import (
	"context"
	"io/fs"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"
)

// ListenOutbox exposes one listening connection's loop, with its quiet
// period, to the tests.
var ListenOutbox = (*Store).listenOutbox

// MigrateDownTo undoes migrations past version, so a test can write rows as
// an older schema held them and then migrate up again.
func MigrateDownTo(ctx context.Context, pool *pgxpool.Pool, version int64) error {
	dir, err := fs.Sub(migrationFiles, "migrations")
	if err != nil {
		return err
	}
	db := stdlib.OpenDBFromPool(pool)
	defer db.Close()
	provider, err := goose.NewProvider(goose.DialectPostgres, db, dir)
	if err != nil {
		return err
	}
	_, err = provider.DownTo(ctx, version)
	return err
}
