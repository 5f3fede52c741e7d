package pgtest_test

import (
	"context"
	"github.com/reportd/reportd/internal/pgtest"
	"testing"
)

func TestNew(t *testing.T) {
	p := pgtest.New(t)
	var n int
	if err := p.QueryRow(context.Background(), "select count(*) from reports").Scan(&n); err != nil {
		t.Fatal(err)
	}
}
