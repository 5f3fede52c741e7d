package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/reportd/reportd/internal/postgres"
)

// AdminURL is the server the test databases are created on. Override it with
// TEST_DATABASE_URL; it must name an existing database (postgres by default).
func AdminURL() string {
	if u := os.Getenv("TEST_DATABASE_URL"); u != "" {
		return u
	}
	return "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"
}

// NewURL creates an empty, migrated database and returns its URL. The
// database is dropped when the test ends. It is a copy of a template that is
// migrated once per set of migrations (see [template]), which costs a few
// milliseconds instead of a full migration per test.
func NewURL(tb testing.TB) string {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	admin, err := pgx.Connect(ctx, AdminURL())
	if err != nil {
		tb.Fatalf("pgtest: connect to %s: %v\nstart the local services with: scripts/dev-services.sh up", AdminURL(), err)
	}
	defer admin.Close(context.Background())

	tmpl, err := template(ctx, admin)
	if err != nil {
		tb.Fatalf("pgtest: %v", err)
	}
	buf := make([]byte, 6)
	_, _ = rand.Read(buf)
	name := "reportd_test_" + hex.EncodeToString(buf)
	if err := createFromTemplate(ctx, admin, name, tmpl); err != nil {
		tb.Fatalf("pgtest: create database %s: %v", name, err)
	}
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, AdminURL())
		if err != nil {
			tb.Logf("pgtest: drop %s: %v", name, err)
			return
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			tb.Logf("pgtest: drop %s: %v", name, err)
		}
	})
	return withDatabase(tb, AdminURL(), name)
}

// createFromTemplate copies tmpl. Postgres refuses a copy while another
// session is connected to the template, which only a concurrent template
// build does, briefly; so a refusal is retried.
func createFromTemplate(ctx context.Context, admin *pgx.Conn, name, tmpl string) error {
	for {
		_, err := admin.Exec(ctx, "CREATE DATABASE "+name+" TEMPLATE "+tmpl)
		if err == nil || !strings.Contains(err.Error(), "being accessed by other users") {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// template returns the name of a migrated template database for the current
// migrations, building it first if no test process has. Its name carries a
// digest of the migrations, so a changed migration gets a new template. Test
// processes run side by side: an advisory lock lets one build it, and the
// template is marked ready only once it is migrated.
func template(ctx context.Context, admin *pgx.Conn) (string, error) {
	digest, err := postgres.MigrationsDigest()
	if err != nil {
		return "", err
	}
	name := "reportd_template_" + digest
	if ready, err := templateReady(ctx, admin, name); err != nil || ready {
		return name, err
	}
	if _, err := admin.Exec(ctx, "SELECT pg_advisory_lock(hashtext($1))", name); err != nil {
		return "", fmt.Errorf("lock template %s: %w", name, err)
	}
	defer func() { _, _ = admin.Exec(context.WithoutCancel(ctx), "SELECT pg_advisory_unlock(hashtext($1))", name) }()
	if ready, err := templateReady(ctx, admin, name); err != nil || ready {
		return name, err
	}
	// A template left half-built by a killed process is rebuilt.
	if _, err := admin.Exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
		return "", fmt.Errorf("drop stale template %s: %w", name, err)
	}
	if _, err := admin.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		return "", fmt.Errorf("create template %s: %w", name, err)
	}
	pool, err := postgres.Connect(ctx, withDatabaseURL(AdminURL(), name))
	if err != nil {
		return "", fmt.Errorf("connect to template %s: %w", name, err)
	}
	err = postgres.Migrate(ctx, pool, slog.New(slog.DiscardHandler))
	pool.Close()
	if err != nil {
		return "", fmt.Errorf("migrate template %s: %w", name, err)
	}
	if _, err := admin.Exec(ctx, "COMMENT ON DATABASE "+name+" IS 'ready'"); err != nil {
		return "", fmt.Errorf("mark template %s ready: %w", name, err)
	}
	return name, nil
}

func templateReady(ctx context.Context, admin *pgx.Conn, name string) (bool, error) {
	var comment *string
	err := admin.QueryRow(ctx, `SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = $1`, name).Scan(&comment)
	if errors.Is(err, pgx.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("look up template %s: %w", name, err)
	}
	return comment != nil && *comment == "ready", nil
}

// New returns a pool on a fresh, migrated database, closed when the test ends.
func New(tb testing.TB) *pgxpool.Pool {
	tb.Helper()
	url := NewURL(tb)
	pool, err := postgres.Connect(context.Background(), url)
	if err != nil {
		tb.Fatalf("pgtest: %v", err)
	}
	tb.Cleanup(pool.Close)
	return pool
}

func withDatabase(tb testing.TB, url, name string) string {
	tb.Helper()
	if _, err := pgx.ParseConfig(url); err != nil {
		tb.Fatalf("pgtest: parse %s: %v", url, err)
	}
	return withDatabaseURL(url, name)
}

// withDatabaseURL is url with its database replaced by name; url must parse.
func withDatabaseURL(url, name string) string {
	cfg, _ := pgx.ParseConfig(url)
	q := ""
	if i := strings.IndexByte(url, '?'); i >= 0 {
		q = url[i:]
	}
	return fmt.Sprintf("postgres://%s@%s/%s%s", cfg.User, net.JoinHostPort(cfg.Host, strconv.Itoa(int(cfg.Port))), name, q)
}
