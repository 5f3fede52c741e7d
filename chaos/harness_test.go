package chaos

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/reportd/reportd/internal/postgres"
	"github.com/reportd/reportd/internal/readmodel"
	"github.com/reportd/reportd/internal/seed"
	"github.com/reportd/reportd/internal/testenv"
)

var fullFlag = flag.Bool("chaos.full", false, "run every scenario at full size (also CHAOS_FULL=1)")

// shortParallel is how many scenarios the short form runs at once. Each
// has its own stack, database, Redis DB and private services, and spends
// most of its time waiting (asynq's ~60 s recovery of a killed worker's
// tasks, a 30 s S3 outage, failovers): the eleven short scenarios took
// 3.5 min one after another and use under a minute of CPU together. Six at
// a time take the package to about 1.5 min; all at once saved only another
// 20 s. The two Redis data-loss scenarios stay serial (they run first): their
// 15 s recovery bound is a CPU-bound drain that contention pushes past it.
// The full form (make chaos) stays one at a time, so the recovery times it
// writes to docs/chaos.md are measured undisturbed.
const shortParallel = 6

// suite is what TestMain prepares once for every scenario: the binaries and
// the results table printed at the end.
type suite struct {
	apiBin, workerBin string
	mu                sync.Mutex
	rows              []resultRow
}

type resultRow struct {
	Scenario   string
	Reports    int
	Lost       int
	Duplicates int
	Recovery   time.Duration
	Note       string
}

// the is the suite of this test binary; TestMain owns it.
var the suite

func full() bool { return *fullFlag || os.Getenv("CHAOS_FULL") == "1" }

// size picks the short or the full count.
func size(short, long int) int {
	if full() {
		return long
	}
	return short
}

func TestMain(m *testing.M) {
	flag.Parse()
	setParallel()
	dir, err := os.MkdirTemp("", "reportd-chaos-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "chaos:", err)
		os.Exit(1)
	}
	code := 1
	if err := build(dir); err != nil {
		fmt.Fprintln(os.Stderr, "chaos:", err)
	} else if svc, err := startSuiteServices(); err != nil {
		fmt.Fprintln(os.Stderr, "chaos:", err)
	} else {
		the.apiBin, the.workerBin = filepath.Join(dir, "api"), filepath.Join(dir, "worker")
		code = m.Run()
		printTable(os.Stdout)
		svc.stop()
	}
	_ = os.RemoveAll(dir)
	os.Exit(code)
}

// setParallel sets -test.parallel for the scenarios that call t.Parallel:
// shortParallel in the short form, 1 in the full form, unless the command
// line sets -parallel itself.
func setParallel() {
	explicit := false
	flag.Visit(func(f *flag.Flag) { explicit = explicit || f.Name == "test.parallel" })
	if explicit {
		return
	}
	n := shortParallel
	if full() {
		n = 1
	}
	if err := flag.Set("test.parallel", strconv.Itoa(n)); err != nil {
		fmt.Fprintln(os.Stderr, "chaos: set -test.parallel:", err)
	}
}

// build compiles the real binaries once per run, as a deployment would.
func build(dir string) error {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return fmt.Errorf("find module root: %w", err)
	}
	root := filepath.Dir(strings.TrimSpace(string(out)))
	cmd := exec.Command("go", "build", "-o", dir+string(os.PathSeparator), "./cmd/api", "./cmd/worker")
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build ./cmd/api ./cmd/worker: %w\n%s", err, out)
	}
	return nil
}

func record(r resultRow) {
	the.mu.Lock()
	defer the.mu.Unlock()
	the.rows = append(the.rows, r)
}

func printTable(w io.Writer) {
	the.mu.Lock()
	defer the.mu.Unlock()
	if len(the.rows) == 0 {
		return
	}
	mode := "short"
	if full() {
		mode = "full"
	}
	// Scenarios run in parallel and finish in any order; their names
	// start with their number in docs/chaos.md.
	sort.SliceStable(the.rows, func(i, j int) bool { return scenarioLess(the.rows[i].Scenario, the.rows[j].Scenario) })
	fmt.Fprintf(w, "\nchaos results (%s form)\n", mode)
	fmt.Fprintf(w, "| %-44s | %7s | %4s | %18s | %13s | %s\n", "scenario", "reports", "lost", "duplicate webhooks", "recovery time", "note")
	fmt.Fprintf(w, "|%s|%s|%s|%s|%s|\n", strings.Repeat("-", 46), strings.Repeat("-", 9), strings.Repeat("-", 6), strings.Repeat("-", 20), strings.Repeat("-", 15))
	for _, r := range the.rows {
		rec := "-"
		if r.Recovery > 0 {
			rec = r.Recovery.Round(100 * time.Millisecond).String()
		}
		fmt.Fprintf(w, "| %-44s | %7d | %4d | %18d | %13s | %s\n", r.Scenario, r.Reports, r.Lost, r.Duplicates, rec, r.Note)
	}
}

