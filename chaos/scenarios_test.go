package chaos

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/reportd/reportd/internal/orderevents"
	"github.com/reportd/reportd/internal/seed"
	"github.com/reportd/reportd/internal/testenv"
)

// TestWorkerSIGKILL kills the worker with SIGKILL while most reports are
// queued or running, then starts a new one: the new worker's rescuer sees
// the dead worker's heartbeat go stale and queues its running reports again
// (jobs.Rescuer) without waiting for asynq's lease; the sweeper covers
// anything else.
func TestWorkerSIGKILL(t *testing.T) {
	t.Parallel()
	n := size(40, 200)
	s := newStack(t, stackOptions{Customers: 20, Orders: 10})
	in := newIntake()
	s.submitMany(in, 0, n, 16)
	in.check(t)
	ids := in.ids()
	if len(ids) != n {
		t.Fatalf("accepted %d of %d reports: %s", len(ids), n, in.summary())
	}
	// Kill as soon as a tenth have finished, so the rest are in flight.
	done := s.waitCount(t, ids, "succeeded", n/10, 60*time.Second)
	s.worker.kill(t)
	inFlight := n - s.countStatus(t, ids, "succeeded")
	t.Logf("SIGKILL with %d reports finished (saw %d at the trigger) and %d in flight", n-inFlight, done, inFlight)
	time.Sleep(time.Second)

	restarted := time.Now()
	s.startWorker(t)
	st := s.waitSettled(t, ids, 3*time.Minute)
	recovery := time.Since(restarted)
	checkInvariant(t, st)
	s.checkNo500(t)
	record(resultRow{Scenario: "1 worker SIGKILL mid-run, restart", Reports: n, Lost: st.lost(), Duplicates: st.Duplicates,
		Recovery: recovery, Note: fmt.Sprintf("%d in flight at the kill", inFlight)})
}

