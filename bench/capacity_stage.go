package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"

	"github.com/reportd/reportd/bench/capacity"
	"github.com/reportd/reportd/internal/orderevents"
	"github.com/reportd/reportd/internal/postgres"
	"github.com/reportd/reportd/internal/readmodel"
	"github.com/reportd/reportd/internal/seed"
)

// capacityRun is the capacity stage's state: the private services, the
// install on them, and the pids whose CPU is counted.
type capacityRun struct {
	c       config
	svc     *privateServices
	in      *install
	rm      *readmodel.Store
	rc      *redis.Client
	hooks   *hookReceiver
	apiPID  int
	workers []int
	log     func(string, ...any)
}

// benchCapacity measures the costs per report and per event on private
// services and the one-worker and two-worker report rates, and returns the
// figures docs/capacity.md is written from.
func benchCapacity(ctx context.Context, c config, log func(string, ...any)) (capacity.Figures, error) {
	start := time.Now()
	f := capacity.Figures{Date: start.UTC(), Command: c.cmdline, Cores: runtime.NumCPU(), LoadAvg: loadAvg(), Go: goVersion(ctx),
		Workload: capacity.Workload{Reports: c.capReports, OrdersPerReport: c.orders, Format: "pdf", EventBatch: c.capBatch,
			WorkerConcurrency: c.workerConc, IdleSeconds: c.capIdle.Seconds()}}
	svc, err := startPrivateServices(ctx, c.logDir)
	if err != nil {
		return f, err
	}
	defer svc.close()
	log("capacity: private postgres on :%d, redis on %s, s3 gateway behind %s", svc.pgPort, svc.redisAddr, svc.proxy.URL)
	r := &capacityRun{c: c, svc: svc, hooks: newHookReceiver(), log: log}
	recv := httptest.NewServer(r.hooks)
	defer recv.Close()
	if err := r.install(ctx, recv.URL+"/hooks"); err != nil {
		return f, err
	}
	defer r.in.close()
	r.rc = redis.NewClient(&redis.Options{Addr: svc.redisAddr})
	defer r.rc.Close()

	customers, err := r.seedReports(ctx)
	if err != nil {
		return f, err
	}
	if err := r.in.startAPI(ctx, c.apiBin); err != nil {
		return f, err
	}
	r.apiPID = r.in.procs[len(r.in.procs)-1].Process.Pid
	if err := r.addWorker(ctx); err != nil {
		return f, err
	}
	if _, err := r.reports(ctx, customers, 2*c.workerConc); err != nil { // warm-up: pools, caches, the first S3 PUT
		return f, fmt.Errorf("warm-up: %w", err)
	}

	log("capacity: idle for %s", c.capIdle)
	s0, err := r.snapshot(ctx)
	if err != nil {
		return f, err
	}
	time.Sleep(c.capIdle) // the idle cost is what a quiet second costs: there is nothing to wait for
	s1, err := r.snapshot(ctx)
	if err != nil {
		return f, err
	}
	f.IdlePerSecond = s1.costs(s0, s1.at.Sub(s0.at).Seconds())

	one, perReport, err := r.reportPass(ctx, customers)
	if err != nil {
		return f, err
	}
	f.PerReport = perReport
	f.Scaling = append(f.Scaling, one)

	if err := r.eventPass(ctx, &f); err != nil {
		return f, err
	}

	if err := r.addWorker(ctx); err != nil {
		return f, err
	}
	if _, err := r.reports(ctx, customers, 2*c.workerConc); err != nil {
		return f, fmt.Errorf("warm-up of the second worker: %w", err)
	}
	two, _, err := r.reportPass(ctx, customers)
	if err != nil {
		return f, err
	}
	f.Scaling = append(f.Scaling, two)

	r.in.stop() // the ceiling gets the machine to itself
	if f.RedisCeiling, err = redisCeiling(ctx, svc.redisAddr); err != nil {
		return f, err
	}
	log("capacity: redis ceiling %s ops/s", capacity.Num(f.RedisCeiling.OpsPerSec))
	f.Took = time.Since(start).Round(time.Second).String()
	return f, nil
}

