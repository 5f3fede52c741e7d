package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gorilla/mux"
	"github.com/jackc/pgx/v5"

	"github.com/reportd/reportd/internal/readmodel"
	"github.com/reportd/reportd/internal/report"
	"github.com/reportd/reportd/internal/seed"
	"github.com/reportd/reportd/internal/webhook"
)

// intakeResult holds reportd's intake as shipped, the bare ceiling, and
// Postgres's own one-row INSERT rate.
type intakeResult struct {
	Reportd, Bare loadResult
	// InsertCeiling is pgbench's rate for the same one-row INSERT into an
	// indexed table from as many connections, with nothing else running:
	// what Postgres alone can commit durably on this machine.
	InsertCeiling float64
	InsertRaw     string
}

func reportBody(customer string) string {
	return fmt.Sprintf(`{"type":"order_history","format":"pdf","params":{"customer_id":%q,"from":"2026-01-01","to":"2026-03-31"}}`, customer)
}

func postReport(ctx context.Context, url, key, body string) (*http.Request, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url+"/v1/reports", strings.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+key)
	req.Header.Set("Content-Type", "application/json")
	return req, nil
}

// benchIntake runs POST /v1/reports with no worker (the queue only grows)
// and then the same load against a bare gorilla/mux handler.
func benchIntake(ctx context.Context, c config) (intakeResult, error) {
	var r intakeResult
	load := func(url, key string, d time.Duration) loadResult {
		return closedLoop(ctx, c.intakeConns, d, func(i int) (*http.Request, error) {
			return postReport(ctx, url, key, reportBody("cus_"+strconv.Itoa(1+i%50)))
		})
	}
	router := mux.NewRouter()
	router.HandleFunc("/v1/reports", func(w http.ResponseWriter, req *http.Request) {
		_, _ = io.Copy(io.Discard, req.Body)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusAccepted)
		_, _ = w.Write([]byte(`{"id":"rep_bare","status":"queued"}` + "\n"))
	}).Methods(http.MethodPost)
	bare := httptest.NewServer(router)
	defer bare.Close()

	start := func(params string) (*install, error) {
		in, err := newInstall(ctx, "intake", "http://127.0.0.1:9/hooks", c.logDir, params, nil)
		if err != nil {
			return nil, err
		}
		if err := in.startAPI(ctx, c.apiBin); err != nil {
			in.close()
			return nil, err
		}
		load(in.apiURL, in.client.APIKey, 2*time.Second) // warm-up: connections, pools, caches
		return in, nil
	}
	in, err := start(c.dbParams)
	if err != nil {
		return r, err
	}
	defer in.close()
	load(bare.URL, "x", 2*time.Second)
	// The two alternate, so that a change in what else the shared machine
	// is doing weighs on both alike instead of on whichever ran then.
	round := c.intakeDur / time.Duration(c.intakeRounds)
	for range c.intakeRounds {
		r.Reportd = r.Reportd.merge(load(in.apiURL, in.client.APIKey, round))
		r.Bare = r.Bare.merge(load(bare.URL, "x", round))
	}
	in.close()
	r.InsertCeiling, r.InsertRaw, err = insertCeiling(ctx, c)
	return r, err
}

var pgbenchTPS = regexp.MustCompile(`tps = ([\d.]+)`)

