package chaos

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestPostgresDownWhileWebhooksRetry stops Postgres (immediate, a crash)
// for a few seconds while every report's webhook is being retried, and
// starts it again. The receiver fails each webhook-id's first three
// deliveries and the schedule allows exactly four attempts, so a single
// retry spent on the outage instead of the receiver would leave a delivery
// dead (before deliveries waited out outages, all 20 of the short form
// were). Postgres is stopped from inside the receiver, before it answers a
// retry, so at least that attempt is sent but cannot be recorded. Every
// webhook must arrive, none may be dead, and the attempts Postgres records
// per delivery must be the deliveries the receiver saw.
func TestPostgresDownWhileWebhooksRetry(t *testing.T) {
	t.Parallel()
	const failFirst = 3
	n := size(20, 100)
	down := 5 * time.Second
	pg := startPostgres(t)
	s := newStack(t, stackOptions{Customers: 10, Orders: 5, Vars: map[string]string{
		"DATABASE_URL": pg.url(),
		// Four attempts, a second apart: no room for a retry lost to the outage.
		"WEBHOOK_RETRY_SCHEDULE": "1s,1s,1s",
	}})
	s.recv.failFirstOf(failFirst)
	// Once every webhook has been tried (and refused) at least once, the
	// next retry to arrive stops Postgres before it is answered: the
	// outage meets them all mid-schedule, one of them on the wire.
	stopped := make(chan struct{})
	var once sync.Once
	s.recv.beforeAnswer(func(nth, ids int) {
		if nth >= 2 && ids >= n {
			once.Do(func() { pg.stop(t, "immediate"); close(stopped) })
		}
	})
	in := newIntake()
	s.submitMany(in, 0, n, 8)
	in.check(t)
	ids := in.ids()
	if len(ids) != n {
		t.Fatalf("accepted %d of %d reports: %s", len(ids), n, in.summary())
	}
	select {
	case <-stopped:
	case <-time.After(time.Minute):
		t.Fatalf("no retry reached the receiver after every webhook's first attempt: %s", in.summary())
	}
	time.Sleep(down) // the outage itself: what it lasts is the scenario
	pg.start(t)
	backAt := time.Now()

	st := s.waitSettled(t, ids, time.Minute)
	recovery := s.recv.snapshot().lastAt.Sub(backAt)
	t.Logf("Postgres down %s while webhooks retried: last webhook %.1f s after it answered again; %s", down, recovery.Seconds(), st)
	checkInvariant(t, st)
	if dead := s.deliveryCount(t, ids, "dead"); dead > 0 {
		t.Errorf("%d deliveries are dead; the receiver failed only %d times each and the outage must not spend attempts", dead, failFirst)
	}
	recorded := s.recordedAttempts(t, ids)
	s.recv.mu.Lock()
	received := make(map[string]int, len(s.recv.perID))
	for id, c := range s.recv.perID {
		received[id] = c
	}
	s.recv.mu.Unlock()
	mismatched, extra := 0, 0
	for id, c := range received {
		r := recorded[id]
		if r.attempts != c || r.rows != c {
			mismatched++
			if mismatched <= 3 {
				t.Errorf("delivery %s: the receiver saw %d deliveries, Postgres records %d attempts (%d attempt rows)", id, c, r.attempts, r.rows)
			}
		}
		extra += max(c-(failFirst+1), 0)
	}
	if len(received) != len(recorded) {
		t.Errorf("the receiver saw %d webhook-ids, Postgres has %d deliveries", len(received), len(recorded))
	}
	logs := s.worker.logs()
	waits := strings.Count(logs, "a dependency is unavailable; the delivery waits")
	// Attempts sent as Postgres went away, recorded once it was back rather
	// than sent again: at least the one the receiver held.
	lateRecords := strings.Count(logs, "recording an attempt made during an outage")
	if lateRecords == 0 {
		t.Error("no attempt sent during the outage was recorded after it")
	}
	if waits == 0 {
		t.Error("the worker never logged a delivery waiting for a dependency: the outage met no delivery")
	}
	s.checkNo500(t)
	record(resultRow{Scenario: fmt.Sprintf("5c Postgres down %s while webhooks retry", down), Reports: n, Lost: st.lost(), Duplicates: st.Duplicates,
		Recovery: recovery, Note: fmt.Sprintf("%d deliveries, %d dead; attempts recorded ≠ received: %d; sent beyond %d: %d; %d outage waits, %d recorded late",
			len(recorded), s.deliveryCount(t, ids, "dead"), mismatched, failFirst+1, extra, waits, lateRecords)})
}

type attemptCount struct{ attempts, rows int }

// recordedAttempts is, per delivery of ids' reports, its attempts counter
// and its rows in delivery_attempts.
func (s *stack) recordedAttempts(t *testing.T, ids []string) map[string]attemptCount {
	t.Helper()
	rows, err := s.pool.Query(context.Background(), `SELECT d.id, d.attempts, (SELECT count(*) FROM delivery_attempts a WHERE a.delivery_id = d.id)
		FROM deliveries d WHERE d.report_id = ANY($1)`, ids)
	if err != nil {
		t.Fatalf("read recorded attempts: %v", err)
	}
	defer rows.Close()
	out := map[string]attemptCount{}
	for rows.Next() {
		var id string
		var c attemptCount
		if err := rows.Scan(&id, &c.attempts, &c.rows); err != nil {
			t.Fatal(err)
		}
		out[id] = c
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}