// install builds the install on the private services: the api and the
// worker connect as the reportd role, the harness as postgres. SWEEP_INTERVAL
// keeps its default: a shorter one makes the sweeper inspect every report
// queued longer than twice the interval on each sweep, which would count
// as Redis commands per report what is only the benchmark's backlog.
func (r *capacityRun) install(ctx context.Context, webhookURL string) error {
	in := &install{name: "capacity", logDir: r.c.logDir}
	var err error
	if in.pool, err = postgres.Connect(ctx, r.svc.pgURL("postgres", "reportd")); err != nil {
		return err
	}
	r.in = in
	if err := postgres.Migrate(ctx, in.pool, slog.New(slog.DiscardHandler)); err != nil {
		return err
	}
	apiAddr, err := freeAddr(ctx)
	if err != nil {
		return err
	}
	in.vars = map[string]string{
		"DATABASE_URL":                   r.svc.pgURL("reportd", "reportd") + r.c.dbParams,
		"REDIS_URL":                      "redis://" + r.svc.redisAddr + "/0",
		"S3_ENDPOINT":                    r.svc.proxy.URL,
		"S3_BUCKET":                      "capacity",
		"AWS_ACCESS_KEY_ID":              "reportd",
		"AWS_SECRET_ACCESS_KEY":          "reportd-secret-key",
		"API_ADDR":                       apiAddr,
		"WEBHOOK_ALLOW_PRIVATE_NETWORKS": "true",
		"MAX_IN_FLIGHT":                  "0",
		"LOG_LEVEL":                      "info",
		"WORKER_CONCURRENCY":             strconv.Itoa(r.c.workerConc),
	}
	in.apiURL = "http://" + apiAddr
	r.rm = readmodel.NewStore(in.pool, in.pool, slog.New(slog.DiscardHandler))
	return in.createClient(ctx, webhookURL)
}

// addWorker starts one more worker process, with a metrics address of its own.
func (r *capacityRun) addWorker(ctx context.Context) error {
	addr, err := freeAddr(ctx)
	if err != nil {
		return err
	}
	r.in.vars["WORKER_METRICS_ADDR"] = addr
	if err := r.in.startWorker(ctx, r.c.workerBin); err != nil {
		return err
	}
	r.workers = append(r.workers, r.in.procs[len(r.in.procs)-1].Process.Pid)
	return nil
}

// seedReports loads the report customers' orders (c.orders each in the
// first quarter of 2026) and projects them before anything is counted.
func (r *capacityRun) seedReports(ctx context.Context) ([]string, error) {
	sum, err := seed.Run(ctx, r.rm, r.in.client.ID, seed.Options{Customers: r.c.customers, OrdersPerCustomer: r.c.orders, Seed: 3}, io.Discard)
	if err != nil {
		return nil, err
	}
	for {
		n, err := r.rm.ProjectOnce(ctx)
		if err != nil {
			return nil, err
		}
		if n == 0 {
			return sum.Customers, nil
		}
	}
}

// reports submits n reports over 32 connections and waits for their
// webhooks; it returns the time from the first submit to the last webhook.
func (r *capacityRun) reports(ctx context.Context, customers []string, n int) (time.Duration, error) {
	base := r.hooks.count()
	hc := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 32}}
	defer hc.CloseIdleConnections()
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		accepted int
		firstErr error
	)
	next := make(chan int)
	start := time.Now()
	for range 32 {
		wg.Go(func() {
			for i := range next {
				err := func() error {
					req, err := postReport(ctx, r.in.apiURL, r.in.client.APIKey, reportBody(customers[i%len(customers)]))
					if err != nil {
						return err
					}
					resp, err := hc.Do(req)
					if err != nil {
						return err
					}
					defer resp.Body.Close()
					_, _ = io.Copy(io.Discard, resp.Body)
					if resp.StatusCode != http.StatusAccepted {
						return fmt.Errorf("POST /v1/reports: %s", resp.Status)
					}
					return nil
				}()
				mu.Lock()
				if err == nil {
					accepted++
				} else if firstErr == nil {
					firstErr = err
				}
				mu.Unlock()
			}
		})
	}
	for i := range n {
		next <- i
	}
	close(next)
	wg.Wait()
	if firstErr != nil {
		return 0, fmt.Errorf("%d of %d reports accepted: %w", accepted, n, firstErr)
	}
	if err := r.hooks.waitTotal(ctx, base+n, 10*time.Minute); err != nil {
		return 0, err
	}
	return time.Since(start), nil
}

// reportPass runs the report workload once with the workers running now.
func (r *capacityRun) reportPass(ctx context.Context, customers []string) (capacity.Run, capacity.Costs, error) {
	n := r.c.capReports
	r.log("capacity: %d reports with %d worker(s)", n, len(r.workers))
	s0, err := r.snapshot(ctx)
	if err != nil {
		return capacity.Run{}, capacity.Costs{}, err
	}
	took, err := r.reports(ctx, customers, n)
	if err != nil {
		return capacity.Run{}, capacity.Costs{}, err
	}
	s1, err := r.snapshot(ctx)
	if err != nil {
		return capacity.Run{}, capacity.Costs{}, err
	}
	costs := s1.costs(s0, float64(n))
	run := capacity.Run{Workers: len(r.workers), Reports: n, Seconds: took.Seconds(), PerSecond: float64(n) / took.Seconds(),
		CPUms: costs.CPUms.All(), ForeignCores: s1.foreignCores(s0)}
	r.log("capacity: %d worker(s): %.1f reports/s, %.1f CPU-ms per report (all processes), other work %.2f cores",
		run.Workers, run.PerSecond, run.CPUms, run.ForeignCores)
	return run, costs, nil
}

