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
	"os/exec"
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

// outage is one dependency failure in the middle of a stream of submissions.
type outage struct {
	name     string
	rate     int           // submissions per second throughout
	before   time.Duration // healthy running before the fault
	down     time.Duration // how long the dependency stays down
	after    time.Duration // submissions after it is back
	want503  bool          // the API must refuse new reports while it is down
	breakIt  func(t *testing.T)
	fixIt    func(t *testing.T)
	settleIn time.Duration
}

func runOutage(t *testing.T, s *stack, o outage) {
	t.Helper()
	in := newIntake()
	stop := make(chan struct{})
	var submitted int
	var wg sync.WaitGroup
	wg.Go(func() { submitted = s.submitUntil(in, stop, 0, o.rate) })

	time.Sleep(o.before)
	o.breakIt(t)
	downAt := time.Now()
	time.Sleep(o.down)
	o.fixIt(t)
	backAt := time.Now()
	time.Sleep(o.after)
	close(stop)
	wg.Wait()

	in.check(t)
	in.mu.Lock()
	rejectedWhileDown := 0
	for _, at := range in.rejectedAt {
		if at.After(downAt) && at.Before(backAt.Add(2*time.Second)) {
			rejectedWhileDown++
		}
	}
	in.mu.Unlock()
	t.Logf("%s: %d submitted: %s; %d answered 503 during the outage", o.name, submitted, in.summary(), rejectedWhileDown)
	if o.want503 && rejectedWhileDown == 0 {
		t.Errorf("no 503 while the dependency was down: %s", in.summary())
	}
	ids := in.ids()
	st := s.waitSettled(t, ids, o.settleIn)
	recovery := time.Since(backAt)
	checkInvariant(t, st)
	s.checkNo500(t)
	record(resultRow{Scenario: o.name, Reports: len(ids), Lost: st.lost(), Duplicates: st.Duplicates, Recovery: recovery,
		Note: fmt.Sprintf("%d submitted: %s", submitted, in.summary())})
}

// TestRedisRestart shuts Redis down without saving (every queued task is
// gone) and starts it again: the API answers 503 meanwhile and the sweeper
// re-enqueues from Postgres.
func TestRedisRestart(t *testing.T) {
	r := startRedis(t)
	s := newStack(t, stackOptions{Customers: 20, Orders: 10, Vars: map[string]string{"REDIS_URL": r.url()}})
	_, port, _ := strings.Cut(r.addr, ":")
	runOutage(t, s, outage{
		name: "2 Redis restart (shutdown nosave) mid-run", rate: 20,
		before: 3 * time.Second, down: 5 * time.Second, after: 3 * time.Second, want503: true, settleIn: 3 * time.Minute,
		breakIt: func(t *testing.T) {
			t.Helper()
			if out, err := exec.Command("redis-cli", "-p", port, "shutdown", "nosave").CombinedOutput(); err != nil && !r.p.exited() {
				t.Fatalf("redis-cli shutdown: %v %s", err, out)
			}
			for !r.p.exited() {
				time.Sleep(50 * time.Millisecond)
			}
		},
		fixIt: func(t *testing.T) {
			t.Helper()
			r.p.start(t)
			waitTCP(t, "private redis", r.addr, 20*time.Second)
		},
	})
}

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

// TestS3Outage stops the S3 gateway for 30 s; uploads fail, reports back
// off and retry, and all complete.
func TestS3Outage(t *testing.T) {
	const key, secret = "chaos", "chaos-secret-key"
	s3 := startS3(t, key, secret)
	s := newStack(t, stackOptions{Customers: 20, Orders: 10, Vars: map[string]string{
		"S3_ENDPOINT": s3.url(), "AWS_ACCESS_KEY_ID": key, "AWS_SECRET_ACCESS_KEY": secret,
	}})
	runOutage(t, s, outage{
		name: "4 S3 gateway stopped for 30 s", rate: 6,
		before: 3 * time.Second, down: 30 * time.Second, after: 3 * time.Second, settleIn: 4 * time.Minute,
		breakIt: func(t *testing.T) { t.Helper(); s3.p.stop(t) },
		fixIt: func(t *testing.T) {
			t.Helper()
			s3.p.start(t)
			waitTCP(t, "private versitygw", s3.addr, 30*time.Second)
		},
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

// submitUntil keeps posting reports at about rate per second until stop closes.
func (s *stack) submitUntil(in *intake, stop <-chan struct{}, from, perSecond int) int {
	tick := time.NewTicker(time.Second / time.Duration(perSecond))
	defer tick.Stop()
	var wg sync.WaitGroup
	i := from
	for {
		select {
		case <-stop:
			wg.Wait()
			return i - from
		case <-tick.C:
			n := i
			wg.Go(func() { s.submit(in, n) })
			i++
		}
	}
}
