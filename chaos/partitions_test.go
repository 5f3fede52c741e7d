package chaos

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	gocmp "github.com/google/go-cmp/cmp"
	"github.com/jackc/pgx/v5"

	"github.com/reportd/reportd/internal/orderevents"
	"github.com/reportd/reportd/internal/readmodel"
	"github.com/reportd/reportd/internal/seed"
)

// TestProjectionPartitionsRebalance runs the projector in several worker
// processes, starts and SIGKILLs them at random while order events stream in
// (out of order within small windows, so gaps are held and released across
// rebalancing), and freezes some (SIGSTOP) past their lease, then checks that the read model equals a from-scratch
// rebuild of the log, row for row: rebalancing applied no event twice and
// skipped none. The short form runs in go test; make chaos runs it longer.
func TestProjectionPartitionsRebalance(t *testing.T) {
	t.Parallel()
	const partitions = 8
	streamFor := time.Duration(size(8, 60)) * time.Second
	s := newStack(t, stackOptions{NoWorker: true, Vars: map[string]string{
		"PROJECTION_PARTITIONS": fmt.Sprint(partitions),
		"PROJECTION_LEASE":      "2s",
	}})
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 14)) //nolint:gosec // a test's randomness
	events, _ := seed.Events(seed.Options{Customers: size(60, 400), OrdersPerCustomer: 5, Seed: 14})
	// Out of order within windows of 40: later sequences arrive first.
	for start := 0; start < len(events); start += 40 {
		w := events[start:min(start+40, len(events))]
		rng.Shuffle(len(w), func(i, j int) { w[i], w[j] = w[j], w[i] })
	}

	var workers []*proc
	alive := func() []*proc {
		return slices.DeleteFunc(slices.Clone(workers), func(p *proc) bool { return p.exited() })
	}
	startOne := func() {
		s.env.Vars["WORKER_METRICS_ADDR"] = freeAddr(t)
		p := startProc(t, fmt.Sprintf("worker-%d", len(workers)+1), the.workerBin, s.env.Environ(), s.logDir)
		workers = append(workers, p)
		waitHTTP(t, p, "http://"+s.env.Vars["WORKER_METRICS_ADDR"]+"/healthz", 60*time.Second)
	}
	startOne()
	startOne()

	// Stream the events in batches while workers are killed and started.
	rm := readmodel.NewStore(s.pool, s.pool, discardLogger())
	streamed := make(chan error, 1)
	go func() {
		pause := streamFor / time.Duration(max(1, len(events)/50))
		for start := 0; start < len(events); start += 50 {
			if _, err := rm.Append(ctx, s.client.ID, events[start:min(start+50, len(events))]); err != nil {
				streamed <- err
				return
			}
			time.Sleep(pause)
		}
		streamed <- nil
	}()
	// Meanwhile min_position must stay true: every event up to the
	// projection's position is applied, held or parked.
	watchCtx, stopWatch := context.WithCancel(ctx)
	watched := make(chan [2]int, 1)
	go func() { watched <- watchPosition(watchCtx, t, s) }()
	var checks [2]int
	stopWatching := func() {
		if stopWatch != nil {
			stopWatch()
			checks, stopWatch = <-watched, nil
		}
	}
	t.Cleanup(stopWatching) // also when the test fails early: it logs
	kills, starts, pauses := 0, 0, 0
	var streamErr error