// TestWorkerSIGSTOPRescued freezes the only worker (SIGSTOP) past its
// heartbeat timeout while it runs reports and starts another: that one
// rescues the frozen worker's reports. Then the first is let go on
// (SIGCONT): its stale runs are all fenced out. Exactly one result and one
// report.succeeded event per report, every file downloads and matches its
// row, attempts count the runs that started.
//
// The frozen worker is resumed once its reports are rescued, not once
// everything is settled: it may also hold work nothing rescues (a webhook
// whose enqueue it had not made yet waits for the sweeper, which it leads
// by an advisory lock that SIGSTOP does not release).
func TestWorkerSIGSTOPRescued(t *testing.T) {
	t.Parallel()
	n := size(40, 200)
	s := newStack(t, stackOptions{Customers: 20, Orders: 10, Vars: map[string]string{"WORKER_HEARTBEAT_TIMEOUT": "3s"}})
	// A slow receiver (1 s per first arrival of a webhook-id) keeps some of
	// the frozen worker's deliveries in flight, for the rescuer to copy.
	s.recv.beforeAnswer(func(nth, _ int) {
		if nth == 1 {
			time.Sleep(time.Second)
		}
	})
	in := newIntake()
	s.submitMany(in, 0, n, 16)
	in.check(t)
	ids := in.ids()
	if len(ids) != n {
		t.Fatalf("accepted %d of %d reports: %s", len(ids), n, in.summary())
	}
	s.waitCount(t, ids, "succeeded", n/10, 60*time.Second)
	frozen := s.worker
	frozen.sendSignal(t, syscall.SIGSTOP)
	stoppedAt := time.Now()
	resumed := false
	t.Cleanup(func() {
		if !resumed {
			frozen.sendSignal(t, syscall.SIGCONT) // so that cleanup's SIGTERM can end it
		}
	})
	// The frozen worker's runs: the reports running at the stop (nothing
	// else runs reports).
	candidates := s.idsInStatus(t, ids, "running")
	running := len(candidates)
	t.Logf("SIGSTOP with %d reports succeeded and %d running", s.countStatus(t, ids, "succeeded"), running)

	s.env.Vars["WORKER_METRICS_ADDR"] = freeAddr(t)
	other := startProc(t, "worker-b", the.workerBin, s.env.Environ(), s.logDir)
	waitHTTP(t, other, "http://"+s.env.Vars["WORKER_METRICS_ADDR"]+"/healthz", 60*time.Second)
	// A run whose commit was already on its way at the stop finishes by
	// itself (run 1, succeeded); every other one must be rescued (run 2+).
	var stale []string
	testenv.Eventually(t, 30*time.Second, "the frozen worker's running reports to be rescued", func() bool {
		stale = stale[:0]
		rows, err := s.pool.Query(context.Background(), `SELECT id, run_seq > 1, status FROM reports WHERE id = ANY($1)`, candidates)
		if err != nil {
			t.Logf("read rescued reports: %v", err)
			return false
		}
		settled := 0
		for rows.Next() {
			var id, status string
			var rerun bool
			if err := rows.Scan(&id, &rerun, &status); err != nil {
				t.Logf("read rescued reports: %v", err)
				return false
			}
			if rerun {
				stale = append(stale, id)
			}
			if rerun || status == "succeeded" {
				settled++
			}
		}
		return rows.Err() == nil && settled == running
	})
	rescuedAfter := time.Since(stoppedAt)

	// Let the frozen worker go on: each of its stale runs ends fenced out
	// at SucceedReport, or cut off by Postgres (the idle-in-transaction
	// timeout freed the row it was frozen holding, in its commit or its
	// report.running announcement), or with another error of its task.
	frozen.sendSignal(t, syscall.SIGCONT)
	resumed = true
	st := s.waitSettled(t, ids, 2*time.Minute)
	recovery := time.Since(stoppedAt)
	nRescued := len(stale)
	fencedOut, cutOff, otherEnd := 0, 0, 0
	testenv.Eventually(t, 30*time.Second, "the resumed worker's stale runs to end", func() bool {
		ended := map[string]string{}
		for line := range strings.Lines(frozen.logs()) {
			for _, id := range stale {
				if !strings.Contains(line, id) {
					continue
				}
				switch {
				case strings.Contains(line, "discarding this run's file"):
					ended[id] = "fenced"
				case strings.Contains(line, "idle-in-transaction timeout") && ended[id] != "fenced":
					ended[id] = "cut"
				case strings.Contains(line, `"msg":"task done"`) && ended[id] == "":
					ended[id] = "error"
				}
			}
		}
		fencedOut, cutOff, otherEnd = 0, 0, 0
		for _, how := range ended {
			switch how {
			case "fenced":
				fencedOut++
			case "cut":
				cutOff++
			default:
				otherEnd++
			}
		}
		return len(ended) >= nRescued
	})
	copied := strings.Count(other.logs(), "task's worker is gone; queued a copy")
	st = s.waitSettled(t, ids, 30*time.Second)
	// One webhook-id per report (checkInvariant). A delivery the frozen
	// worker was sending is copied by the rescuer and so arrives twice
	// under its one webhook-id: at least once, as Standard Webhooks
	// promise; the row counts such duplicates.
	checkInvariant(t, st)
	s.checkOneSucceededEvent(t, ids)
	maxAttempts := s.checkFiles(t, ids)
	s.checkNo500(t)
	record(resultRow{Scenario: "1b worker SIGSTOP past heartbeat, rescued", Reports: n, Lost: st.lost(), Duplicates: st.Duplicates,
		Recovery: recovery, Note: fmt.Sprintf("%d running at the stop, %d rescued within %s; stale runs: %d fenced out, %d cut off holding a row, %d ended by another error; %d webhook tasks copied; max attempts %d",
			running, nRescued, rescuedAfter.Round(100*time.Millisecond), fencedOut, cutOff, otherEnd, copied, maxAttempts)})
}

// checkOneSucceededEvent fails unless each report has exactly one
// report.succeeded delivery row.
func (s *stack) checkOneSucceededEvent(t *testing.T, ids []string) {
	t.Helper()
	var bad int
	if err := s.pool.QueryRow(context.Background(), `SELECT count(*) FROM reports r WHERE r.id = ANY($1)
		AND (SELECT count(*) FROM deliveries d WHERE d.report_id = r.id AND d.event_type = 'report.succeeded') <> 1`, ids).Scan(&bad); err != nil {
		t.Fatal(err)
	}
	if bad > 0 {
		t.Errorf("%d reports have other than one report.succeeded delivery", bad)
	}
}

