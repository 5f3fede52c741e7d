//go:build chaosfull

package chaos

import (
	"context"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/reportd/reportd/internal/orderevents"
	"github.com/reportd/reportd/internal/seed"
)

// TestPostgresFailover runs the api and a worker on a primary with a
// synchronous streaming replica, SIGKILLs the primary mid-run and promotes
// the replica. DATABASE_URL names both servers with
// target_session_attrs=read-write, so nothing is restarted or reconfigured:
// pgx skips the dead primary and the read-only replica until the promotion,
// then connects to the new primary. With synchronous_commit=on and
// synchronous_standby_names='*', a commit (and so a 202) returns only once
// the replica has the WAL, so every accepted report must survive.
func TestPostgresFailover(t *testing.T) {
	_, p1, _ := net.SplitHostPort(freeAddr(t))
	_, p2, _ := net.SplitHostPort(freeAddr(t))
	primary := newPGNode(t, "pg-primary", "127.0.0.1", p1, nil)
	primary.initPrimary(t, "synchronous_standby_names = '*'", "synchronous_commit = on")
	replica := newPGNode(t, "pg-replica", "127.0.0.1", p2, nil)
	// Once promoted it stands alone: waiting for a standby would hang every
	// commit, so the replica starts with no synchronous standby of its own.
	replica.startOpts = []string{"synchronous_standby_names=''"}
	replica.replicaOf(t, primary)
	waitFor(t, 30*time.Second, "the replica to stream synchronously", func() (bool, string) {
		st := primary.psql(t, "postgres", "SELECT coalesce(string_agg(sync_state, ','), 'none') FROM pg_stat_replication")
		return st == "sync", st
	})
	primary.psql(t, "postgres", "CREATE DATABASE reportd")

	url := multiHostURL("reportd", primary, replica)
	s := newStack(t, stackOptions{Customers: 20, Orders: 10, Vars: map[string]string{"DATABASE_URL": url}})
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("primary log tail:\n%s\nreplica log tail:\n%s", primary.logTail(20), replica.logTail(20))
		}
	})

	in := newIntake()
	stop := make(chan struct{})
	var submitted int
	var wg sync.WaitGroup
	wg.Go(func() { submitted = s.submitUntil(in, stop, 0, 10) })

	time.Sleep(5 * time.Second)
	beforeKill := in.ids()
	killedAt := time.Now()
	primary.crash(t)
	// Give the app a moment on a dead primary, as an operator or a failover
	// manager would take to notice and promote.
	time.Sleep(3 * time.Second)
	replica.promote(t)
	promotedAt := time.Now()
	beforePromotion := in.ids()
	firstAccepted := waitAccepted(t, in, promotedAt, 60*time.Second)
	time.Sleep(10 * time.Second)
	close(stop)
	wg.Wait()

	in.check(t)
	ids := in.ids()
	in.mu.Lock()
	duringSwitch := 0
	for _, at := range in.rejectedAt {
		if at.After(killedAt) && at.Before(firstAccepted) {
			duringSwitch++
		}
	}
	in.mu.Unlock()
	t.Logf("%d submitted: %s; %d accepted before the kill, %d answered 503 during the switch; first 202 %s after the promotion",
		submitted, in.summary(), len(beforeKill), duringSwitch, firstAccepted.Sub(promotedAt).Round(10*time.Millisecond))
	if duringSwitch == 0 {
		t.Errorf("no 503 between the kill and the first 202 on the new primary: %s", in.summary())
	}
	if len(beforeKill) == 0 {
		t.Fatalf("no report was accepted before the kill: %s", in.summary())
	}

	st := s.waitSettled(t, ids, 3*time.Minute)
	checkInvariant(t, st)
	s.checkNo500(t)
	succeeded := s.countStatus(t, ids, "succeeded")
	if got := s.countStatus(t, beforeKill, "succeeded"); got != len(beforeKill) {
		t.Errorf("%d of the %d reports accepted before the kill succeeded on the new primary", got, len(beforeKill))
	}

	// The worker's long-lived connections came back too: the sweeper's
	// leader lock is held on the new primary, and the projector (whose
	// LISTEN connection died with the old one) projects new events.
	waitFor(t, 30*time.Second, "the sweeper's leader lock on the new primary", func() (bool, string) {
		n := replica.psql(t, "reportd", "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted")
		return n == "1", n + " advisory locks"
	})
	events, _ := seed.Events(seed.Options{Customers: 3, OrdersPerCustomer: 3, Seed: 501})
	if a := s.postEvents(t, wireBatch(t, events[:min(len(events), orderevents.MaxBatch)])); a.Accepted == 0 {
		t.Errorf("order events after the failover: %+v", a)
	}
	s.waitProjected(t, time.Minute)

	record(resultRow{Scenario: "8 Postgres primary SIGKILL, replica promoted", Reports: len(ids), Lost: st.lost(), Duplicates: st.Duplicates,
		Recovery: s.lastWebhook(t, beforePromotion).Sub(promotedAt),
		Note: fmt.Sprintf("%d succeeded; %d accepted before the kill; first 202 %.1fs after promote; %s", succeeded, len(beforeKill),
			firstAccepted.Sub(promotedAt).Seconds(), in.summary())})
}

// waitAccepted waits for the first 202 answered after since and returns when
// it was seen.
func waitAccepted(t *testing.T, in *intake, since time.Time, timeout time.Duration) time.Time {
	t.Helper()
	before := len(in.ids())
	deadline := time.Now().Add(timeout)
	for len(in.ids()) == before {
		if time.Now().After(deadline) {
			t.Fatalf("no report accepted within %s of %s: %s", timeout, since.Format(time.TimeOnly), in.summary())
		}
		time.Sleep(20 * time.Millisecond)
	}
	return time.Now()
}

// lastWebhook is when the last of ids' webhooks was delivered. Given the
// reports accepted before a fault ended, its distance from that end is how
// long the backlog took to drain.
func (s *stack) lastWebhook(t *testing.T, ids []string) time.Time {
	t.Helper()
	var at *time.Time
	if err := s.pool.QueryRow(context.Background(), `SELECT max(delivered_at) FROM deliveries WHERE report_id = ANY($1)`, ids).Scan(&at); err != nil || at == nil {
		t.Logf("last webhook: %v", err)
		return time.Now()
	}
	return *at
}

// waitFor polls cond until it holds; the string says what it saw last.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		ok, saw := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("waited %s for %s; last saw %s", timeout, what, strings.TrimSpace(saw))
		}
		time.Sleep(100 * time.Millisecond)
	}
}
