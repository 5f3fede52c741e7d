package postgres_test

import (
	"context"
	"testing"

	"github.com/reportd/reportd/internal/pgtest"
	"github.com/reportd/reportd/internal/postgres"
)

// TestLeadershipIsExclusive: one holder at a time, and the lock passes on
// when released. (That a partitioned leader loses it is shown for real by
// chaos/netns_test.go, which cuts one off the network.)
func TestLeadershipIsExclusive(t *testing.T) {
	ctx := context.Background()
	store := postgres.NewStore(pgtest.New(t))
	a, b := store.NewLeadership("test-lock"), store.NewLeadership("test-lock")
	if ok, err := a.Acquire(ctx); !ok || err != nil {
		t.Fatalf("first Acquire = %t, %v; want true", ok, err)
	}
	if ok, err := b.Acquire(ctx); ok || err != nil {
		t.Fatalf("second Acquire while held = %t, %v; want false", ok, err)
	}
	if ok, err := a.Acquire(ctx); !ok || err != nil {
		t.Fatalf("holder's Acquire = %t, %v; want true", ok, err)
	}
	a.Release(ctx)
	if ok, err := b.Acquire(ctx); !ok || err != nil {
		t.Fatalf("Acquire after release = %t, %v; want true", ok, err)
	}
	b.Release(ctx)
}
