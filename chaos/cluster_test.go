package chaos

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// clusterShards is REDIS_QUEUE_SHARDS in the cluster scenarios: as many
// shards of each queue as the cluster has masters.
const clusterShards = 3

// TestRedisCluster runs the api and the worker on a redis-cluster:// URL
// (three masters, three replicas, a password) with REDIS_QUEUE_SHARDS=3.
// First the whole path: reports succeed with verified webhooks, a waiting
// report is canceled, a delivery is redelivered, the queue metrics and the
// dashboard list the shards. Then, under a steady rate of submissions, a
// master that holds queue shards (and not the epoch counter, so only the
// masters' run_ids can tell) is SIGKILLed; its replica takes over and every
// accepted report succeeds with exactly one webhook-id; intake may answer
// 202 or 503 only (in practice only 202: it needs one report shard). The
// sweeper runs every 5 minutes, far past the settle timeout.
func TestRedisCluster(t *testing.T) {
	t.Parallel()
	rate, failovers := size(5, 20), size(1, 2)
	set := startClusterSet(t)
	s := newStack(t, stackOptions{Customers: 10, Orders: 5, Vars: map[string]string{
		"REDIS_URL": set.url(t), "REDIS_QUEUE_SHARDS": strconv.Itoa(clusterShards),
		"SWEEP_INTERVAL": "5m", "OPERATOR_TOKEN": operatorToken,
	}})

	// The whole path.
	pathIn := newIntake()
	s.submitMany(pathIn, 0, 12, 4)
	pathIn.check(t)
	checkInvariant(t, s.waitSettled(t, pathIn.ids(), 30*time.Second))
	s.checkClusterCancel(t)
	s.checkClusterRedeliver(t, pathIn.ids()[0])
	s.checkShardDashboards(t)
	if t.Failed() {
		t.FailNow()
	}

	// A master's failover.
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
	var took, held []string
	for f := range failovers {
		s.waitSucceeded(t, in, (f+1)*rate, time.Minute)
		acceptedAtKill := len(in.ids())
		victim, queues := set.shardMaster(t)
		lastKill = time.Now()
		set.kill(t, victim)
		promoted := set.waitFailover(t, victim, "asynq:{"+queues[0]+"}:pending", 30*time.Second)
		took = append(took, time.Since(lastKill).Round(100*time.Millisecond).String())
		held = append(held, strings.Join(queues, "+"))
		t.Logf("failover %d: master %s (holding %v) SIGKILLed with %d reports accepted; replica %s took over after %s",
			f+1, victim, queues, acceptedAtKill, promoted, took[f])
		s.waitAccepted(t, in, acceptedAtKill+rate, time.Minute)
		if f+1 < failovers {
			set.restart(t, victim)
		}
	}
	close(stop)
	wg.Wait()
	stopped = true

	ids := in.ids()
	t.Logf("%d submitted: %s", submitted, in.summary())
	in.check(t)
	in.onlyAcceptedOrBusy(t)
	st := s.waitSettled(t, ids, time.Duration(size(30, 60))*time.Second)
	recovery := s.lastDelivery(t, ids).Sub(lastKill)
	checkInvariant(t, st)
	s.checkNo500(t)
	s.checkShardDashboards(t)
	record(resultRow{Scenario: fmt.Sprintf("8b Redis Cluster: master SIGKILL ×%d", failovers), Reports: len(ids), Lost: st.lost(),
		Duplicates: st.Duplicates, Recovery: recovery,
		Note: fmt.Sprintf("3 masters + 3 replicas, %d shards; killed the master of %s; %d submitted: %s; %d succeeded; failover took %s; sweep 5m",
			clusterShards, strings.Join(held, ", "), submitted, in.summary(), st.Statuses["succeeded"], strings.Join(took, ", "))})
}

