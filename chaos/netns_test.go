//go:build chaosfull

package chaos

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/reportd/reportd/internal/apikey"
	"github.com/reportd/reportd/internal/ids"
	"github.com/reportd/reportd/internal/postgres"
	"github.com/reportd/reportd/internal/testenv"
	"github.com/reportd/reportd/internal/webhook"
)

// netnsStack is reportd spread over four hosts of a netLab: Redis, Postgres,
// the S3 gateway and the webhook receiver on "svc", the API on "api", and a
// worker on each of "w1" and "w2". The test reaches the API and Postgres
// through relays on 127.0.0.1.
type netnsStack struct {
	*stack

	lab     *netLab
	svc     *netHost
	hosts   []*netHost // the workers' hosts, in the order of workers
	workers []*proc
	pgRelay *relay // in front of Postgres on svc, when the scenario adds latency
}

type netnsOptions struct {
	pgLatency bool          // route the app's Postgres traffic through a delaying relay
	hookDelay time.Duration // the receiver takes this long to answer, so deliveries are in flight
	vars      map[string]string
}

func newNetnsStack(t *testing.T, opt netnsOptions) *netnsStack {
	t.Helper()
	lab := newNetLab(t)
	n := &netnsStack{lab: lab, svc: lab.addHost(t, "svc", 2)}
	apiHost := lab.addHost(t, "api", 3)
	n.hosts = []*netHost{lab.addHost(t, "w1", 4), lab.addHost(t, "w2", 5)}
	dir := logDir(t)
	svc := n.svc

	redisBin, err := exec.LookPath("redis-server")
	if err != nil {
		t.Fatal("redis-server is not installed: run scripts/dev-services.sh up (it installs it)")
	}
	redisDir := t.TempDir()
	svc.startProc(t, "redis", redisBin, nil, dir, "--port", "6379", "--bind", svc.ip, "--protected-mode", "no", "--save", "", "--appendonly", "no",
		"--dir", redisDir, "--maxmemory-policy", "noeviction")

	pg := newPGNode(t, "pg", svc.ip, "5432", svc)
	pg.initPrimary(t)
	pg.psql(t, "postgres", "CREATE DATABASE reportd")
	appDB := svc.ip + ":5432"
	if opt.pgLatency {
		ln, err := svc.listen(svc.ip + ":6432")
		if err != nil {
			t.Fatalf("listen for the Postgres relay: %v", err)
		}
		n.pgRelay = newRelay(t, ln, func(ctx context.Context) (net.Conn, error) { return svc.dial(ctx, svc.ip+":5432") })
		appDB = n.pgRelay.addr()
	}

	const s3Key, s3Secret = "chaos", "chaos-secret-key"
	s3Data := filepath.Join(t.TempDir(), "s3")
	if err := os.MkdirAll(s3Data, 0o755); err != nil {
		t.Fatal(err)
	}
	svc.startProc(t, "versitygw", versitygwBin(t), append(os.Environ(), "ROOT_ACCESS_KEY="+s3Key, "ROOT_SECRET_KEY="+s3Secret), dir,
		"--port", svc.ip+":7070", "--quiet", "posix", s3Data)

	recv := &receiver{addr: svc.ip + ":8099", byReport: map[string]map[string]int{}, perID: map[string]int{}}
	ln, err := svc.listen(recv.addr)
	if err != nil {
		t.Fatalf("listen for webhooks on %s: %v", recv.addr, err)
	}
	recv.srv = &http.Server{ReadHeaderTimeout: 5 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		time.Sleep(opt.hookDelay)
		recv.serve(w, req)
	})}
	go func() { _ = recv.srv.Serve(ln) }()
	t.Cleanup(recv.down)

	svc.waitTCP(t, "redis", svc.ip+":6379", 20*time.Second)
	svc.waitTCP(t, "versitygw", svc.ip+":7070", 30*time.Second)

	// The test's own view of the database, straight to Postgres (never delayed).
	pool := connectVia(t, relayFromLocal(t, svc, svc.ip+":5432"), "reportd")
	ctx := context.Background()
	if err := postgres.Migrate(ctx, pool, discardLogger()); err != nil {
		t.Fatal(err)
	}
	client := createClient(t, pool, recv.url())
	recv.setSecret(client.Secret)

	vars := map[string]string{
		"DATABASE_URL":                   "postgres://postgres@" + appDB + "/reportd?sslmode=disable",
		"REDIS_URL":                      "redis://" + svc.ip + ":6379/0",
		"S3_ENDPOINT":                    "http://" + svc.ip + ":7070",
		"S3_BUCKET":                      "reportd",
		"AWS_ACCESS_KEY_ID":              s3Key,
		"AWS_SECRET_ACCESS_KEY":          s3Secret,
		"API_ADDR":                       apiHost.ip + ":8080",
		"WEBHOOK_ALLOW_PRIVATE_NETWORKS": "true",
		"WEBHOOK_RETRY_SCHEDULE":         "1s,1s,2s,2s,2s,5s,5s,10s,10s,10s",
		"WEBHOOK_TIMEOUT":                "3s",
		"SWEEP_INTERVAL":                 "1s",
		"REPORT_MAX_ATTEMPTS":            "25",
		"MAX_IN_FLIGHT":                  "100000",
		"WORKER_CONCURRENCY":             "10",
		"SHUTDOWN_TIMEOUT":               "10s",
		"LOG_LEVEL":                      "info",
	}
	maps.Copy(vars, opt.vars)
	environ := func(extra map[string]string) []string {
		v := maps.Clone(vars)
		maps.Copy(v, extra)
		out := os.Environ()
		for k, val := range v {
			out = append(out, k+"="+val)
		}
		return out
	}

	api := apiHost.startProc(t, "api", the.apiBin, environ(nil), dir)
	apiURL := "http://" + relayFromLocal(t, apiHost, apiHost.ip+":8080").addr()
	waitHTTP(t, api, apiURL+"/healthz", 60*time.Second)
	for i, h := range n.hosts {
		metrics := h.ip + ":9091"
		w := h.startProc(t, fmt.Sprintf("worker%d", i+1), the.workerBin, environ(map[string]string{"WORKER_METRICS_ADDR": metrics}), dir)
		waitHTTP(t, w, "http://"+relayFromLocal(t, h, metrics).addr()+"/healthz", 60*time.Second)
		n.workers = append(n.workers, w)
	}
	n.stack = &stack{api: api, apiURL: apiURL, client: client, recv: recv, pool: pool, logDir: dir}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("api log tail:\n%s", api.tail(20))
			for _, w := range n.workers {
				t.Logf("%s log tail:\n%s", w.name, w.tail(30))
			}
			t.Logf("full logs in %s", dir)
		}
	})
	n.seed(t, 20, 10)
	return n
}

