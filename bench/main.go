// Command bench is reportd's end-to-end benchmark harness. It runs the real
// api and worker binaries on the local services and measures every figure
// next to its ceiling, taken in the same run on the same machine: intake
// against a bare gorilla/mux handler, submit-to-webhook against render-only,
// webhook delivery against a bare signed POST loop, projection against pgx
// CopyFrom (the readmodel benchmarks), and one 200,000-order PDF. It writes
// BENCHMARKS.md. scripts/bench.sh builds the binaries and runs it:
//
//	go run ./bench -api bin/api -worker bin/worker -measure bin/measure -out BENCHMARKS.md
package main

import (
	"cmp"
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/reportd/reportd/bench/capacity"
)

// config is the harness's flags.
type config struct {
	apiBin, workerBin, measureBin string
	out, logDir, root             string
	dbParams                      string
	intakeConns                   int
	intakeDur                     time.Duration
	intakeRounds                  int
	reports, orders, customers    int
	workerConc                    int
	halfDur                       time.Duration
	bigRows                       int
	deliveries                    int
	cmdline                       string // how the harness was run, for docs/capacity.md
	capReports, capEvents         int
	capBatch                      int
	capIdle                       time.Duration
	capJSON, capDoc               string
	only                          map[string]bool // stages to run; empty: all
}

// stages, in the order they run.
var stages = []string{"intake", "e2e", "webhook", "projection", "rebuild", "render", "bigpdf", "bigxlsx", "capacity"}

func (c config) runs(stage string) bool { return len(c.only) == 0 || c.only[stage] }