// checkFiles downloads every report and compares it with its row; it
// returns the highest attempts count, and fails on one outside 1..3 (the
// first run, a rescue, asynq's late hand-back of the first task).
func (s *stack) checkFiles(t *testing.T, ids []string) int {
	t.Helper()
	maxAttempts := 0
	for _, id := range ids {
		var sum string
		var size int64
		var attempts int
		if err := s.pool.QueryRow(context.Background(), `SELECT coalesce(sha256, ''), coalesce(size_bytes, 0), attempts FROM reports WHERE id = $1`,
			id).Scan(&sum, &size, &attempts); err != nil {
			t.Fatal(err)
		}
		maxAttempts = max(maxAttempts, attempts)
		if attempts < 1 || attempts > 3 {
			t.Errorf("report %s: attempts %d", id, attempts)
		}
		body := s.download(t, id)
		got := sha256.Sum256([]byte(body))
		if int64(len(body)) != size || hex.EncodeToString(got[:]) != sum {
			t.Errorf("report %s: file of %d bytes, sha256 %x; the row says %d bytes, %s", id, len(body), got, size, sum)
		}
	}
	return maxAttempts
}

// TestWebhookReceiverOutage takes the receiver down (connection refused)
// for less than the retry schedule, then brings it back.
func TestWebhookReceiverOutage(t *testing.T) {
	t.Parallel()
	n := size(40, 200)
	// The schedule gives 1+1+2+2+2+2+2 = 12 s of retries; the outage lasts 4 s.
	s := newStack(t, stackOptions{Customers: 20, Orders: 5, Vars: map[string]string{"WEBHOOK_RETRY_SCHEDULE": "1s,1s,2s,2s,2s,2s,2s"}})
	s.recv.down()
	downAt := time.Now()
	in := newIntake()
	s.submitMany(in, 0, n, 16)
	in.check(t)
	ids := in.ids()
	s.waitCount(t, ids, "succeeded", n, 60*time.Second)
	time.Sleep(time.Until(downAt.Add(4 * time.Second)))
	s.recv.up(t)
	back := time.Now()
	st := s.waitSettled(t, ids, 2*time.Minute)
	recovery := time.Since(back)
	checkInvariant(t, st)
	if dead := s.deliveryCount(t, ids, "dead"); dead > 0 {
		t.Errorf("%d deliveries went dead during a 4 s outage with a 12 s retry schedule", dead)
	}
	s.checkNo500(t)
	record(resultRow{Scenario: "5a webhook receiver down 4 s, back", Reports: n, Lost: st.lost(), Duplicates: st.Duplicates, Recovery: recovery})
}

// TestWebhookReceiverDeadThenReplay keeps the receiver down until every
// delivery is dead, then replays them all with one bulk call per 1,000.
func TestWebhookReceiverDeadThenReplay(t *testing.T) {
	t.Parallel()
	n := size(40, 200)
	s := newStack(t, stackOptions{Customers: 20, Orders: 5, Vars: map[string]string{"WEBHOOK_RETRY_SCHEDULE": "500ms,500ms,1s"}})
	s.recv.down()
	in := newIntake()
	s.submitMany(in, 0, n, 16)
	in.check(t)
	ids := in.ids()
	s.waitCount(t, ids, "succeeded", n, 60*time.Second)
	deadline := time.Now().Add(90 * time.Second)
	for s.deliveryCount(t, ids, "dead") < n {
		if time.Now().After(deadline) {
			t.Fatalf("only %d of %d deliveries are dead after 90 s", s.deliveryCount(t, ids, "dead"), n)
		}
		time.Sleep(250 * time.Millisecond)
	}
	if got := s.recv.snapshot().total; got != 0 {
		t.Fatalf("the receiver was down yet recorded %d deliveries", got)
	}
	s.recv.up(t)
	replayAt := time.Now()
	replayed := 0
	for {
		status, _, body, err := s.call(http.MethodPost, "/v1/deliveries/replay", `{"status":"dead"}`)
		if err != nil || status != http.StatusAccepted {
			t.Fatalf("replay: %d %s %v", status, body, err)
		}
		var v struct {
			Replayed int `json:"replayed"`
		}
		if err := json.Unmarshal(body, &v); err != nil {
			t.Fatal(err)
		}
		replayed += v.Replayed
		if v.Replayed < 1000 {
			break
		}
	}
	if replayed != n {
		t.Errorf("bulk replay answered %d replayed, want %d", replayed, n)
	}
	st := s.waitSettled(t, ids, 2*time.Minute)
	recovery := time.Since(replayAt)
	checkInvariant(t, st)
	if got := s.deliveryCount(t, ids, "delivered"); got != n {
		t.Errorf("%d of %d deliveries are delivered after the replay", got, n)
	}
	s.checkNo500(t)
	record(resultRow{Scenario: "5b webhook receiver down for good, replay", Reports: n, Lost: st.lost(), Duplicates: st.Duplicates,
		Recovery: recovery, Note: fmt.Sprintf("%d dead, %d replayed", n, replayed)})
}