func versitygwBin(t *testing.T) string {
	t.Helper()
	if bin, err := exec.LookPath("versitygw"); err == nil {
		return bin
	}
	gopath, _ := exec.Command("go", "env", "GOPATH").Output()
	bin := filepath.Join(strings.TrimSpace(string(gopath)), "bin", "versitygw")
	if _, err := os.Stat(bin); err != nil {
		t.Fatal("versitygw is not installed: run scripts/dev-services.sh up (it installs it)")
	}
	return bin
}

// relayFromLocal forwards a port on 127.0.0.1 to addr as seen from host.
func relayFromLocal(t *testing.T, host *netHost, addr string) *relay {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return newRelay(t, ln, func(ctx context.Context) (net.Conn, error) { return host.dial(ctx, addr) })
}

func connectVia(t *testing.T, r *relay, db string) *pgxpool.Pool {
	t.Helper()
	pool, err := postgres.Connect(context.Background(), "postgres://postgres@"+r.addr()+"/"+db+"?sslmode=disable")
	if err != nil {
		t.Fatalf("connect to the lab's Postgres: %v", err)
	}
	t.Cleanup(pool.Close)
	return pool
}

// createClient makes a tenant straight in the database, as reportctl does.
func createClient(t *testing.T, pool *pgxpool.Pool, webhookURL string) testenv.Client {
	t.Helper()
	key := apikey.New()
	secret, err := webhook.NewSecret()
	if err != nil {
		t.Fatal(err)
	}
	c := testenv.Client{ID: ids.New("cli"), APIKey: key.Plain, Secret: secret}
	if err := postgres.NewStore(pool).CreateClient(context.Background(), postgres.NewClient{
		ID: c.ID, Name: "Netns Ltd", WebhookURL: webhookURL, KeyID: key.ID, KeyHash: key.Hash,
		Scopes: []string{"reports", "events:write"}, Secret: secret,
	}); err != nil {
		t.Fatal(err)
	}
	return c
}

// leaderIndex tells which worker holds the sweeper's leader lock, by the
// address its Postgres session comes from; -1 if none does.
func (n *netnsStack) leaderIndex(t *testing.T) int {
	t.Helper()
	var addr string
	err := n.pool.QueryRow(context.Background(), `
		SELECT host(a.client_addr) FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
		WHERE l.locktype = 'advisory' AND l.granted LIMIT 1`).Scan(&addr)
	if err != nil {
		return -1
	}
	for i, h := range n.hosts {
		if h.ip == addr {
			return i
		}
	}
	return -1
}