func main() {
	if err := run(context.Background(), os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	var c config
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.StringVar(&c.apiBin, "api", "bin/api", "the api binary")
	fs.StringVar(&c.workerBin, "worker", "bin/worker", "the worker binary")
	fs.StringVar(&c.measureBin, "measure", "", "internal/report/internal/measure built with go build (empty: skip the big PDF and XLSX)")
	fs.StringVar(&c.out, "out", "BENCHMARKS.md", "where to write the results")
	fs.StringVar(&c.logDir, "logs", os.TempDir(), "where the processes' logs go")
	fs.StringVar(&c.root, "root", ".", "the repository root (for the readmodel benchmarks)")
	fs.StringVar(&c.dbParams, "db-params", "", "appended to DATABASE_URL of the api and worker, e.g. &pool_max_conns=32")
	fs.IntVar(&c.intakeConns, "intake-conns", 64, "connections for the intake test")
	fs.DurationVar(&c.intakeDur, "intake-duration", 12*time.Second, "measured time of reportd's intake, and of the bare handler's")
	fs.IntVar(&c.intakeRounds, "intake-rounds", 3, "rounds the intake time is split into, reportd and the bare handler alternating")
	fs.IntVar(&c.reports, "reports", 2000, "reports in the peak end-to-end pass")
	fs.IntVar(&c.orders, "orders", 200, "orders per report")
	fs.IntVar(&c.customers, "customers", 10, "customers the reports cycle over")
	fs.IntVar(&c.workerConc, "worker-concurrency", 10, "WORKER_CONCURRENCY, also the render ceiling's goroutines")
	fs.DurationVar(&c.halfDur, "half-duration", 30*time.Second, "length of the half-peak pass")
	fs.IntVar(&c.bigRows, "big-rows", 200000, "orders in the big PDF and XLSX")
	fs.IntVar(&c.deliveries, "deliveries", 20000, "deliveries in each webhook pass")
	fs.StringVar(&pprofAPI, "pprof-api", "", "PPROF_ADDR of the api processes (profile a stage with go tool pprof)")
	fs.StringVar(&pprofWorker, "pprof-worker", "", "PPROF_ADDR of the worker processes")
	fs.IntVar(&c.capReports, "capacity-reports", 1000, "reports in each capacity pass (one worker, then two)")
	fs.IntVar(&c.capEvents, "capacity-events", 30000, "order events in the capacity stage's event pass (about)")
	fs.IntVar(&c.capBatch, "capacity-batch", 1000, "events per POST /v1/order-events in the capacity stage")
	fs.DurationVar(&c.capIdle, "capacity-idle", 15*time.Second, "how long the capacity stage measures the idle api and worker")
	fs.StringVar(&c.capJSON, "capacity-json", "bench/capacity.json", "where the capacity stage saves its figures")
	fs.StringVar(&c.capDoc, "capacity-doc", "docs/capacity.md", "where the capacity stage writes the capacity model")
	only := fs.String("only", "", "run only these stages, comma-separated ("+strings.Join(stages, ", ")+"); prints the log and writes no BENCHMARKS.md (capacity still writes its two files)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	// BENCH_COMMAND names the command a person typed (scripts/bench.sh sets
	// it); the go run line holds temporary paths.
	c.cmdline = cmp.Or(os.Getenv("BENCH_COMMAND"), strings.Join(append([]string{"go run ./bench"}, args...), " "))
	if *only != "" {
		c.only = map[string]bool{}
		for s := range strings.SplitSeq(*only, ",") {
			if !slices.Contains(stages, s) {
				return fmt.Errorf("-only: unknown stage %q (have %s)", s, strings.Join(stages, ", "))
			}
			c.only[s] = true
		}
	}
	for _, p := range []*string{&c.apiBin, &c.workerBin, &c.measureBin, &c.logDir, &c.root} {
		if *p != "" {
			abs, err := filepath.Abs(*p)
			if err != nil {
				return err
			}
			*p = abs
		}
	}
	log := func(format string, a ...any) { fmt.Fprintf(stderr, "bench: "+format+"\n", a...) }
	var r results
	r.Started = time.Now()
	r.LoadAvg = loadAvg()

	var err error
	r.IntakeConns = c.intakeConns
	if c.runs("intake") {
		log("intake: %d connections, %s per run", c.intakeConns, c.intakeDur)
		if r.Intake, err = benchIntake(ctx, c); err != nil {
			return fmt.Errorf("intake: %w", err)
		}
		log("intake: reportd %.0f/s p99 %s; bare %.0f/s p99 %s (%.1f%%)", r.Intake.Reportd.PerSecond, r.Intake.Reportd.P99,
			r.Intake.Bare.PerSecond, r.Intake.Bare.P99, 100*r.Intake.Reportd.PerSecond/r.Intake.Bare.PerSecond)
	}
	if c.runs("e2e") {
		log("end to end: %d reports × %d orders, WORKER_CONCURRENCY=%d", c.reports, c.orders, c.workerConc)
		if r.E2E, err = benchEndToEnd(ctx, c, log); err != nil {
			return fmt.Errorf("end to end: %w", err)
		}
	}
	if c.runs("webhook") {
		if r.Webhook, err = benchWebhook(ctx, c, log); err != nil {
			return fmt.Errorf("webhook: %w", err)
		}
		log("webhook: bulk replay %.1f%%, one task each %.1f%% of bare", 100*r.Webhook.PerSecond/r.Webhook.BarePerSecond,
			100*r.Webhook.SinglePerSecond/r.Webhook.BarePerSecond)
	}
	if c.runs("projection") {
		log("projection: go test -bench in internal/readmodel")
		if r.Projection, err = benchProjection(ctx, c); err != nil {
			return fmt.Errorf("projection: %w", err)
		}
	}
	if c.runs("rebuild") {
		log("rebuild: go test -bench BenchmarkRebuild in internal/readmodel (a million-event log)")
		if r.Rebuild, err = benchRebuild(ctx, c); err != nil {
			return fmt.Errorf("rebuild: %w", err)
		}
		log("rebuild: %.0f events/s, longest swap %.0f ms; verify: %.0f events/s", r.Rebuild.Rebuild, r.Rebuild.SwapMillis, r.Rebuild.Verify)
	}
	if c.runs("render") {
		log("render: go test -bench in internal/report")
		if r.Render, err = benchRender(ctx, c); err != nil {
			return fmt.Errorf("render: %w", err)
		}
	}
	for _, big := range []struct {
		stage, format string
		into          *bigFileResult
	}{{"bigpdf", "pdf", &r.BigPDF}, {"bigxlsx", "xlsx", &r.BigXLSX}} {
		if c.measureBin == "" || !c.runs(big.stage) {
			continue
		}
		log("big %s: %d orders under /usr/bin/time -v", big.format, c.bigRows)
		if *big.into, err = benchBigFile(ctx, c, big.format); err != nil {
			return fmt.Errorf("big %s: %w", big.format, err)
		}
		log("big %s: wall %s, peak RSS %d KiB: %s", big.format, big.into.Wall, big.into.MaxRSSKiB, big.into.Line)
	}
	if c.runs("capacity") {
		log("capacity: %d reports per pass, about %d events, on private services", c.capReports, c.capEvents)
		f, err := benchCapacity(ctx, c, log)
		if err != nil {
			return fmt.Errorf("capacity: %w", err)
		}
		if err := capacity.Save(c.capJSON, f); err != nil {
			return err
		}
		md := capacity.Markdown(f, capacity.DefaultAssumptions(), c.capJSON)
		if err := os.WriteFile(c.capDoc, []byte(md), 0o644); err != nil { //nolint:gosec // docs/capacity.md is a world-readable file of the repository
			return fmt.Errorf("write %s: %w", c.capDoc, err)
		}
		log("capacity: wrote %s and %s", c.capJSON, c.capDoc)
	}
	if len(c.only) > 0 {
		return nil
	}
	r.Took = time.Since(r.Started)
	md := r.markdown(ctx, c)
	if err := os.WriteFile(c.out, []byte(md), 0o644); err != nil { //nolint:gosec // BENCHMARKS.md is a world-readable file of the repository
		return err
	}
	fmt.Fprint(stdout, md)
	return nil
}