chaosLoop:
	for {
		select {
		case streamErr = <-streamed:
			break chaosLoop
		case <-time.After(time.Duration(300+rng.IntN(1200)) * time.Millisecond):
		}
		live := alive()
		switch {
		case len(live) > 1 && rng.IntN(4) == 0:
			// A pause past the lease (a GC stall, a frozen VM): the
			// others take its partitions over; when it resumes it must
			// find its leases gone and apply nothing under them.
			live[rng.IntN(len(live))].pause(t, 5*time.Second)
			pauses++
		case len(live) > 1 && (len(live) >= 4 || rng.IntN(2) == 0):
			live[rng.IntN(len(live))].kill(t)
			kills++
		default:
			startOne()
			starts++
		}
	}
	if streamErr != nil {
		t.Fatalf("append events: %v", streamErr)
	}
	if len(alive()) == 0 {
		startOne()
	}
	settled := time.Now()
	s.waitProjected(t, 2*time.Minute)
	caughtUp := time.Since(settled)
	stopWatching()
	if checks[1] > 0 {
		t.Errorf("%d of %d checks found events up to the projection's position missing from the read model", checks[1], checks[0])
	}

	live := readModelRows(t, s)
	rebuilt := readmodel.NewStore(s.pool, s.pool, discardLogger()).WithProjector(readmodel.ProjectorOptions{Partitions: partitions})
	if err := rebuilt.Rebuild(ctx, "", nil); err != nil {
		t.Fatalf("rebuild: %v", err)
	}
	fromLog := readModelRows(t, s)
	equal := gocmp.Equal(fromLog, live)
	if !equal {
		t.Errorf("after %d kills and %d starts the read model differs from a rebuild of the log (-rebuild +live):\n%s",
			kills, starts, gocmp.Diff(fromLog, live))
	}
	if n := len(live["customer_order_history"]); n != countOrders(events) {
		t.Errorf("customer_order_history has %d orders, want %d", n, countOrders(events))
	}
	lost := 0
	for _, p := range workers {
		lost += strings.Count(p.logs(), "lost a partition lease")
	}
	t.Logf("%d events, %d workers started, %d SIGKILLed, %d paused past the lease, %d leases found lost on resuming, %d position checks; caught up %s after the last append",
		len(events), len(workers), kills, pauses, lost, checks[0], caughtUp.Round(time.Millisecond))
	record(resultRow{Scenario: "projection partitions: workers SIGKILLed and started at random", Recovery: caughtUp,
		Note: fmt.Sprintf("%d events, %d worker starts, %d SIGKILLs, %d SIGSTOPs past the lease, %d partitions; equal to a rebuild: %t",
			len(events), len(workers), kills, pauses, partitions, equal)})
}

func countOrders(events []orderevents.Event) int {
	seen := map[string]bool{}
	for _, e := range events {
		seen[e.OrderID] = true
	}
	return len(seen)
}

// readModelRows dumps every read-model table, row by row in key order.
func readModelRows(t *testing.T, s *stack) map[string][]string {
	t.Helper()
	out := map[string][]string{}
	for table, order := range map[string]string{
		"customer_order_history": "client_id, order_id",
		"merchant_sales_orders":  "client_id, order_id",
		"merchant_daily_sales":   "client_id, merchant_id, day, currency",
		"projection_held":        "projection, client_id, order_id, sequence",
		"projection_parked":      "projection, client_id, order_id, sequence",
	} {
		rows, err := s.pool.Query(context.Background(), fmt.Sprintf(`SELECT (to_jsonb(t) - 'parked_at')::text FROM %s t ORDER BY %s`, table, order))
		if err != nil {
			t.Fatalf("dump %s: %v", table, err)
		}
		got, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			t.Fatalf("dump %s: %v", table, err)
		}
		out[table] = got
	}
	return out
}

// watchPosition checks, until ctx ends, that customer_order_history's
// position means what min_position promises: in one snapshot, every event up
// to it is applied to its order, held or parked. It returns how many checks
// it made and how many failed.
func watchPosition(ctx context.Context, t *testing.T, s *stack) [2]int {
	var checks, bad int
	for ctx.Err() == nil {
		var missing int64
		err := pgx.BeginTxFunc(ctx, s.pool, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}, func(tx pgx.Tx) error {
			return tx.QueryRow(ctx, `
				WITH pos AS (SELECT coalesce(min(position), 0) AS p FROM projection_partitions WHERE projection = 'customer_order_history')
				SELECT count(*) FROM order_events e, pos
				WHERE e.position <= pos.p
				  AND NOT EXISTS (SELECT 1 FROM customer_order_history c
				                  WHERE c.client_id = e.client_id AND c.order_id = e.order_id AND c.last_sequence >= e.sequence)
				  AND NOT EXISTS (SELECT 1 FROM projection_held h WHERE h.projection = 'customer_order_history'
				                  AND h.client_id = e.client_id AND h.order_id = e.order_id AND h.sequence = e.sequence)
				  AND NOT EXISTS (SELECT 1 FROM projection_parked k WHERE k.projection = 'customer_order_history'
				                  AND k.client_id = e.client_id AND k.order_id = e.order_id AND k.sequence = e.sequence)`).Scan(&missing)
		})
		if ctx.Err() != nil {
			break
		}
		checks++
		if err != nil || missing > 0 {
			bad++
			t.Logf("position check: %d events missing, err %v", missing, err)
		}
		select {
		case <-ctx.Done():
		case <-time.After(100 * time.Millisecond):
		}
	}
	return [2]int{checks, bad}
}

// pause freezes the process (SIGSTOP) for d, then lets it go on (SIGCONT).
func (p *proc) pause(t *testing.T, d time.Duration) {
	t.Helper()
	p.mu.Lock()
	cmd := p.cmd
	p.mu.Unlock()
	if err := cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Logf("pause %s: %v", p.name, err)
		return
	}
	time.AfterFunc(d, func() { _ = cmd.Process.Signal(syscall.SIGCONT) })
}