// workerLog counts, per value of key, the log lines of p with message msg.
func workerLog(p *proc, msg, key string) map[string]int {
	out := map[string]int{}
	sc := bufio.NewScanner(strings.NewReader(p.logs()))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var line map[string]any
		if json.Unmarshal(sc.Bytes(), &line) != nil || line["msg"] != msg {
			continue
		}
		if v, ok := line[key].(string); ok {
			out[v]++
		}
	}
	return out
}

// rebuilt counts the reports among ids that were started more than once,
// and the extra starts.
func (s *stack) rebuilt(t *testing.T, ids []string) (reports, extra int) {
	t.Helper()
	if err := s.pool.QueryRow(context.Background(), `
		SELECT count(*) FILTER (WHERE attempts > 1), coalesce(sum(attempts - 1) FILTER (WHERE attempts > 1), 0)
		FROM reports WHERE id = ANY($1)`, ids).Scan(&reports, &extra); err != nil {
		t.Errorf("count rebuilt reports: %v", err)
	}
	return reports, extra
}

// checkState verifies that every report's row and delivery are whole: a
// succeeded report names its file, and has exactly one delivery, delivered.
func (s *stack) checkState(t *testing.T, ids []string) {
	t.Helper()
	var broken, deliveries, undelivered int
	err := s.pool.QueryRow(context.Background(), `
		SELECT (SELECT count(*) FROM reports WHERE id = ANY($1) AND (status <> 'succeeded' OR object_key IS NULL
		            OR sha256 IS NULL OR size_bytes IS NULL OR completed_at IS NULL)),
		       (SELECT count(*) FROM deliveries WHERE report_id = ANY($1)),
		       (SELECT count(*) FROM deliveries WHERE report_id = ANY($1) AND status <> 'delivered')`, ids).
		Scan(&broken, &deliveries, &undelivered)
	if err != nil {
		t.Errorf("check report state: %v", err)
		return
	}
	if broken != 0 || deliveries != len(ids) || undelivered != 0 {
		t.Errorf("state of %d reports: %d not succeeded or without a file, %d deliveries (want %d), %d not delivered",
			len(ids), broken, deliveries, len(ids), undelivered)
	}
}

// TestNetnsPartition cuts the worker that holds the sweeper's leader lock
// off the network (Redis, Postgres, S3 and the receiver all sit on the
// services host) for 30 s while reports keep arriving, then heals it.
func TestNetnsPartition(t *testing.T) {
	n := newNetnsStack(t, netnsOptions{hookDelay: 500 * time.Millisecond})
	in := newIntake()
	stop := make(chan struct{})
	var submitted int
	var wg sync.WaitGroup
	wg.Go(func() { submitted = n.submitUntil(in, stop, 0, 8) })

	time.Sleep(5 * time.Second)
	cut := max(0, n.leaderIndex(t))
	running := n.countStatus(t, in.ids(), "running")
	n.hosts[cut].cut(t)
	cutAt := time.Now()
	t.Logf("cut %s (leader: %t) off with %d reports running", n.workers[cut].name, n.leaderIndex(t) == cut, running)
	time.Sleep(25 * time.Second)
	// A partitioned leader must not keep the sweepers to itself: the lock
	// should have moved to a worker that can still reach Postgres.
	leaderLate := n.leaderIndex(t)
	time.Sleep(time.Until(cutAt.Add(30 * time.Second)))
	beforeHeal := in.ids()
	n.hosts[cut].heal(t)
	healAt := time.Now()
	time.Sleep(5 * time.Second)
	close(stop)
	wg.Wait()

	in.check(t)
	ids := in.ids()
	st := n.waitSettled(t, ids, 4*time.Minute)
	checkInvariant(t, st)
	n.checkNo500(t)
	n.checkState(t, ids)
	recovery := n.lastWebhook(t, beforeHeal).Sub(healAt)
	rebuiltReports, extraBuilds := n.rebuilt(t, ids)

	// The cut-off worker may finish what it held once healed, but a report
	// succeeds once and its webhook keeps one webhook-id (checkInvariant).
	succeededBy := map[string]int{}
	for _, w := range n.workers {
		for id, c := range workerLog(w, "report succeeded", "report_id") {
			succeededBy[id] += c
		}
		if w.exited() {
			t.Errorf("%s exited during the scenario:\n%s", w.name, w.tail(20))
		}
	}
	for id, c := range succeededBy {
		if c > 1 {
			t.Errorf("report %s was recorded as succeeded %d times", id, c)
		}
	}
	cutDone := len(workerLog(n.workers[cut], "report succeeded", "report_id"))
	cutSent := len(workerLog(n.workers[cut], "webhook delivered", "delivery_id"))
	succeeded := n.countStatus(t, ids, "succeeded")
	if leaderLate == cut {
		t.Errorf("%s still held the sweeper's leader lock 25 s into its partition", n.workers[cut].name)
	}
	t.Logf("partition: leader 25 s in: worker%d; %d submitted: %s; %d succeeded; rebuilt %d reports (%d extra builds); %d duplicate webhooks; the cut worker finished %d and delivered %d; backlog drained %s after the heal",
		leaderLate+1, submitted, in.summary(), succeeded, rebuiltReports, extraBuilds, st.Duplicates, cutDone, cutSent, recovery.Round(100*time.Millisecond))
	record(resultRow{Scenario: "9 netns: leader worker partitioned 30 s", Reports: len(ids), Lost: st.lost(), Duplicates: st.Duplicates, Recovery: recovery,
		Note: fmt.Sprintf("%d succeeded; %d rebuilt; cut worker finished %d, sent %d; leader after 25 s: worker%d; %s", succeeded, rebuiltReports,
			cutDone, cutSent, leaderLate+1, in.summary())})
}

