package chaos

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestSentinelFailover runs the api and the worker on a redis-sentinel://
// URL (with a password), submits reports at a steady rate and SIGKILLs the
// Redis master mid-run, once in the short form and twice in the full one
// (the killed node rejoins as a replica in between). The sweeper runs every
// 5 minutes, far past the settle timeout, so only fast recovery can save a
// task that the dead master took with it.
func TestSentinelFailover(t *testing.T) {
	t.Parallel()
	rate, failovers := size(5, 20), size(1, 2)
	set := startSentinelSet(t)
	s := newStack(t, stackOptions{Customers: 10, Orders: 5, Vars: map[string]string{
		"REDIS_URL": set.url(t), "SWEEP_INTERVAL": "5m", "OPERATOR_TOKEN": operatorToken,
	}})

	in := newIntake()
	stop := make(chan struct{})
	var submitted int
	var wg sync.WaitGroup
	wg.Go(func() { submitted = s.submitAtRate(in, stop, rate) })
	stopped := false
	defer func() {
		if !stopped {
			close(stop)
			wg.Wait()
		}
	}()

	var lastKill time.Time
	var took []string
	for f := range failovers {
		// Work flows before each kill: a second's worth more reports done.
		s.waitSucceeded(t, in, (f+1)*rate, time.Minute)
		acceptedAtKill := len(in.ids())
		lastKill = time.Now()
		old := set.killMaster(t)
		promoted := set.waitFailover(t, old, 30*time.Second)
		took = append(took, time.Since(lastKill).Round(100*time.Millisecond).String())
		t.Logf("failover %d: master %s SIGKILLed with %d reports accepted; sentinels promoted %s after %s",
			f+1, old, acceptedAtKill, promoted, took[f])
		// Keep submitting until the new master has taken a second's worth.
		s.waitAccepted(t, in, acceptedAtKill+rate, time.Minute)
		if f+1 < failovers {
			set.restart(t, old)
		}
	}
	close(stop)
	wg.Wait()
	stopped = true

	ids := in.ids()
	t.Logf("%d submitted: %s", submitted, in.summary())
	in.check(t)
	in.onlyAcceptedOrBusy(t)
	// Far below the 5m sweep, and within a minute for CI even on failure.
	st := s.waitSettled(t, ids, time.Duration(size(30, 60))*time.Second)
	last := s.lastDelivery(t, ids)
	recovery := last.Sub(lastKill)
	checkInvariant(t, st)
	s.checkNo500(t)
	s.checkDashboards(t)
	record(resultRow{Scenario: fmt.Sprintf("8 Redis Sentinel: master SIGKILL ×%d", failovers), Reports: len(ids), Lost: st.lost(),
		Duplicates: st.Duplicates, Recovery: recovery,
		Note: fmt.Sprintf("%d submitted: %s; %d succeeded; failover took %s; sweep 5m", submitted, in.summary(),
			st.Statuses["succeeded"], strings.Join(took, ", "))})
}

const operatorToken = "chaos-operator-token"

// operatorGet GETs url with the operator token; a failed request is a
// test error and answers status 0.
func operatorGet(t *testing.T, url string) (status int, body string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+operatorToken)
	resp, err := httpClient.Do(req)
	if err != nil {
		t.Errorf("GET %s: %v", url, err)
		return 0, ""
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// checkDashboards reads Redis through the two other clients a process
// opens from REDIS_URL, after the failover: the worker's queue metrics and
// the API's asynqmon dashboard.
func (s *stack) checkDashboards(t *testing.T) {
	t.Helper()
	get := func(url string) (int, string) { return operatorGet(t, url) }
	if code, body := get("http://" + s.env.Vars["WORKER_METRICS_ADDR"] + "/metrics"); code != http.StatusOK ||
		!strings.Contains(body, `reportd_collector_up{collector="queues"} 1`) || !strings.Contains(body, `reportd_queue_size{queue="reports"`) {
		t.Errorf("worker /metrics after the failover: %d, queue collector up or reports queue missing", code)
	}
	if code, body := get(s.apiURL + "/monitoring/api/queues"); code != http.StatusOK || !strings.Contains(body, `"reports"`) {
		t.Errorf("asynqmon /monitoring/api/queues after the failover: %d %.300s", code, body)
	}
}

// submitAtRate posts reports at about perSecond until stop closes and
// returns how many it sent.
func (s *stack) submitAtRate(in *intake, stop <-chan struct{}, perSecond int) int {
	tick := time.NewTicker(time.Second / time.Duration(perSecond))
	defer tick.Stop()
	var wg sync.WaitGroup
	defer wg.Wait()
	for i := 0; ; i++ {
		select {
		case <-stop:
			return i
		case <-tick.C:
			wg.Go(func() { s.submit(in, i) })
		}
	}
}

// waitSucceeded waits until at least n accepted reports have succeeded.
func (s *stack) waitSucceeded(t *testing.T, in *intake, n int, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for s.countStatus(t, in.ids(), "succeeded") < n {
		if time.Now().After(deadline) {
			t.Fatalf("fewer than %d reports succeeded within %s: %s", n, timeout, in.summary())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// waitAccepted waits until the API has accepted at least n reports.
func (s *stack) waitAccepted(t *testing.T, in *intake, n int, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for len(in.ids()) < n {
		if time.Now().After(deadline) {
			t.Fatalf("the API accepted fewer than %d reports within %s: %s", n, timeout, in.summary())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// lastDelivery is when the last webhook of ids' reports was delivered.
func (s *stack) lastDelivery(t *testing.T, ids []string) time.Time {
	t.Helper()
	var last *time.Time
	if err := s.pool.QueryRow(context.Background(),
		`SELECT max(delivered_at) FROM deliveries WHERE report_id = ANY($1)`, ids).Scan(&last); err != nil || last == nil {
		t.Errorf("read the last delivery time: %v", err)
		return time.Time{}
	}
	return *last
}

// onlyAcceptedOrBusy checks that intake answered nothing but 202 and 503
// and that every request reached the API.
func (in *intake) onlyAcceptedOrBusy(t *testing.T) {
	t.Helper()
	in.mu.Lock()
	defer in.mu.Unlock()
	for code, n := range in.statuses {
		if code != http.StatusAccepted && code != http.StatusServiceUnavailable {
			t.Errorf("%d submissions answered %d; during a failover intake may answer only 202 or 503", n, code)
		}
	}
	if in.netErrs > 0 {
		t.Errorf("%d submissions did not reach the API", in.netErrs)
	}
}