// TestDuplicateStorms sends one Idempotency-Key from 50 goroutines at once,
// and one order-event batch twice (then from 10 goroutines at once).
func TestDuplicateStorms(t *testing.T) {
	t.Parallel()
	s := newStack(t, stackOptions{Customers: 5, Orders: 5})
	const storm = 50
	body := s.reportBody(0)
	type answer struct {
		status   int
		id       string
		replayed bool
		err      error
	}
	answers := make([]answer, storm)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range storm {
		wg.Go(func() {
			<-start
			status, h, b, err := s.call(http.MethodPost, "/v1/reports", body, "Idempotency-Key", "storm-key-1")
			var v struct {
				ID string `json:"id"`
			}
			_ = json.Unmarshal(b, &v)
			answers[i] = answer{status: status, id: v.ID, replayed: h.Get("Idempotent-Replayed") == "true", err: err}
		})
	}
	close(start)
	wg.Wait()
	ids := map[string]int{}
	counts := map[string]int{}
	for _, a := range answers {
		switch {
		case a.err != nil:
			t.Errorf("storm request: %v", a.err)
		case a.status == http.StatusAccepted && a.replayed:
			counts["202 replayed"]++
			ids[a.id]++
		case a.status == http.StatusAccepted:
			counts["202 first"]++
			ids[a.id]++
		case a.status == http.StatusConflict:
			counts["409"]++
		default:
			t.Errorf("storm answer %d; want 202 or 409", a.status)
		}
	}
	t.Logf("idempotency storm: %v", counts)
	if counts["202 first"] != 1 || len(ids) != 1 {
		t.Fatalf("storm of %d: %v, report ids %v; want exactly one first 202 and one report id", storm, counts, ids)
	}
	var rows int
	if err := s.pool.QueryRow(context.Background(), `SELECT count(*) FROM reports WHERE client_id = $1`, s.client.ID).Scan(&rows); err != nil {
		t.Fatal(err)
	}
	if rows != 1 {
		t.Errorf("the storm created %d reports, want 1", rows)
	}
	reportIDs := make([]string, 0, len(ids))
	for id := range ids {
		reportIDs = append(reportIDs, id)
	}
	st := s.waitSettled(t, reportIDs, time.Minute)
	checkInvariant(t, st)

	// The same order-event batch twice: the second is all duplicates.
	events, _ := seed.Events(seed.Options{Customers: 10, OrdersPerCustomer: 10, Seed: 99})
	batch := wireBatch(t, events[:min(len(events), orderevents.MaxBatch)])
	first := s.postEvents(t, batch)
	second := s.postEvents(t, batch)
	if first.Accepted != len(events[:min(len(events), orderevents.MaxBatch)]) || first.Duplicates != 0 {
		t.Errorf("first batch: %+v", first)
	}
	if second.Accepted != 0 || second.Duplicates != first.Accepted {
		t.Errorf("second post of the same batch: %+v, want 0 accepted and %d duplicates", second, first.Accepted)
	}
	// And a fresh batch from 10 goroutines at once: accepted exactly once in total.
	events2, _ := seed.Events(seed.Options{Customers: 10, OrdersPerCustomer: 10, Seed: 100})
	batch2 := wireBatch(t, events2[:min(len(events2), orderevents.MaxBatch)])
	var mu sync.Mutex
	accepted, dups := 0, 0
	for range 10 {
		wg.Go(func() {
			r := s.postEvents(t, batch2)
			mu.Lock()
			accepted += r.Accepted
			dups += r.Duplicates
			mu.Unlock()
		})
	}
	wg.Wait()
	if want := min(len(events2), orderevents.MaxBatch); accepted != want || dups != 9*want {
		t.Errorf("10 concurrent posts of one %d-event batch: %d accepted, %d duplicates; want %d and %d", want, accepted, dups, want, 9*want)
	}
	s.checkNo500(t)
	record(resultRow{Scenario: "6 duplicate storms (50× one key, batch ×2)", Reports: 1, Lost: st.lost(), Duplicates: st.Duplicates,
		Note: fmt.Sprintf("%v; batch ×2: %d then %d dup", counts, first.Accepted, second.Duplicates)})
}