// insertCeiling runs pgbench with the intake's INSERT (a reports-like row,
// its indexes, a synchronous commit) on a scratch database.
func insertCeiling(ctx context.Context, c config) (float64, string, error) {
	admin, err := pgx.Connect(ctx, adminURL)
	if err != nil {
		return 0, "", fmt.Errorf("insert ceiling: %w", err)
	}
	defer admin.Close(context.WithoutCancel(ctx))
	db := "bench_insert_" + randomHex(4)
	if _, err := admin.Exec(ctx, "CREATE DATABASE "+db); err != nil {
		return 0, "", fmt.Errorf("insert ceiling: %w", err)
	}
	defer func() { _, _ = admin.Exec(context.WithoutCancel(ctx), "DROP DATABASE IF EXISTS "+db+" WITH (FORCE)") }()
	conn, err := pgx.Connect(ctx, "postgres://postgres@127.0.0.1:5432/"+db+"?sslmode=disable")
	if err != nil {
		return 0, "", fmt.Errorf("insert ceiling: %w", err)
	}
	_, err = conn.Exec(ctx, `CREATE TABLE reports (id text PRIMARY KEY, client_id text NOT NULL, type text, format text,
		params jsonb, status text NOT NULL, created_at timestamptz NOT NULL DEFAULT now());
		CREATE INDEX ON reports (client_id, created_at DESC, id DESC);
		CREATE INDEX ON reports (client_id) WHERE status IN ('queued', 'running')`)
	conn.Close(ctx)
	if err != nil {
		return 0, "", fmt.Errorf("insert ceiling: %w", err)
	}
	script := filepath.Join(os.TempDir(), "reportd-bench-insert.sql")
	if err := os.WriteFile(script, []byte(`INSERT INTO reports (id, client_id, type, format, params, status) VALUES
		('rep_' || md5(random()::text), 'cli_bench', 'order_history', 'pdf',
		 '{"customer_id":"cus_1","from":"2026-01-01","to":"2026-03-31"}', 'queued');`+"\n"), 0o600); err != nil {
		return 0, "", fmt.Errorf("insert ceiling: %w", err)
	}
	defer os.Remove(script)
	secs := strconv.Itoa(int(c.intakeDur.Seconds()))
	pgbench := exec.CommandContext(ctx, "pgbench", "-h", "127.0.0.1", "-U", "postgres", "-n", //nolint:gosec // a fixed program; every argument is ours
		"-c", strconv.Itoa(c.intakeConns), "-j", "2", "-T", secs, "-f", script, db)
	out, err := pgbench.CombinedOutput()
	if err != nil {
		return 0, string(out), fmt.Errorf("pgbench: %w\n%s", err, out)
	}
	m := pgbenchTPS.FindStringSubmatch(string(out))
	if m == nil {
		return 0, string(out), fmt.Errorf("pgbench printed no tps:\n%s", out)
	}
	tps, _ := strconv.ParseFloat(m[1], 64)
	return tps, string(out), nil
}

type e2eResult struct {
	Reports                    int
	Elapsed                    time.Duration
	PerSecond                  float64
	P50, P95, P99              time.Duration
	HalfRate                   float64
	HalfReports                int
	HalfP50, HalfP95, HalfP99  time.Duration
	RenderPerSecond            float64
	RenderCount                int
	WorkerConcurrency, Orders  int
	SubmitErrors, HalfRejected int
}

