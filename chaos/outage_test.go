package chaos

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// The outages below break a private Redis or S3 gateway, on ports of their
// own, so they never disturb the shared dev services or other tests. Each
// runs in the short form too (go test ./chaos/), shorter.

// waitTCP waits until addr accepts connections.
func waitTCP(t *testing.T, what, addr string, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s on %s did not come up within %s: %v", what, addr, timeout, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// privateRedis is a redis-server child process with no persistence, so a
// restart loses every queued task: the worst case for the dual write.
type privateRedis struct {
	addr string
	p    *proc
}

func startRedis(t *testing.T) *privateRedis {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		t.Fatal("redis-server is not installed: run scripts/dev-services.sh up (it installs it)")
	}
	addr := freeAddr(t)
	_, port, _ := net.SplitHostPort(addr)
	dir := t.TempDir()
	r := &privateRedis{addr: addr}
	r.p = &proc{name: "redis", bin: bin, logPath: filepath.Join(dir, "redis.log"),
		args: []string{"--port", port, "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", dir,
			"--maxmemory-policy", "noeviction"}}
	r.p.start(t)
	t.Cleanup(func() { r.p.kill(t) })
	waitTCP(t, "private redis", addr, 20*time.Second)
	return r
}

func (r *privateRedis) url() string { return "redis://" + r.addr + "/0" }

func (r *privateRedis) cli(t *testing.T, args ...string) {
	t.Helper()
	_, port, _ := net.SplitHostPort(r.addr)
	if out, err := exec.Command("redis-cli", append([]string{"-p", port}, args...)...).CombinedOutput(); err != nil && !r.p.exited() {
		t.Fatalf("redis-cli %s: %v %s", strings.Join(args, " "), err, out)
	}
}