// eventPass posts order events (in another period than the reports', so
// the report passes render the same documents) and waits until every
// projection has caught up.
func (r *capacityRun) eventPass(ctx context.Context, f *capacity.Figures) error {
	events, _ := seed.Events(seed.Options{Customers: max(1, r.c.capEvents/30), OrdersPerCustomer: 10, Seed: 11,
		From: time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC), To: time.Date(2025, 7, 1, 0, 0, 0, 0, time.UTC)})
	n := len(events)
	bodies := make([][]byte, 0, n/r.c.capBatch+1)
	for i := 0; i < n; i += r.c.capBatch {
		b, err := orderevents.EncodeBatch(events[i:min(n, i+r.c.capBatch)])
		if err != nil {
			return err
		}
		bodies = append(bodies, b)
	}
	r.log("capacity: %d order events in %d batches", n, len(bodies))
	size := func() (float64, float64, error) {
		var lb, db float64
		err := r.in.pool.QueryRow(ctx, `SELECT pg_total_relation_size('order_events'), pg_database_size(current_database())`).Scan(&lb, &db)
		return lb, db, err
	}
	log0, db0, err := size()
	if err != nil {
		return err
	}
	s0, err := r.snapshot(ctx)
	if err != nil {
		return err
	}
	hc := &http.Client{Timeout: 60 * time.Second}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var firstErr error
	next := make(chan []byte)
	start := time.Now()
	for range 4 {
		wg.Go(func() {
			for body := range next {
				if err := r.postEvents(ctx, hc, body); err != nil {
					mu.Lock()
					if firstErr == nil {
						firstErr = err
					}
					mu.Unlock()
				}
			}
		})
	}
	for _, b := range bodies {
		next <- b
	}
	close(next)
	wg.Wait()
	if firstErr != nil {
		return firstErr
	}
	deadline := time.Now().Add(10 * time.Minute)
	for {
		done, err := r.rm.CaughtUp(ctx)
		if err != nil {
			return err
		}
		if done {
			break
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("projections did not catch up with %d events within 10 minutes", n)
		}
		time.Sleep(50 * time.Millisecond) // polls the checkpoint; the harness's own reads are not counted as reportd's statements
	}
	took := time.Since(start)
	s1, err := r.snapshot(ctx)
	if err != nil {
		return err
	}
	log1, db1, err := size()
	if err != nil {
		return err
	}
	costs := s1.costs(s0, float64(n))
	f.PerEvent, f.Workload.Events = costs, n
	f.ProjectedPerSecond = float64(n) / took.Seconds()
	f.EventPassSeconds = s1.at.Sub(s0.at).Seconds()
	f.EventLogBytes, f.DatabaseBytes = (log1-log0)/float64(n), (db1-db0)/float64(n)
	r.log("capacity: events projected at %.0f/s, %.3f CPU-ms per event (api %.3f, worker %.3f, postgres %.3f)",
		f.ProjectedPerSecond, costs.CPUms.All(), costs.CPUms.API, costs.CPUms.Worker, costs.CPUms.Postgres)
	return nil
}

func (r *capacityRun) postEvents(ctx context.Context, hc *http.Client, body []byte) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, r.in.apiURL+"/v1/order-events", bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+r.in.client.APIKey)
	req.Header.Set("Content-Type", "application/json")
	resp, err := hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 2048))
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("POST /v1/order-events: %s: %s", resp.Status, msg)
	}
	return nil
}

// snapshot is every counter at one instant.
type snapshot struct {
	at                   time.Time
	cpu                  capacity.CPU // cumulative ms
	busyJiffies, jiffies uint64
	redis                map[string]float64
	statements, commits  float64
	walLSN               string
	s3                   map[string]float64
	s3Up, s3Down         float64
}

func (r *capacityRun) snapshot(ctx context.Context) (snapshot, error) {
	s := snapshot{at: time.Now()}
	var err error
	cpu := func(pid int, tree bool) float64 {
		if err != nil {
			return 0
		}
		var ms float64
		if tree {
			ms, err = treeCPU(pid)
		} else {
			ms, _, err = procCPU(pid, false)
		}
		return ms
	}
	s.cpu.API = cpu(r.apiPID, false)
	for _, pid := range r.workers {
		s.cpu.Worker += cpu(pid, false)
	}
	pm, perr := r.svc.postmasterPID()
	if perr != nil {
		return s, perr
	}
	s.cpu.Postgres = cpu(pm, true)
	s.cpu.Redis = cpu(r.svc.redisPID, false)
	s.cpu.S3 = cpu(r.svc.vgwPID, false)
	s.cpu.LoadGen = cpu(os.Getpid(), false)
	if err != nil {
		return s, fmt.Errorf("read process CPU: %w", err)
	}
	s.busyJiffies, s.jiffies = cpuTimes()
	if s.redis, err = redisCommandStats(ctx, r.rc); err != nil {
		return s, fmt.Errorf("redis commandstats: %w", err)
	}
	if err := queryCounters(ctx, r.in.pool, &s); err != nil {
		return s, err
	}
	s.s3, s.s3Up, s.s3Down = r.svc.s3Proxy.read()
	return s, nil
}