type appendAnswer struct {
	Accepted   int   `json:"accepted"`
	Duplicates int   `json:"duplicates"`
	Position   int64 `json:"position"`
}

// postEvents posts a batch, retrying 503s the way a client honouring
// Retry-After would.
func (s *stack) postEvents(t *testing.T, batch string) appendAnswer {
	t.Helper()
	for range 30 {
		status, _, body, err := s.call(http.MethodPost, "/v1/order-events", batch)
		if err == nil && status == http.StatusServiceUnavailable {
			time.Sleep(time.Second)
			continue
		}
		if err != nil || status != http.StatusOK && status != http.StatusAccepted {
			t.Errorf("post events: %d %s %v", status, body, err)
			return appendAnswer{}
		}
		var a appendAnswer
		if err := json.Unmarshal(body, &a); err != nil {
			t.Errorf("post events: %v: %s", err, body)
		}
		return a
	}
	t.Errorf("post events: still 503 after 30 tries")
	return appendAnswer{}
}

// wireBatch renders events in the API's JSON shape.
func wireBatch(t *testing.T, events []orderevents.Event) string {
	t.Helper()
	b, err := orderevents.EncodeBatch(events)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// idsInStatus returns the reports among ids that are in status.
func (s *stack) idsInStatus(t *testing.T, ids []string, status string) []string {
	t.Helper()
	var out []string
	if err := s.pool.QueryRow(context.Background(), `SELECT coalesce(array_agg(id), '{}') FROM reports WHERE id = ANY($1) AND status = $2`, ids, status).Scan(&out); err != nil {
		t.Fatalf("read %s reports: %v", status, err)
	}
	return out
}

// countStatus counts the reports among ids in status.
func (s *stack) countStatus(t *testing.T, ids []string, status string) int {
	t.Helper()
	var n int
	if err := s.pool.QueryRow(context.Background(), `SELECT count(*) FROM reports WHERE id = ANY($1) AND status = $2`, ids, status).Scan(&n); err != nil {
		t.Logf("count reports: %v", err)
		return 0
	}
	return n
}

// waitCount waits until at least want reports are in status.
func (s *stack) waitCount(t *testing.T, ids []string, status string, want int, timeout time.Duration) int {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		n := s.countStatus(t, ids, status)
		if n >= want {
			return n
		}
		if time.Now().After(deadline) {
			t.Fatalf("only %d of %d reports reached %s within %s", n, want, status, timeout)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// deliveryCount counts the deliveries of ids' reports in status.
func (s *stack) deliveryCount(t *testing.T, ids []string, status string) int {
	t.Helper()
	var n int
	if err := s.pool.QueryRow(context.Background(), `SELECT count(*) FROM deliveries WHERE report_id = ANY($1) AND status = $2`, ids, status).Scan(&n); err != nil {
		t.Logf("count deliveries: %v", err)
		return 0
	}
	return n
}