// scenarioLess orders scenario names by their leading number ("2", "10",
// "8b" as 8), then by name.
func scenarioLess(a, b string) bool {
	na, nb := leadingNumber(a), leadingNumber(b)
	if na != nb {
		return na < nb
	}
	return a < b
}

func leadingNumber(s string) int {
	end := 0
	for end < len(s) && s[end] >= '0' && s[end] <= '9' {
		end++
	}
	n, _ := strconv.Atoi(s[:end])
	return n
}

// freeAddr returns a loopback address nobody listens on right now.
func freeAddr(tb testing.TB) string {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// proc is one real binary running as a child process.
type proc struct {
	name, bin string
	args      []string
	env       []string // nil: this process's environment
	logPath   string

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{}
}

func startProc(tb testing.TB, name, bin string, env []string, logDir string) *proc {
	tb.Helper()
	p := &proc{name: name, bin: bin, env: env, logPath: filepath.Join(logDir, name+".log")}
	p.start(tb)
	tb.Cleanup(func() { p.stop(tb) })
	return p
}

func (p *proc) start(tb testing.TB) {
	tb.Helper()
	logf, err := os.OpenFile(p.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		tb.Fatal(err)
	}
	cmd := exec.Command(p.bin, p.args...)
	cmd.Env = p.env
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		logf.Close()
		tb.Fatalf("start %s: %v", p.name, err)
	}
	done := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		logf.Close()
		close(done)
	}()
	p.mu.Lock()
	p.cmd, p.done = cmd, done
	p.mu.Unlock()
}

func (p *proc) signal(tb testing.TB, sig syscall.Signal, wait time.Duration) {
	tb.Helper()
	p.mu.Lock()
	cmd, done := p.cmd, p.done
	p.mu.Unlock()
	if cmd == nil {
		return
	}
	select {
	case <-done:
		return
	default:
	}
	_ = cmd.Process.Signal(sig)
	select {
	case <-done:
	case <-time.After(wait):
		_ = cmd.Process.Kill()
		<-done
		tb.Errorf("%s did not exit within %s of %s; killed", p.name, wait, sig)
	}
}

// sendSignal sends sig and returns at once (SIGSTOP, SIGCONT).
func (p *proc) sendSignal(tb testing.TB, sig syscall.Signal) {
	tb.Helper()
	p.mu.Lock()
	cmd := p.cmd
	p.mu.Unlock()
	if err := cmd.Process.Signal(sig); err != nil {
		tb.Errorf("send %s to %s: %v", sig, p.name, err)
	}
}

// kill ends the process at once, as a crash or an OOM kill would.
func (p *proc) kill(tb testing.TB) {
	tb.Helper()
	p.signal(tb, syscall.SIGKILL, 10*time.Second)
}

// stop asks for a graceful shutdown.
func (p *proc) stop(tb testing.TB) {
	tb.Helper()
	p.signal(tb, syscall.SIGTERM, 30*time.Second)
}

// exited tells whether the process has ended.
func (p *proc) exited() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

func (p *proc) logs() string {
	b, _ := os.ReadFile(p.logPath)
	return string(b)
}

