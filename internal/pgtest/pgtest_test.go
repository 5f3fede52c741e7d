package pgtest_test

import (
	"context"
	"testing"

	"github.com/reportd/reportd/internal/pgtest"
)

func TestNewGivesAMigratedDatabase(t *testing.T) {
	pool := pgtest.New(t)
	var n int
	if err := pool.QueryRow(context.Background(), "SELECT count(*) FROM reports").Scan(&n); err != nil {
		t.Fatalf("the reports table is missing: %v", err)
	}
}