// benchEndToEnd measures submit-to-webhook at full speed and at half of
// that rate, and the render-only ceiling.
func benchEndToEnd(ctx context.Context, c config, log func(string, ...any)) (e2eResult, error) {
	r := e2eResult{WorkerConcurrency: c.workerConc, Orders: c.orders}
	hooks := newHookReceiver()
	recv := httptest.NewServer(hooks)
	defer recv.Close()
	in, err := newInstall(ctx, "e2e", recv.URL+"/hooks", c.logDir, c.dbParams, map[string]string{
		"WORKER_CONCURRENCY": strconv.Itoa(c.workerConc),
	})
	if err != nil {
		return r, err
	}
	defer in.close()

	rm := readmodel.NewStore(in.pool, in.pool, slog.New(slog.DiscardHandler))
	sum, err := seed.Run(ctx, rm, in.client.ID, seed.Options{Customers: c.customers, OrdersPerCustomer: c.orders, Seed: 3}, io.Discard)
	if err != nil {
		return r, err
	}
	for {
		n, err := rm.ProjectOnce(ctx)
		if err != nil {
			return r, err
		}
		if n == 0 {
			break
		}
	}

	log("render-only ceiling: %d goroutines", c.workerConc)
	if r.RenderPerSecond, r.RenderCount, err = renderCeiling(ctx, rm, in.client.ID, sum.Customers[0], c); err != nil {
		return r, err
	}
	log("render-only: %.1f reports/s", r.RenderPerSecond)

	if err := in.startAPI(ctx, c.apiBin); err != nil {
		return r, err
	}
	if err := in.startWorker(ctx, c.workerBin); err != nil {
		return r, err
	}

	// Peak: everything submitted at once; throughput is reports over the
	// time from the first submit to the last webhook.
	submitted := map[string]time.Time{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	hc := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 32}}
	submit := func(i int) bool {
		req, err := postReport(ctx, in.apiURL, in.client.APIKey, reportBody(sum.Customers[i%len(sum.Customers)]))
		if err != nil {
			return false
		}
		t0 := time.Now()
		resp, err := hc.Do(req)
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		var v struct {
			ID string `json:"id"`
		}
		if resp.StatusCode != http.StatusAccepted || json.NewDecoder(resp.Body).Decode(&v) != nil {
			return false
		}
		mu.Lock()
		submitted[v.ID] = t0
		mu.Unlock()
		return true
	}
	start := time.Now()
	next := make(chan int)
	for range 32 {
		wg.Go(func() {
			for i := range next {
				if !submit(i) {
					mu.Lock()
					r.SubmitErrors++
					mu.Unlock()
				}
			}
		})
	}
	for i := range c.reports {
		next <- i
	}
	close(next)
	wg.Wait()
	log("peak pass: %d submitted in %s; waiting for webhooks", len(submitted), time.Since(start).Round(time.Millisecond))
	if err := hooks.waitTotal(ctx, len(submitted), 6*time.Minute); err != nil {
		return r, err
	}
	var last time.Time
	lat := make([]time.Duration, 0, len(submitted))
	for id, t0 := range submitted {
		at := hooks.arrival(id)
		lat = append(lat, at.Sub(t0))
		if at.After(last) {
			last = at
		}
	}
	r.Reports = len(submitted)
	r.Elapsed = last.Sub(start)
	r.PerSecond = float64(r.Reports) / r.Elapsed.Seconds()
	r.P50, r.P95, r.P99 = percentile(lat, 50), percentile(lat, 95), percentile(lat, 99)
	log("peak: %.1f reports/s, p50 %s p99 %s", r.PerSecond, r.P50, r.P99)

	// The ceiling again, now that the peak pass is done (the api and worker
	// idle), so that drift in the shared machine's speed weighs on both.
	after, n, err := renderCeiling(ctx, rm, in.client.ID, sum.Customers[0], c)
	if err != nil {
		return r, err
	}
	r.RenderPerSecond = float64(r.RenderCount+n) / (float64(r.RenderCount)/r.RenderPerSecond + float64(n)/after)
	r.RenderCount += n
	log("render-only after the peak pass: %.1f reports/s; both: %.1f (end to end %.1f%% of it)", after, r.RenderPerSecond, 100*r.PerSecond/r.RenderPerSecond)

	// Half of peak, open loop: latency at a sustainable rate.
	r.HalfRate = r.PerSecond / 2
	clear(submitted)
	base := hooks.count()
	tick := time.NewTicker(time.Duration(float64(time.Second) / r.HalfRate))
	end := time.Now().Add(c.halfDur)
	i := c.reports
	for time.Now().Before(end) {
		<-tick.C
		n := i
		i++
		wg.Go(func() {
			if !submit(n) {
				mu.Lock()
				r.HalfRejected++
				mu.Unlock()
			}
		})
	}
	tick.Stop()
	wg.Wait()
	r.HalfReports = len(submitted)
	if err := hooks.waitTotal(ctx, base+r.HalfReports, 3*time.Minute); err != nil {
		return r, err
	}
	lat = lat[:0]
	for id, t0 := range submitted {
		at := hooks.arrival(id)
		lat = append(lat, at.Sub(t0))
	}
	r.HalfP50, r.HalfP95, r.HalfP99 = percentile(lat, 50), percentile(lat, 95), percentile(lat, 99)
	log("half peak (%.1f/s): p50 %s p99 %s", r.HalfRate, r.HalfP50, r.HalfP99)

	return r, nil
}