func queryCounters(ctx context.Context, pool *pgxpool.Pool, s *snapshot) error {
	err := pool.QueryRow(ctx, `SELECT
		(SELECT coalesce(sum(calls), 0)::float8 FROM pg_stat_statements WHERE userid = 'reportd'::regrole),
		(SELECT xact_commit::float8 FROM pg_stat_database WHERE datname = current_database()),
		pg_current_wal_lsn()::text`).Scan(&s.statements, &s.commits, &s.walLSN)
	if err != nil {
		return fmt.Errorf("read postgres counters: %w", err)
	}
	return nil
}

// costs is b − a divided by per (units of work, or seconds).
func (b snapshot) costs(a snapshot, per float64) capacity.Costs {
	d := func(x, y float64) float64 { return (x - y) / per }
	c := capacity.Costs{
		CPUms: capacity.CPU{API: d(b.cpu.API, a.cpu.API), Worker: d(b.cpu.Worker, a.cpu.Worker), Postgres: d(b.cpu.Postgres, a.cpu.Postgres),
			Redis: d(b.cpu.Redis, a.cpu.Redis), S3: d(b.cpu.S3, a.cpu.S3), LoadGen: d(b.cpu.LoadGen, a.cpu.LoadGen)},
		RedisByCommand:     map[string]float64{},
		PostgresStatements: d(b.statements, a.statements),
		PostgresCommits:    d(b.commits, a.commits),
		WALBytes:           walDiff(a.walLSN, b.walLSN) / per,
		S3Requests:         map[string]float64{},
		S3BytesUp:          d(b.s3Up, a.s3Up),
		S3BytesDown:        d(b.s3Down, a.s3Down),
	}
	for cmd, v := range b.redis {
		if cmd == "info" { // the harness's own INFO commandstats
			continue
		}
		if x := d(v, a.redis[cmd]); x > 0 {
			c.RedisByCommand[cmd] = x
			c.RedisCommands += x
		}
	}
	for m, v := range b.s3 {
		if x := d(v, a.s3[m]); x > 0 {
			c.S3Requests[m] = x
		}
	}
	return c
}

// foreignCores is the CPU the rest of the machine used between a and b:
// /proc/stat's busy time less every measured process's, in cores.
func (b snapshot) foreignCores(a snapshot) float64 {
	wall := float64(b.at.Sub(a.at).Milliseconds())
	if wall <= 0 {
		return 0
	}
	busy := float64(b.busyJiffies-a.busyJiffies) * msPerTick
	ours := b.cpu.All() - a.cpu.All()
	return max(0, busy-ours) / wall
}

// walDiff is the bytes between two LSNs (X/Y hexadecimal).
func walDiff(a, b string) float64 {
	return float64(lsn(b) - lsn(a))
}

func lsn(s string) uint64 {
	var hi, lo uint64
	if _, err := fmt.Sscanf(s, "%X/%X", &hi, &lo); err != nil {
		return 0
	}
	return hi<<32 | lo
}

var redisBenchRate = regexp.MustCompile(`SET: ([\d.]+) requests per second`)

// redisCeiling is redis-benchmark's SET rate on the private Redis: 50
// clients, no pipelining, the single-node command ceiling on this machine.
func redisCeiling(ctx context.Context, addr string) (capacity.Ceiling, error) {
	host, port, _ := net.SplitHostPort(addr)
	args := []string{"-h", host, "-p", port, "-q", "-c", "50", "-n", "200000", "-t", "set"}
	cmd := exec.CommandContext(ctx, "redis-benchmark", args...)
	out, err := cmd.CombinedOutput()
	c := capacity.Ceiling{Command: "redis-benchmark " + strings.Join(args[4:], " ")}
	if err != nil {
		return c, fmt.Errorf("redis-benchmark: %w\n%s", err, out)
	}
	m := redisBenchRate.FindAllSubmatch(out, -1)
	if m == nil {
		return c, fmt.Errorf("redis-benchmark printed no SET rate:\n%s", out)
	}
	c.OpsPerSec, _ = strconv.ParseFloat(string(m[len(m)-1][1]), 64)
	return c, nil
}