// checkClusterCancel cancels a report that waits for a position the
// events will not reach; its task is found on its shard and removed.
func (s *stack) checkClusterCancel(t *testing.T) {
	t.Helper()
	body := fmt.Sprintf(`{"type":"order_history","format":"csv","min_position":%d,"params":{"customer_id":%q,"from":"2026-01-01","to":"2026-03-31"}}`,
		int64(1)<<40, s.summary.Customers[0])
	code, _, b, err := s.call(http.MethodPost, "/v1/reports", body)
	if err != nil || code != http.StatusAccepted {
		t.Fatalf("submit a waiting report: %d %s %v", code, b, err)
	}
	var rep struct {
		ID     string `json:"id"`
		Status string `json:"status"`
	}
	if err := json.Unmarshal(b, &rep); err != nil {
		t.Fatal(err)
	}
	// Cancel once its task is on the queue (the worker is trying it).
	deadline := time.Now().Add(10 * time.Second)
	for s.tries(rep.ID) == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("report %s never waited for its min_position", rep.ID)
		}
		time.Sleep(50 * time.Millisecond)
	}
	code, _, b, err = s.call(http.MethodPost, "/v1/reports/"+rep.ID+"/cancel", "")
	if err != nil || code != http.StatusOK {
		t.Fatalf("cancel %s: %d %s %v", rep.ID, code, b, err)
	}
	_ = json.Unmarshal(b, &rep)
	if rep.Status != "canceled" {
		t.Fatalf("after the cancel report %s is %s", rep.ID, rep.Status)
	}
	// The task is gone from its shard: no run of it logs another wait.
	settled := s.tries(rep.ID)
	time.Sleep(3 * time.Second) // the worker retries a waiting report every second or so
	if n := s.tries(rep.ID); n > settled+1 {
		t.Errorf("report %s was still tried %d times after its cancel", rep.ID, n-settled)
	}
}

// checkClusterRedeliver sends a delivered webhook again and waits for it.
func (s *stack) checkClusterRedeliver(t *testing.T, reportID string) {
	t.Helper()
	var id string
	if err := s.pool.QueryRow(context.Background(), `SELECT id FROM deliveries WHERE report_id = $1`, reportID).Scan(&id); err != nil {
		t.Fatalf("find the delivery of %s: %v", reportID, err)
	}
	before := s.recv.deliveries(id)
	code, _, b, err := s.call(http.MethodPost, "/v1/deliveries/"+id+"/redeliver", "")
	if err != nil || code != http.StatusAccepted {
		t.Fatalf("redeliver %s: %d %s %v", id, code, b, err)
	}
	deadline := time.Now().Add(15 * time.Second)
	for s.recv.deliveries(id) <= before {
		if time.Now().After(deadline) {
			t.Fatalf("delivery %s was not sent again within 15s of its redelivery", id)
		}
		time.Sleep(50 * time.Millisecond)
	}
	// The receiver counts it as a duplicate of the webhook-id; forget it.
	s.recv.forget(id, before)
}

// checkShardDashboards reads every shard through the worker's queue
// metrics and the API's asynqmon dashboard.
func (s *stack) checkShardDashboards(t *testing.T) {
	t.Helper()
	get := func(url string) (int, string) { return operatorGet(t, url) }
	metrics, dash := "http://"+s.env.Vars["WORKER_METRICS_ADDR"]+"/metrics", s.apiURL+"/monitoring/api/queues"
	// Each process's cluster client refreshes its slot map at most every
	// 10 s (go-redis), so right after a failover a client may still dial
	// the dead master; wait for that, and say how long it took.
	start := time.Now()
	var problems []string
	for {
		problems = nil
		mcode, mbody := get(metrics)
		dcode, dbody := get(dash)
		if mcode != http.StatusOK || !strings.Contains(mbody, `reportd_collector_up{collector="queues"} 1`) {
			problems = append(problems, fmt.Sprintf("worker /metrics: %d, queue collector not up", mcode))
		}
		if dcode != http.StatusOK {
			problems = append(problems, fmt.Sprintf("asynqmon %s: %d %.300s", dash, dcode, dbody))
		}
		for i := range clusterShards {
			for _, base := range []string{"reports", "webhooks"} {
				q := fmt.Sprintf("%s:%d", base, i)
				if !strings.Contains(mbody, `reportd_queue_size{queue="`+q+`"`) {
					problems = append(problems, "worker /metrics has no reportd_queue_size for "+q)
				}
				if base == "reports" && !strings.Contains(dbody, `"`+q+`"`) {
					problems = append(problems, fmt.Sprintf("asynqmon lists no queue %s: %.200s", q, dbody))
				}
			}
		}
		if len(problems) == 0 || time.Since(start) > 20*time.Second {
			break
		}
		time.Sleep(250 * time.Millisecond)
	}
	for _, p := range problems {
		t.Error(p)
	}
	t.Logf("queue metrics and dashboard answered for every shard after %s", time.Since(start).Round(100*time.Millisecond))
	if code, _ := get(s.apiURL + "/monitoring/"); code != http.StatusOK {
		t.Errorf("GET /monitoring/: %d", code)
	}
}

// clusterSet is scripts/ha-cluster.sh's set-up on free loopback ports:
// three masters and a replica of each.
type clusterSet struct {
	env   []string
	ports []string
}

