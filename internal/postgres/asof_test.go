package postgres_test

import (
	"context"
	"testing"
	"time"

	"github.com/reportd/reportd/internal/domain"
	"github.com/reportd/reportd/internal/pgtest"
	"github.com/reportd/reportd/internal/postgres"
)

// A report's as_of survives both insert paths (batched, and in the
// Idempotency-Key transaction) and every read, in UTC; none stays none.
func TestCreateReportKeepsAsOf(t *testing.T) {
	ctx := context.Background()
	store := postgres.NewStore(pgtest.New(t))
	client := newClient(t, store, "")
	asOf := time.Date(2026, 3, 1, 12, 0, 0, 123_456_000, time.UTC)

	batched := newReport(client)
	batched.AsOf = &asOf
	keyed := newReport(client)
	keyed.AsOf = &asOf
	key := domain.IdempotencyKey{ClientID: client, Endpoint: "POST /v1/reports", Key: "k1", Fingerprint: []byte("f")}
	if _, err := store.ClaimKey(ctx, key); err != nil {
		t.Fatal(err)
	}
	respond := func(domain.Report) (int, []byte, error) { return 202, []byte(`{}`), nil }
	for _, tc := range []struct {
		name string
		in   domain.NewReport
		key  *domain.IdempotencyKey
	}{{"batched", batched, nil}, {"keyed", keyed, &key}} {
		created, err := store.CreateReport(ctx, tc.in, 100, tc.key, respond)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		loaded, err := store.LoadReport(ctx, tc.in.ID)
		if err != nil {
			t.Fatal(err)
		}
		for what, r := range map[string]domain.Report{"created": created, "loaded": loaded} {
			if r.AsOf == nil || !r.AsOf.Equal(asOf) || r.AsOf.Location() != time.UTC {
				t.Errorf("%s, %s: as_of %v, want %v in UTC", tc.name, what, r.AsOf, asOf)
			}
		}
	}
	bare, err := store.CreateReport(ctx, newReport(client), 100, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if loaded, err := store.LoadReport(ctx, bare.ID); err != nil || loaded.AsOf != nil || bare.AsOf != nil {
		t.Errorf("no as_of came back as %v / %v (%v)", bare.AsOf, loaded.AsOf, err)
	}
}