// TestNetnsPostgresLatency delays everything Postgres sends to the api and
// the workers by 200 ms for a minute: reports take longer, none fails.
// Two task slots per worker make the workers, not the offered load, the
// limit once Postgres is slow, so throughput drops and a backlog builds.
func TestNetnsPostgresLatency(t *testing.T) {
	n := newNetnsStack(t, netnsOptions{pgLatency: true, vars: map[string]string{"WORKER_CONCURRENCY": "2"}})
	in := newIntake()
	stop := make(chan struct{})
	var submitted int
	var wg sync.WaitGroup
	wg.Go(func() { submitted = n.submitUntil(in, stop, 0, 6) })

	start := time.Now()
	time.Sleep(15 * time.Second)
	n.pgRelay.setDelay(200 * time.Millisecond)
	slowAt := time.Now()
	time.Sleep(time.Minute)
	beforeHeal := in.ids()
	n.pgRelay.setDelay(0)
	healAt := time.Now()
	time.Sleep(15 * time.Second)
	close(stop)
	wg.Wait()

	in.check(t)
	ids := in.ids()
	st := n.waitSettled(t, ids, 4*time.Minute)
	checkInvariant(t, st)
	n.checkNo500(t)
	n.checkState(t, ids)
	in.mu.Lock()
	refused := in.statuses[http.StatusServiceUnavailable]
	in.mu.Unlock()
	if refused > 0 {
		t.Errorf("%d submissions answered 503 while Postgres was only slow: %s", refused, in.summary())
	}
	before := n.phase(t, ids, start, slowAt)
	during := n.phase(t, ids, slowAt, healAt)
	after := n.phase(t, ids, healAt, time.Now())
	t.Logf("latency: %d submitted: %s; before %s; with 200 ms %s; after %s", submitted, in.summary(), before, during, after)
	if during.medianSeconds <= before.medianSeconds || during.perSecond >= 0.8*before.perSecond {
		t.Errorf("reports were not slower, nor fewer, with 200 ms on Postgres: before %s, during %s", before, during)
	}
	recovery := n.lastWebhook(t, beforeHeal).Sub(healAt)
	record(resultRow{Scenario: "10 netns: +200 ms on Postgres for 60 s", Reports: len(ids), Lost: st.lost(), Duplicates: st.Duplicates, Recovery: recovery,
		Note: fmt.Sprintf("%d succeeded; before %s; during %s; after %s", n.countStatus(t, ids, "succeeded"), before, during, after)})
}

// phaseStats are the reports created in a time window: how many, how fast
// they completed, and how many completed in the window per second.
type phaseStats struct {
	created       int
	medianSeconds float64
	perSecond     float64
}

func (p phaseStats) String() string {
	return fmt.Sprintf("%d created, median %.2fs to succeed, %.1f/s completed", p.created, p.medianSeconds, p.perSecond)
}

func (s *stack) phase(t *testing.T, ids []string, from, to time.Time) phaseStats {
	t.Helper()
	var p phaseStats
	var completed int
	err := s.pool.QueryRow(context.Background(), `
		SELECT count(*) FILTER (WHERE created_at >= $2 AND created_at < $3),
		       coalesce(percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM completed_at - created_at))
		                FILTER (WHERE created_at >= $2 AND created_at < $3), 0),
		       count(*) FILTER (WHERE completed_at >= $2 AND completed_at < $3)
		FROM reports WHERE id = ANY($1)`, ids, from, to).Scan(&p.created, &p.medianSeconds, &completed)
	if err != nil {
		t.Errorf("phase statistics: %v", err)
	}
	p.perSecond = float64(completed) / to.Sub(from).Seconds()
	return p
}