// freeClusterPorts picks n ports in 30000–55000 whose cluster bus port
// (port+10000) is free too; the kernel's ephemeral ports may pass 55535.
func freeClusterPorts(t *testing.T, n int) []string {
	t.Helper()
	free := func(p int) bool {
		ln, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(p))
		if err != nil {
			return false
		}
		ln.Close()
		return true
	}
	seen := map[int]bool{}
	var out []string
	for tries := 0; len(out) < n; tries++ {
		if tries > 1000 {
			t.Fatal("no free loopback ports for a Redis Cluster in 30000–55000")
		}
		p := 30000 + rand.IntN(25000)
		if seen[p] || seen[p+10000] || seen[p-10000] || !free(p) || !free(p+10000) {
			continue
		}
		seen[p] = true
		out = append(out, strconv.Itoa(p))
	}
	return out
}

func startClusterSet(t *testing.T) *clusterSet {
	t.Helper()
	for _, bin := range []string{"redis-server", "redis-cli"} {
		if _, err := exec.LookPath(bin); err != nil {
			t.Fatalf("%s is not installed: run scripts/dev-services.sh up (it installs it)", bin)
		}
	}
	set := &clusterSet{ports: freeClusterPorts(t, 6)}
	set.env = []string{
		"HA_DIR=" + t.TempDir(),
		"HA_CLUSTER_PORTS=" + strings.Join(set.ports, ","),
		// A password proves the URL's credentials reach every node.
		"HA_REDIS_PASSWORD=chaos-cluster-pw",
		"HA_NODE_TIMEOUT_MS=2000",
	}
	t.Cleanup(func() {
		if out, err := runHAScript("cluster", set.env, "down"); err != nil {
			t.Errorf("scripts/ha-cluster.sh down: %v %s", err, out)
		}
	})
	started := time.Now()
	haScript(t, "cluster", set.env, "up")
	t.Logf("cluster on %v ready in %s", set.ports, time.Since(started).Round(100*time.Millisecond))
	return set
}

func (c *clusterSet) url(t *testing.T) string {
	t.Helper()
	return strings.TrimSpace(haScript(t, "cluster", c.env, "url"))
}

// masterOf is the port of the master that owns queue's keys.
func (c *clusterSet) masterOf(t *testing.T, key string) string {
	t.Helper()
	return strings.TrimSpace(haScript(t, "cluster", c.env, "master-of", key))
}

// shardMaster picks the master to kill: one that holds report shards but
// not the epoch counter, and returns it with the shards it holds.
func (c *clusterSet) shardMaster(t *testing.T) (string, []string) {
	t.Helper()
	held := map[string][]string{}
	for _, base := range []string{"reports", "webhooks"} {
		for i := range clusterShards {
			q := fmt.Sprintf("%s:%d", base, i)
			m := c.masterOf(t, "asynq:{"+q+"}:pending")
			held[m] = append(held[m], q)
		}
	}
	epoch := c.masterOf(t, "{reportd}:epoch")
	best := ""
	for m, qs := range held {
		if best == "" || (m != epoch && (best == epoch || len(qs) > len(held[best]))) {
			best = m
		}
	}
	return best, held[best]
}

func (c *clusterSet) kill(t *testing.T, port string) {
	t.Helper()
	haScript(t, "cluster", c.env, "kill", port)
}

// waitFailover waits until another master owns key (a key of a queue the
// killed master held) and the cluster is whole again.
func (c *clusterSet) waitFailover(t *testing.T, port, key string, timeout time.Duration) string {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		out, err := runHAScript("cluster", c.env, "master-of", key)
		if m := strings.TrimSpace(out); err == nil && m != "" && m != port {
			if _, err := runHAScript("cluster", append(c.env, "HA_WAIT_SECONDS=1"), "wait-ok"); err == nil {
				return m
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no replica took over from master %s within %s of its SIGKILL\n%s", port, timeout,
				haScript(t, "cluster", c.env, "status"))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// restart starts a killed node again and waits until the cluster is whole.
func (c *clusterSet) restart(t *testing.T, port string) {
	t.Helper()
	haScript(t, "cluster", c.env, "start", port)
	haScript(t, "cluster", c.env, "wait-ok")
}

// deliveries is how often the receiver got webhook-id id.
func (r *receiver) deliveries(id string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.perID[id]
}

// forget sets webhook-id id's count back to n, after a redelivery that was
// asked for, so it does not count as a duplicate.
func (r *receiver) forget(id string, n int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.perID[id] = n
}

// tries counts the worker's finished runs of report id's task.
func (s *stack) tries(reportID string) int {
	n := 0
	for line := range strings.Lines(s.worker.logs()) {
		if strings.Contains(line, `"msg":"task done"`) && strings.Contains(line, `"task_id":"`+reportID+`"`) {
			n++
		}
	}
	return n
}
