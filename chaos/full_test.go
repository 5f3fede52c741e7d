//go:build chaosfull

// The scenarios that restart shared-looking services or run for a minute
// are built only for the full suite (make chaos), so a plain go test never
// lists them as skipped.

package chaos

import (
	"cmp"
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	gocmp "github.com/google/go-cmp/cmp"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/reportd/reportd/internal/apikey"
	"github.com/reportd/reportd/internal/orderevents"
	"github.com/reportd/reportd/internal/pgtest"
	"github.com/reportd/reportd/internal/postgres"
	"github.com/reportd/reportd/internal/readmodel"
	"github.com/reportd/reportd/internal/seed"
	"github.com/reportd/reportd/internal/webhook"
)

// TestPostgresRestart crashes Postgres (pg_ctl stop -m immediate) and
// starts it again.
func TestPostgresRestart(t *testing.T) {
	pg := startPostgres(t)
	s := newStack(t, stackOptions{Customers: 20, Orders: 10, Vars: map[string]string{"DATABASE_URL": pg.url()}})
	runOutage(t, s, outage{
		name: "3 Postgres restart (immediate) mid-run", rate: 20,
		before: 3 * time.Second, down: 5 * time.Second, after: 3 * time.Second, want503: true, settleIn: 3 * time.Minute,
		breakIt: func(t *testing.T) { t.Helper(); pg.stop(t, "immediate") },
		fixIt:   func(t *testing.T) { t.Helper(); pg.start(t) },
	})
}

// TestOutOfOrderEventsUnderLoad posts shuffled order events with duplicates
// from several goroutines while reports are generated, and compares the
// projections with those of the same events appended in order.
func TestOutOfOrderEventsUnderLoad(t *testing.T) {
	base := seed.Options{Customers: 20, OrdersPerCustomer: 10, Seed: 11}
	s := newStack(t, stackOptions{Customers: base.Customers, Orders: base.OrdersPerCustomer})
	baseEvents, _ := seed.Events(base)
	events, _ := seed.Events(seed.Options{Customers: 20, OrdersPerCustomer: 60, Seed: 77})

	// Shuffle completely, then add a duplicate of every fifth event.
	rng := rand.New(rand.NewPCG(7, 7))
	arrival := slices.Clone(events)
	rng.Shuffle(len(arrival), func(i, j int) { arrival[i], arrival[j] = arrival[j], arrival[i] })
	for i := 0; i < len(events); i += 5 {
		arrival = slices.Insert(arrival, rng.IntN(len(arrival)+1), events[i])
	}
	var batches []string
	for start := 0; start < len(arrival); start += 250 {
		// A batch must not repeat an event id within itself.
		chunk := arrival[start:min(start+250, len(arrival))]
		seen := map[string]bool{}
		var uniq, rest []orderevents.Event
		for _, e := range chunk {
			if seen[e.EventID] {
				rest = append(rest, e)
				continue
			}
			seen[e.EventID] = true
			uniq = append(uniq, e)
		}
		batches = append(batches, wireBatch(t, uniq))
		if len(rest) > 0 {
			batches = append(batches, wireBatch(t, rest))
		}
	}

	in := newIntake()
	var wg sync.WaitGroup
	n := 100
	wg.Go(func() { s.submitMany(in, 0, n, 8) })
	next := make(chan string)
	var mu sync.Mutex
	accepted, dups := 0, 0
	for range 8 {
		wg.Go(func() {
			for b := range next {
				a := s.postEvents(t, b)
				mu.Lock()
				accepted += a.Accepted
				dups += a.Duplicates
				mu.Unlock()
			}
		})
	}
	start := time.Now()
	for _, b := range batches {
		next <- b
	}
	close(next)
	wg.Wait()
	if accepted != len(events) || dups != len(arrival)-len(events) {
		t.Errorf("events: %d accepted, %d duplicates; want %d and %d", accepted, dups, len(events), len(arrival)-len(events))
	}
	s.waitProjected(t, 2*time.Minute)
	caughtUp := time.Since(start)
	in.check(t)
	st := s.waitSettled(t, in.ids(), 2*time.Minute)
	checkInvariant(t, st)

	// The reference: the same events, in order, into a fresh database.
	ref := referenceProjection(t, s.client.ID, append(baseEvents, events...))
	got := projectionRows(t, s)
	if diff := gocmp.Diff(ref, got); diff != "" {
		t.Errorf("projection after shuffled, duplicated, concurrent ingestion differs from the in-order result (-want +got):\n%s", diff)
	}
	s.checkNo500(t)
	record(resultRow{Scenario: "7 out-of-order + duplicate events under load", Reports: len(in.ids()), Lost: st.lost(), Duplicates: st.Duplicates,
		Recovery: caughtUp, Note: fmt.Sprintf("%d events, %d duplicates, %d batches; projection equal: %t", len(events), dups, len(batches), gocmp.Equal(ref, got))})
}

func referenceProjection(t *testing.T, clientID string, events []orderevents.Event) map[string][]string {
	t.Helper()
	ctx := context.Background()
	pool := pgtest.New(t)
	key := apikey.New()
	secret, err := webhook.NewSecret()
	if err != nil {
		t.Fatal(err)
	}
	if err := postgres.NewStore(pool).CreateClient(ctx, postgres.NewClient{ID: clientID, Name: "Reference", KeyID: key.ID, KeyHash: key.Hash,
		Scopes: []string{"reports", "events:write"}, Secret: secret}); err != nil {
		t.Fatal(err)
	}
	ordered := slices.Clone(events)
	slices.SortStableFunc(ordered, func(a, b orderevents.Event) int {
		return cmp.Or(strings.Compare(a.OrderID, b.OrderID), cmp.Compare(a.Sequence, b.Sequence))
	})
	rm := readmodel.NewStore(pool, pool, discardLogger())
	for start := 0; start < len(ordered); start += orderevents.MaxBatch {
		if _, err := rm.Append(ctx, clientID, ordered[start:min(start+orderevents.MaxBatch, len(ordered))]); err != nil {
			t.Fatal(err)
		}
	}
	for {
		n, err := rm.ProjectOnce(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			break
		}
	}
	return dumpProjection(t, func(q string) ([]string, error) { return queryStrings(ctx, pool, q) })
}

func projectionRows(t *testing.T, s *stack) map[string][]string {
	t.Helper()
	return dumpProjection(t, func(q string) ([]string, error) { return queryStrings(context.Background(), s.pool, q) })
}

func dumpProjection(t *testing.T, query func(string) ([]string, error)) map[string][]string {
	t.Helper()
	out := map[string][]string{}
	for table, order := range map[string]string{
		"customer_order_history": "order_id",
		"merchant_sales_orders":  "order_id",
		"merchant_daily_sales":   "merchant_id, day, currency",
	} {
		rows, err := query(fmt.Sprintf(`SELECT (to_jsonb(t) - 'client_id')::text FROM %s t ORDER BY %s`, table, order))
		if err != nil {
			t.Fatalf("dump %s: %v", table, err)
		}
		out[table] = rows
	}
	return out
}

func queryStrings(ctx context.Context, pool *pgxpool.Pool, q string) ([]string, error) {
	rows, err := pool.Query(ctx, q)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, pgx.RowTo[string])
}