// waitBacklog waits (up to 10 s) until at least n report tasks wait in
// the queue, so a fault then loses real work.
func (r *privateRedis) waitBacklog(t *testing.T, n int) {
	t.Helper()
	_, port, _ := net.SplitHostPort(r.addr)
	deadline := time.Now().Add(10 * time.Second)
	for {
		out, err := exec.Command("redis-cli", "-p", port, "llen", "asynq:{reports}:pending").Output()
		got, _ := strconv.Atoi(strings.TrimSpace(string(out)))
		if err == nil && got >= n {
			t.Logf("%d report tasks queued at the fault", got)
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("only %d report tasks queued after the burst (%v); the fault would lose nothing", got, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// privateS3 is a Versity S3 gateway child process on its own port and directory.
type privateS3 struct {
	addr string
	p    *proc
}

func startS3(t *testing.T, accessKey, secretKey string) *privateS3 {
	t.Helper()
	bin, err := exec.LookPath("versitygw")
	if err != nil {
		gopath, _ := exec.Command("go", "env", "GOPATH").Output()
		bin = filepath.Join(strings.TrimSpace(string(gopath)), "bin", "versitygw")
		if _, err := os.Stat(bin); err != nil {
			t.Fatal("versitygw is not installed: run scripts/dev-services.sh up (it installs it)")
		}
	}
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	if err := os.MkdirAll(data, 0o755); err != nil {
		t.Fatal(err)
	}
	s := &privateS3{addr: freeAddr(t)}
	s.p = &proc{name: "versitygw", bin: bin, logPath: filepath.Join(dir, "versitygw.log"),
		args: []string{"--port", s.addr, "--quiet", "posix", data},
		env:  append(os.Environ(), "ROOT_ACCESS_KEY="+accessKey, "ROOT_SECRET_KEY="+secretKey)}
	s.p.start(t)
	t.Cleanup(func() { s.p.stop(t) })
	waitTCP(t, "private versitygw", s.addr, 30*time.Second)
	return s
}

func (s *privateS3) url() string { return "http://" + s.addr }

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
	// maxRecovery, if set, bounds the time from the fault's end to the
	// last webhook.
	maxRecovery time.Duration
	// buildOnce: every report's attempts must be 1, whatever the outage.
	buildOnce bool
	// workerLogs must appear in the worker's log (proof of the path taken).
	workerLogs []string
	// burst reports are posted at once just before the fault, so the queue
	// holds a backlog when it strikes; ready, if set, waits for it.
	burst int
	ready func(t *testing.T)
}

func runOutage(t *testing.T, s *stack, o outage) {
	t.Helper()
	in := newIntake()
	stop := make(chan struct{})
	var submitted int
	var wg sync.WaitGroup
	wg.Go(func() { submitted = s.submitUntil(in, stop, 0, o.rate) })

	time.Sleep(o.before)
	if o.burst > 0 {
		s.submitMany(in, 1_000_000, o.burst, 16)
	}
	if o.ready != nil {
		o.ready(t)
	}
	o.breakIt(t)
	downAt := time.Now()
	time.Sleep(o.down)
	o.fixIt(t)
	backAt := time.Now()
	time.Sleep(o.after)
	close(stop)
	wg.Wait()
	submitted += o.burst

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
	// The recovery is the time from the fault's end to the last webhook.
	recovery := s.recv.snapshot().lastAt.Sub(backAt)
	t.Logf("%s: last webhook %.1f s after the dependency answered again; %s", o.name, recovery.Seconds(), st)
	checkInvariant(t, st)
	if o.maxRecovery > 0 && recovery > o.maxRecovery {
		t.Errorf("the last webhook came %s after the dependency answered again, want within %s", recovery.Round(100*time.Millisecond), o.maxRecovery)
	}
	note := fmt.Sprintf("%d accepted, %d succeeded, %d submitted: %s", len(ids), st.Statuses["succeeded"], submitted, in.summary())
	if o.buildOnce {
		rebuilt := s.countWhere(t, ids, "attempts <> 1")
		if rebuilt > 0 {
			t.Errorf("%d reports have attempts other than 1; an outage must not count as an attempt", rebuilt)
		}
		note += fmt.Sprintf("; attempts ≠ 1: %d", rebuilt)
	}
	for _, want := range o.workerLogs {
		if !strings.Contains(s.worker.logs(), want) {
			t.Errorf("the worker never logged %q", want)
		}
	}
	s.checkNo500(t)
	record(resultRow{Scenario: o.name, Reports: len(ids), Lost: st.lost(), Duplicates: st.Duplicates, Recovery: recovery, Note: note})
}

// countWhere counts the reports among ids whose row matches cond.
func (s *stack) countWhere(t *testing.T, ids []string, cond string) int {
	t.Helper()
	var n int
	if err := s.pool.QueryRow(context.Background(), `SELECT count(*) FROM reports WHERE id = ANY($1) AND `+cond, ids).Scan(&n); err != nil {
		t.Errorf("count reports where %s: %v", cond, err)
	}
	return n
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

// TestRedisRestart shuts Redis down without saving (every queued task is
// gone) and starts it again, empty: the API answers 503 meanwhile, and once
// Redis answers the worker notices it lost its data and queues all
// unfinished work at once, so everything completes within seconds.
func TestRedisRestart(t *testing.T) {
	// Not parallel: maxRecovery bounds a backlog drained by a worker of
	// concurrency 2, which CPU contention from other scenarios slows down.
	r := startRedis(t)
	s := newStack(t, stackOptions{Customers: 20, Orders: 10, Vars: map[string]string{
		"REDIS_URL": r.url(),
		// The sweeper alone would take 2 × 30 s: recovery must not rely on it.
		"SWEEP_INTERVAL": "30s",
		// A slow worker, so a backlog is queued when Redis loses it: without
		// the epoch this scenario took 89 s (measured), with it a few.
		"WORKER_CONCURRENCY": "2",
	}})
	runOutage(t, s, outage{
		name: "2 Redis restart (shutdown nosave) mid-run", rate: 10,
		before: 3 * time.Second, down: 5 * time.Second, after: 3 * time.Second, want503: true,
		settleIn: 2 * time.Minute, maxRecovery: 15 * time.Second, workerLogs: []string{"Redis lost its data"}, burst: 40,
		ready: func(t *testing.T) { t.Helper(); r.waitBacklog(t, 10) },
		breakIt: func(t *testing.T) {
			t.Helper()
			r.cli(t, "shutdown", "nosave")
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

// TestRedisFlushed empties Redis while it stays up (FLUSHALL, as a failover
// to an empty replica would look to a client that never lost its
// connection): only the epoch tells the worker that every task is gone.
func TestRedisFlushed(t *testing.T) {
	// Not parallel: maxRecovery bounds a backlog drained by a worker of
	// concurrency 2, which CPU contention from other scenarios slows down.
	r := startRedis(t)
	s := newStack(t, stackOptions{Customers: 20, Orders: 10, Vars: map[string]string{
		"REDIS_URL": r.url(), "SWEEP_INTERVAL": "30s", "WORKER_CONCURRENCY": "2", // see TestRedisRestart
	}})
	runOutage(t, s, outage{
		name: "2b Redis emptied (FLUSHALL) mid-run", rate: 10,
		before: 3 * time.Second, after: 3 * time.Second,
		settleIn: 2 * time.Minute, maxRecovery: 15 * time.Second, workerLogs: []string{"Redis lost its data"}, burst: 40,
		ready:   func(t *testing.T) { t.Helper(); r.waitBacklog(t, 10) },
		breakIt: func(t *testing.T) { t.Helper(); r.cli(t, "flushall") },
		fixIt:   func(*testing.T) {},
	})
}

// TestS3Outage stops the S3 gateway for minutes (seconds in the short
// form): uploads fail, reports wait and retry at most 30 s apart without
// using up their attempts, and all complete once it is back.
func TestS3Outage(t *testing.T) {
	t.Parallel()
	const key, secret = "chaos", "chaos-secret-key"
	s3 := startS3(t, key, secret)
	s := newStack(t, stackOptions{Customers: 20, Orders: 10, Vars: map[string]string{
		"S3_ENDPOINT": s3.url(), "AWS_ACCESS_KEY_ID": key, "AWS_SECRET_ACCESS_KEY": secret,
		// The default budget: the outage must not use it.
		"REPORT_MAX_ATTEMPTS": "8",
	}})
	down := time.Duration(size(30, 240)) * time.Second
	runOutage(t, s, outage{
		name: fmt.Sprintf("4 S3 gateway stopped for %s", down), rate: size(4, 2),
		before: 3 * time.Second, down: down, after: 3 * time.Second, settleIn: 3 * time.Minute, buildOnce: true,
		workerLogs: []string{"a dependency is unavailable; the report waits"},
		breakIt:    func(t *testing.T) { t.Helper(); s3.p.stop(t) },
		fixIt: func(t *testing.T) {
			t.Helper()
			s3.p.start(t)
			waitTCP(t, "private versitygw", s3.addr, 30*time.Second)
		},
	})
}

// TestS3OutageOutlastsOutageMax keeps S3 down longer than a short
// DEPENDENCY_OUTAGE_MAX: the reports that waited that long fail (once,
// with one webhook each) instead of waiting for ever.
func TestS3OutageOutlastsOutageMax(t *testing.T) {
	t.Parallel()
	const key, secret = "chaos", "chaos-secret-key"
	s3 := startS3(t, key, secret)
	s := newStack(t, stackOptions{Customers: 5, Orders: 5, Vars: map[string]string{
		"S3_ENDPOINT": s3.url(), "AWS_ACCESS_KEY_ID": key, "AWS_SECRET_ACCESS_KEY": secret,
		"DEPENDENCY_OUTAGE_MAX": "5s",
	}})
	s3.p.stop(t)
	in := newIntake()
	n := 10
	s.submitMany(in, 0, n, 4)
	in.check(t)
	ids := in.ids()
	if len(ids) != n {
		t.Fatalf("accepted %d of %d reports with S3 down: %s", len(ids), n, in.summary())
	}
	st := s.waitSettled(t, ids, time.Minute)
	if st.lost() != 0 || len(st.MultiIDs) > 0 || st.Duplicates > 0 {
		t.Errorf("with S3 down past DEPENDENCY_OUTAGE_MAX: %s", st)
	}
	if len(st.Failed) != n {
		t.Errorf("%d of %d reports failed; all should have, S3 never came back: %s", len(st.Failed), n, st)
	}
	for id, code := range st.Failed {
		if code != "internal_error" {
			t.Errorf("report %s failed with %s, want internal_error", id, code)
		}
	}
	if rebuilt := s.countWhere(t, ids, "attempts > 1"); rebuilt > 0 {
		t.Errorf("%d reports count more than one attempt for an outage", rebuilt)
	}
	s.checkNo500(t)
	record(resultRow{Scenario: "4b S3 down past DEPENDENCY_OUTAGE_MAX=5s", Reports: n, Lost: st.lost(), Duplicates: st.Duplicates,
		Note: fmt.Sprintf("%d failed internal_error, each with one webhook", len(st.Failed))})
}