// tail returns the last n lines of the log, for failure messages.
func (p *proc) tail(n int) string {
	lines := strings.Split(strings.TrimRight(p.logs(), "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

// stackOptions shape one reportd installation.
type stackOptions struct {
	Vars      map[string]string // overrides of testenv's variables
	Customers int               // seeded customers (orders per customer: Orders)
	Orders    int
	NoWorker  bool
}

// stack is the api and the worker as processes, with their client, a webhook
// receiver and a pool on their database for checks.
type stack struct {
	env     *testenv.Env
	api     *proc
	worker  *proc
	apiURL  string
	client  testenv.Client
	recv    *receiver
	pool    *pgxpool.Pool
	summary seed.Summary
	logDir  string
}

func newStack(t *testing.T, opt stackOptions) *stack {
	t.Helper()
	vars := map[string]string{
		"WEBHOOK_RETRY_SCHEDULE": "1s,1s,2s,2s,2s",
		"WEBHOOK_TIMEOUT":        "3s",
		"SWEEP_INTERVAL":         "1s",
		"REPORT_MAX_ATTEMPTS":    "25",
		"MAX_IN_FLIGHT":          "100000",
		"WORKER_CONCURRENCY":     "10",
		"SHUTDOWN_TIMEOUT":       "10s",
		"LOG_LEVEL":              "info",
	}
	maps.Copy(vars, opt.Vars)
	env := testenv.New(t, vars)
	s := &stack{env: env, logDir: logDir(t)}
	ctx := context.Background()
	pool, err := postgres.Connect(ctx, env.Cfg.DatabaseURL)
	if err != nil {
		t.Fatalf("connect to %s: %v", env.Cfg.DatabaseURL, err)
	}
	t.Cleanup(pool.Close)
	s.pool = pool
	// A private database may be empty; migrating twice is a no-op.
	if err := postgres.Migrate(ctx, pool, discardLogger()); err != nil {
		t.Fatal(err)
	}
	s.recv = newReceiver(t)
	s.client = env.CreateClient(t, "Chaos Ltd", s.recv.url())
	s.recv.setSecret(s.client.Secret)

	env.Vars["API_ADDR"] = freeAddr(t)
	s.apiURL = "http://" + env.Vars["API_ADDR"]
	s.api = startProc(t, "api", the.apiBin, env.Environ(), s.logDir)
	waitHTTP(t, s.api, s.apiURL+"/healthz", 60*time.Second)
	if !opt.NoWorker {
		s.startWorker(t)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("api log tail:\n%s", s.api.tail(40))
			if s.worker != nil {
				t.Logf("worker log tail:\n%s", s.worker.tail(40))
			}
			t.Logf("full logs in %s", s.logDir)
		}
	})
	if opt.Customers > 0 {
		s.seed(t, opt.Customers, opt.Orders)
	}
	return s
}

// logDir keeps process logs past the test when CHAOS_LOG_DIR is set.
func logDir(t *testing.T) string {
	t.Helper()
	base := os.Getenv("CHAOS_LOG_DIR")
	if base == "" {
		return t.TempDir()
	}
	dir := filepath.Join(base, strings.ReplaceAll(t.Name(), "/", "_"))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

func (s *stack) startWorker(t *testing.T) {
	t.Helper()
	s.env.Vars["WORKER_METRICS_ADDR"] = freeAddr(t)
	if s.worker == nil {
		s.worker = startProc(t, "worker", the.workerBin, s.env.Environ(), s.logDir)
	} else {
		s.worker.env = s.env.Environ()
		s.worker.start(t)
	}
	waitHTTP(t, s.worker, "http://"+s.env.Vars["WORKER_METRICS_ADDR"]+"/healthz", 60*time.Second)
}

func waitHTTP(tb testing.TB, p *proc, url string, timeout time.Duration) {
	tb.Helper()
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if p.exited() {
			tb.Fatalf("%s exited at start-up:\n%s", p.name, p.tail(30))
		}
		resp, err := http.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	tb.Fatalf("%s did not answer %s within %s:\n%s", p.name, url, timeout, p.tail(30))
}

// seed loads orders through the event path and waits for the projector.
func (s *stack) seed(t *testing.T, customers, orders int) {
	t.Helper()
	ctx := context.Background()
	rm := readmodel.NewStore(s.pool, s.pool, discardLogger())
	sum, err := seed.Run(ctx, rm, s.client.ID, seed.Options{Customers: customers, OrdersPerCustomer: orders, Seed: 11}, io.Discard)
	if err != nil {
		t.Fatalf("seed orders: %v", err)
	}
	s.summary = sum
	s.waitProjected(t, 60*time.Second)
}

func (s *stack) waitProjected(t *testing.T, timeout time.Duration) {
	t.Helper()
	rm := readmodel.NewStore(s.pool, s.pool, discardLogger())
	deadline := time.Now().Add(timeout)
	for {
		st, err := rm.Status(context.Background())
		caught := err == nil
		for _, p := range st {
			// LagEvents counts each partition's own unread events: a
			// partition with none can still be behind the head until its
			// next pass, and a report's data position is the lowest
			// partition's, so the head must be reached too.
			if p.LagEvents > 0 || p.HeldEvents > 0 || p.Position < p.Head {
				caught = false
			}
		}
		if caught {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("projections did not catch up within %s: %+v %v", timeout, st, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

var httpClient = &http.Client{
	// A request that takes this long counts as a hang.
	Timeout:       15 * time.Second,
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	Transport:     &http.Transport{MaxIdleConnsPerHost: 64},
}

// call sends one authenticated request and returns the status, headers and body.
func (s *stack) call(method, path, body string, headers ...string) (int, http.Header, []byte, error) {
	req, err := http.NewRequest(method, s.apiURL+path, strings.NewReader(body))
	if err != nil {
		return 0, nil, nil, err
	}
	req.Header.Set("Authorization", "Bearer "+s.client.APIKey)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := httpClient.Do(req)
	if err != nil {
		return 0, nil, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, b, err
}

func (s *stack) reportBody(i int) string {
	customer := "cus_1"
	if n := len(s.summary.Customers); n > 0 {
		customer = s.summary.Customers[i%n]
	}
	return fmt.Sprintf(`{"type":"order_history","format":"pdf","params":{"customer_id":%q,"from":"2026-01-01","to":"2026-03-31"},"metadata":{"n":"%d"}}`, customer, i)
}

// intake counts what the API answered to report submissions.
type intake struct {
	mu          sync.Mutex
	accepted    []string
	statuses    map[int]int
	noRetry503  int // 503s without Retry-After
	hangs       int // requests that timed out
	netErrs     int // connection refused and the like
	samples500  []string
	rejectedAt  []time.Time
	acceptedErr []string
}

func newIntake() *intake {
	return &intake{statuses: map[int]int{}}
}

func (in *intake) ids() []string {
	in.mu.Lock()
	defer in.mu.Unlock()
	return append([]string(nil), in.accepted...)
}

func (in *intake) summary() string {
	in.mu.Lock()
	defer in.mu.Unlock()
	codes := make([]int, 0, len(in.statuses))
	for c := range in.statuses {
		codes = append(codes, c)
	}
	sort.Ints(codes)
	var parts []string
	for _, c := range codes {
		parts = append(parts, fmt.Sprintf("%d×%d", in.statuses[c], c))
	}
	if in.hangs > 0 {
		parts = append(parts, fmt.Sprintf("%d hangs", in.hangs))
	}
	if in.netErrs > 0 {
		parts = append(parts, fmt.Sprintf("%d connection errors", in.netErrs))
	}
	return strings.Join(parts, ", ")
}

// submit posts one report and records the answer.
func (s *stack) submit(in *intake, i int) {
	status, h, body, err := s.call(http.MethodPost, "/v1/reports", s.reportBody(i))
	in.mu.Lock()
	defer in.mu.Unlock()
	if err != nil {
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			in.hangs++
		} else {
			in.netErrs++
		}
		return
	}
	in.statuses[status]++
	switch {
	case status == http.StatusAccepted:
		var v struct {
			ID string `json:"id"`
		}
		if err := json.Unmarshal(body, &v); err != nil || v.ID == "" {
			in.acceptedErr = append(in.acceptedErr, string(body))
			return
		}
		in.accepted = append(in.accepted, v.ID)
	case status == http.StatusServiceUnavailable:
		if h.Get("Retry-After") == "" {
			in.noRetry503++
		}
		in.rejectedAt = append(in.rejectedAt, time.Now())
	case status >= 500:
		in.samples500 = append(in.samples500, fmt.Sprintf("%d %s", status, body))
	}
}

// submitMany posts n reports from conc goroutines.
func (s *stack) submitMany(in *intake, from, n, conc int) {
	var wg sync.WaitGroup
	next := make(chan int)
	for range conc {
		wg.Go(func() {
			for i := range next {
				s.submit(in, i)
			}
		})
	}
	for i := from; i < from+n; i++ {
		next <- i
	}
	close(next)
	wg.Wait()
}

// settlement is the state of a set of reports and their webhooks.
type settlement struct {
	Statuses   map[string]int
	Unfinished []string // not in a final state
	NoWebhook  []string // final, but the receiver has no delivery for it
	MultiIDs   []string // more than one distinct webhook-id for one report
	Duplicates int      // deliveries beyond the first per webhook-id
	Failed     map[string]string
	BadSig     int
}

func (st settlement) lost() int { return len(st.Unfinished) + len(st.NoWebhook) }

func (st settlement) String() string {
	return fmt.Sprintf("statuses %v, unfinished %d, without webhook %d, several webhook-ids %d, duplicates %d, bad signatures %d",
		st.Statuses, len(st.Unfinished), len(st.NoWebhook), len(st.MultiIDs), st.Duplicates, st.BadSig)
}

func (s *stack) settle(ctx context.Context, ids []string) (settlement, error) {
	st := settlement{Statuses: map[string]int{}, Failed: map[string]string{}}
	rows, err := s.pool.Query(ctx, `SELECT id, status, coalesce(error_code, '') FROM reports WHERE id = ANY($1)`, ids)
	if err != nil {
		return st, err
	}
	defer rows.Close()
	seen := map[string]string{}
	for rows.Next() {
		var id, status, code string
		if err := rows.Scan(&id, &status, &code); err != nil {
			return st, err
		}
		seen[id] = status
		if status == "failed" {
			st.Failed[id] = code
		}
	}
	if err := rows.Err(); err != nil {
		return st, err
	}
	hooks := s.recv.snapshot()
	for _, id := range ids {
		status, ok := seen[id]
		if !ok {
			status = "missing"
		}
		st.Statuses[status]++
		switch status {
		case "succeeded", "failed", "canceled", "expired":
		default:
			st.Unfinished = append(st.Unfinished, id)
			continue
		}
		h := hooks.byReport[id]
		switch {
		case len(h) == 0:
			st.NoWebhook = append(st.NoWebhook, id)
		case len(h) > 1:
			st.MultiIDs = append(st.MultiIDs, id)
		}
	}
	st.Duplicates = hooks.duplicates
	st.BadSig = hooks.badSignatures
	return st, nil
}

// waitSettled waits until every report is final and its webhook arrived.
func (s *stack) waitSettled(t *testing.T, ids []string, timeout time.Duration) settlement {
	t.Helper()
	ctx := context.Background()
	deadline := time.Now().Add(timeout)
	var st settlement
	var err error
	for {
		st, err = s.settle(ctx, ids)
		if err == nil && st.lost() == 0 {
			// Give duplicates a moment to show up before counting them.
			time.Sleep(500 * time.Millisecond)
			st, err = s.settle(ctx, ids)
			if err == nil {
				return st
			}
		}
		if time.Now().After(deadline) {
			t.Errorf("after %s: %s (last error %v); first unfinished %v, first without webhook %v",
				timeout, st, err, first(st.Unfinished, 5), first(st.NoWebhook, 5))
			return st
		}
		time.Sleep(250 * time.Millisecond)
	}
}

func first(ids []string, n int) []string { return ids[:min(n, len(ids))] }

// checkInvariant is the suite's one promise, checked on every scenario.
func checkInvariant(t *testing.T, st settlement) {
	t.Helper()
	if st.lost() != 0 {
		t.Errorf("lost reports: %s", st)
	}
	if len(st.MultiIDs) > 0 {
		t.Errorf("%d reports got webhooks under more than one webhook-id, e.g. %v", len(st.MultiIDs), first(st.MultiIDs, 3))
	}
	if st.BadSig > 0 {
		t.Errorf("%d deliveries failed signature verification", st.BadSig)
	}
	for id, code := range st.Failed {
		t.Errorf("report %s failed (%s); no scenario here has a reason to fail a report", id, code)
		break
	}
}

// checkNo500 looks through the API's log for any request answered 500.
func (s *stack) checkNo500(t *testing.T) {
	t.Helper()
	sc := bufio.NewScanner(strings.NewReader(s.api.logs()))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	var bad []string
	for sc.Scan() {
		line := sc.Bytes()
		if bytes.Contains(line, []byte(`"status":500`)) || bytes.Contains(line, []byte(`"msg":"internal error"`)) ||
			bytes.Contains(line, []byte(`"msg":"handler panicked"`)) {
			bad = append(bad, sc.Text())
		}
	}
	if len(bad) > 0 {
		t.Errorf("the API answered 500 or logged an internal error %d times (product bug); first lines:\n%s",
			len(bad), strings.Join(first(bad, 6), "\n"))
	}
}

func (in *intake) check(t *testing.T) {
	t.Helper()
	in.mu.Lock()
	defer in.mu.Unlock()
	for code, n := range in.statuses {
		if code >= 500 && code != http.StatusServiceUnavailable {
			t.Errorf("%d answers with status %d (product bug), e.g. %v", n, code, first(in.samples500, 3))
		}
	}
	if in.noRetry503 > 0 {
		t.Errorf("%d answers were 503 without Retry-After", in.noRetry503)
	}
	if in.hangs > 0 {
		t.Errorf("%d requests hung past %s", in.hangs, httpClient.Timeout)
	}
	if len(in.acceptedErr) > 0 {
		t.Errorf("%d 202 answers had no report id, e.g. %s", len(in.acceptedErr), in.acceptedErr[0])
	}
}