// renderCeiling renders the same 200-order document that the worker
// renders, from memory, on workerConc goroutines for a few seconds.
func renderCeiling(ctx context.Context, rm *readmodel.Store, clientID, customer string, c config) (float64, int, error) {
	var header report.Header
	var rows []report.OrderRow
	err := rm.OpenDocument(ctx, clientID, report.TypeOrderHistory, report.Params{CustomerID: customer, From: "2026-01-01", To: "2026-03-31"}, 0,
		func(doc report.Document) error {
			header = doc.Header
			for o, err := range doc.Orders {
				if err != nil {
					return err
				}
				rows = append(rows, o)
			}
			return nil
		})
	if err != nil {
		return 0, 0, err
	}
	if len(rows) != c.orders {
		return 0, 0, fmt.Errorf("customer %s has %d orders in the period, want %d", customer, len(rows), c.orders)
	}
	header.ReportID, header.ClientName, header.Title, header.GeneratedAt = "rep_ceiling", "Bench GmbH", "Order history", time.Now().UTC()
	render := func() error {
		doc := report.Document{Type: report.TypeOrderHistory, Header: header, RowCount: len(rows),
			Orders: func(yield func(report.OrderRow, error) bool) {
				for _, o := range rows {
					if !yield(o, nil) {
						return
					}
				}
			}}
		_, err := report.Render(ctx, io.Discard, report.FormatPDF, doc)
		return err
	}
	if err := render(); err != nil { // warm-up
		return 0, 0, err
	}
	var mu sync.Mutex
	var wg sync.WaitGroup
	var firstErr error
	n := 0
	start := time.Now()
	end := start.Add(8 * time.Second)
	for range c.workerConc {
		wg.Go(func() {
			for time.Now().Before(end) {
				err := render()
				mu.Lock()
				if err != nil && firstErr == nil {
					firstErr = err
				}
				n++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	return float64(n) / time.Since(start).Seconds(), n, firstErr
}

// bareSignedLoop is the webhook ceiling: sign and POST the same body to the
// same receiver from conc goroutines, with nothing else around it.
func bareSignedLoop(ctx context.Context, url, secret string, body []byte, conc, n int) time.Duration {
	hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: conc}, Timeout: 15 * time.Second}
	defer hc.CloseIdleConnections()
	jobs := make(chan int)
	var wg sync.WaitGroup
	start := time.Now()
	for range conc {
		wg.Go(func() {
			for i := range jobs {
				id := "msg_bare" + strconv.Itoa(i)
				now := time.Now()
				sig, err := webhook.SignatureHeader([]string{secret}, id, now, body)
				if err != nil {
					continue
				}
				req, _ := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
				req.Header.Set("Content-Type", "application/json")
				req.Header.Set("webhook-id", id)
				req.Header.Set("webhook-timestamp", strconv.FormatInt(now.Unix(), 10))
				req.Header.Set("webhook-signature", sig)
				if resp, err := hc.Do(req); err == nil {
					_, _ = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
				}
			}
		})
	}
	for i := range n {
		jobs <- i
	}
	close(jobs)
	wg.Wait()
	return time.Since(start)
}

type projectionResult struct {
	Project, CopyFrom float64 // events/s
	// BenchmarkProjectPartitions, by sub-benchmark ("partitions=8/workers=2"): events/s
	Partitions map[string]float64
	Raw        string
}

var partitionsPerSec = regexp.MustCompile(`^BenchmarkProjectPartitions/(partitions=\d+/workers=\d+)\S*\s+\d+\s+.*?([\d.]+) events/s`)

var eventsPerSec = regexp.MustCompile(`^(Benchmark\w+)\S*\s+\d+\s+.*?([\d.]+) events/s`)

// goBench runs one package's benchmarks matching pattern and returns, per
// benchmark name, the figure that re matches (its second group).
func goBench(ctx context.Context, c config, pkg, pattern, benchtime string, re *regexp.Regexp, extra ...string) (map[string]float64, string, error) {
	args := append([]string{"test", "-run", "^$", "-bench", pattern, "-benchtime", benchtime, "-count", "1", pkg}, extra...)
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir = c.root
	out, err := cmd.CombinedOutput()
	if err != nil {
		return nil, string(out), fmt.Errorf("%w\n%s", err, out)
	}
	figures := map[string]float64{}
	for line := range strings.SplitSeq(string(out), "\n") {
		if m := re.FindStringSubmatch(line); m != nil {
			figures[m[1]], _ = strconv.ParseFloat(m[2], 64)
		}
	}
	return figures, string(out), nil
}

// benchProjection runs the readmodel package's own benchmarks.
func benchProjection(ctx context.Context, c config) (projectionResult, error) {
	var r projectionResult
	figures, raw, err := goBench(ctx, c, "./internal/readmodel/", "^(BenchmarkProject|BenchmarkCopyFromCeiling)$", "5x", eventsPerSec)
	r.Raw = raw
	if err != nil {
		return r, err
	}
	r.Project, r.CopyFrom = figures["BenchmarkProject"], figures["BenchmarkCopyFromCeiling"]
	if r.Project == 0 || r.CopyFrom == 0 {
		return r, fmt.Errorf("no events/s figures in:\n%s", raw)
	}
	// One worker against two on the same partitions: what a second worker adds.
	r.Partitions, raw, err = goBench(ctx, c, "./internal/readmodel/", "^BenchmarkProjectPartitions$", "3x", partitionsPerSec)
	r.Raw += raw
	if err != nil {
		return r, err
	}
	if r.Partitions["partitions=8/workers=1"] == 0 || r.Partitions["partitions=8/workers=2"] == 0 {
		return r, fmt.Errorf("no partitions=8 events/s figures in:\n%s", raw)
	}
	return r, nil
}

type rebuildResult struct {
	Events          int64   // log events
	Rebuild, Verify float64 // events/s
	SwapMillis      float64 // the longest swap: how long the live tables were locked
	Raw             string
}

// rebuildOrders × 4 events is the log BenchmarkRebuild rebuilds.
const rebuildOrders = 250_000

var swapMillis = regexp.MustCompile(`^(Benchmark\w+)\S*\s+\d+\s+.*?([\d.]+) max-swap-ms`)

// benchRebuild runs readmodel's BenchmarkRebuild and BenchmarkVerify once
// each: a blue/green rebuild, and a verify, of both projections from a log
// of a million events.
func benchRebuild(ctx context.Context, c config) (rebuildResult, error) {
	r := rebuildResult{Events: rebuildOrders * 4}
	figures, raw, err := goBench(ctx, c, "./internal/readmodel/", "^Benchmark(Rebuild|Verify)$", "1x", eventsPerSec,
		"-timeout", "30m", "-args", "-rebuild-orders", strconv.Itoa(rebuildOrders))
	r.Raw = raw
	if err != nil {
		return r, err
	}
	r.Rebuild, r.Verify = figures["BenchmarkRebuild"], figures["BenchmarkVerify"]
	for line := range strings.SplitSeq(raw, "\n") {
		if m := swapMillis.FindStringSubmatch(line); m != nil {
			r.SwapMillis, _ = strconv.ParseFloat(m[2], 64)
		}
	}
	if r.Rebuild == 0 || r.Verify == 0 {
		return r, fmt.Errorf("no events/s figures in:\n%s", raw)
	}
	return r, nil
}

type renderResult struct {
	Render, Bare time.Duration // per 200-order PDF
	Raw          string
}

var nsPerOp = regexp.MustCompile(`^(Benchmark\w+)\S*\s+\d+\s+(\d+) ns/op`)

// benchRender runs the report package's own pair: 200 orders through
// report.Render against a bare fpdf table of the same rows.
func benchRender(ctx context.Context, c config) (renderResult, error) {
	var r renderResult
	figures, raw, err := goBench(ctx, c, "./internal/report/", "^(BenchmarkRenderPDF200|BenchmarkBareFpdf200)$", "40x", nsPerOp)
	r.Raw = raw
	if err != nil {
		return r, err
	}
	r.Render, r.Bare = time.Duration(figures["BenchmarkRenderPDF200"]), time.Duration(figures["BenchmarkBareFpdf200"])
	if r.Render == 0 || r.Bare == 0 {
		return r, fmt.Errorf("no ns/op figures in:\n%s", raw)
	}
	return r, nil
}

type bigFileResult struct {
	Format    string // pdf or xlsx
	Rows      int
	Wall      string
	MaxRSSKiB int
	Line      string
}

// benchBigFile renders one very large report file under /usr/bin/time -v.
func benchBigFile(ctx context.Context, c config, format string) (bigFileResult, error) {
	r := bigFileResult{Format: format, Rows: c.bigRows}
	out := filepath.Join(os.TempDir(), "reportd-bench-big."+format)
	defer os.Remove(out)
	cmd := exec.CommandContext(ctx, "/usr/bin/time", "-v", c.measureBin, "-rows", strconv.Itoa(c.bigRows), "-format", format, "-out", out) //nolint:gosec // the binary is the -measure flag of whoever runs the harness
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return r, fmt.Errorf("%w\n%s%s", err, stdout.String(), stderr.String())
	}
	r.Line = strings.TrimSpace(stdout.String())
	for line := range strings.SplitSeq(stderr.String(), "\n") {
		line = strings.TrimSpace(line)
		if v, ok := strings.CutPrefix(line, "Elapsed (wall clock) time (h:mm:ss or m:ss): "); ok {
			r.Wall = v
		}
		if v, ok := strings.CutPrefix(line, "Maximum resident set size (kbytes): "); ok {
			r.MaxRSSKiB, _ = strconv.Atoi(v)
		}
	}
	return r, nil
}
