package capacity

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// fixture has round figures, so every expected value below can be checked by hand.
func fixture() Figures {
	return Figures{
		Cores:    2,
		Workload: Workload{Reports: 100, OrdersPerReport: 200, Format: "pdf", Events: 10000, EventBatch: 1000, WorkerConcurrency: 10},
		PerReport: Costs{
			CPUms:         CPU{API: 2, Worker: 50, Postgres: 10, Redis: 1, S3: 3, LoadGen: 4},
			RedisCommands: 40, PostgresStatements: 15, PostgresCommits: 7, WALBytes: 6000,
			S3Requests: map[string]float64{"PUT": 1}, S3BytesUp: 70000,
		},
		PerEvent: Costs{
			CPUms:              CPU{API: 0.02, Worker: 0.05, Postgres: 0.1},
			PostgresStatements: 0.04, PostgresCommits: 0.002, WALBytes: 1200,
		},
		RedisCeiling:       Ceiling{Command: "redis-benchmark -t set", OpsPerSec: 100000},
		EventLogBytes:      500,
		DatabaseBytes:      800,
		ProjectedPerSecond: 5000,
		Scaling: []Run{
			{Workers: 1, Reports: 100, Seconds: 10, PerSecond: 10, CPUms: 100, ForeignCores: 0.6},
			{Workers: 2, Reports: 100, Seconds: 100.0 / 12, PerSecond: 12, CPUms: 100, ForeignCores: 0.5},
		},
	}
}

type reportSummary struct {
	APICores, WorkerCores, PGCores float64
	APIHosts, WorkerHosts          int
	RedisCommands, RedisCores      float64
	RedisMasters, QueueShards      int
	RedisShare, WALMBps, S3PUTs    float64
	S3MBps                         float64
	PostgresVCPU                   int
}

func TestPlanReports(t *testing.T) {
	tests := []struct {
		rate float64
		want reportSummary
	}{
		{100, reportSummary{
			APICores: 100.0 * 2 / 1000 / 0.6, WorkerCores: 100.0 * 50 / 1000 / 0.6, PGCores: 100.0 * 10 / 1000 / 0.6,
			APIHosts: 2, WorkerHosts: 2, // at least two of each; 8.3 worker cores fit on two hosts of 8
			RedisCommands: 4000, RedisCores: 0.1, RedisMasters: 1, QueueShards: 1,
			RedisShare: 0.04, WALMBps: 0.6, S3PUTs: 100, S3MBps: 7, PostgresVCPU: 2,
		}},
		{1000, reportSummary{
			APICores: 1000.0 * 2 / 1000 / 0.6, WorkerCores: 1000.0 * 50 / 1000 / 0.6, PGCores: 1000.0 * 10 / 1000 / 0.6,
			APIHosts: 2, WorkerHosts: 11, // ⌈83.3 / 8⌉
			RedisCommands: 40000, RedisCores: 1, RedisMasters: 2, QueueShards: 6, // ⌈1 / 0.5⌉ masters, 3× shards
			RedisShare: 0.4, WALMBps: 6, S3PUTs: 1000, S3MBps: 70, PostgresVCPU: 32,
		}},
	}
	for _, tt := range tests {
		p := PlanReports(fixture(), DefaultAssumptions(), tt.rate)
		got := reportSummary{
			APICores: p.APICores.Value, WorkerCores: p.WorkerCores.Value, PGCores: p.PGCores.Value,
			APIHosts: p.APIHosts, WorkerHosts: p.WorkerHosts,
			RedisCommands: p.RedisCommands.Value, RedisCores: p.RedisCores.Value,
			RedisMasters: int(p.Redis.Masters.Value), QueueShards: p.Redis.QueueShards,
			RedisShare: p.RedisCeilingShare.Value, WALMBps: p.WALMBps.Value, S3PUTs: p.S3PUTs.Value, S3MBps: p.S3MBps.Value,
			PostgresVCPU: p.PostgresVCPU,
		}
		if diff := cmp.Diff(tt.want, got, cmpopts.EquateApprox(1e-9, 1e-12)); diff != "" {
			t.Errorf("PlanReports(%v) (-want +got):\n%s", tt.rate, diff)
		}
	}
}

func TestPlanReportsShowsItsArithmetic(t *testing.T) {
	p := PlanReports(fixture(), DefaultAssumptions(), 1000)
	got := []string{p.WorkerCores.String(), p.Redis.Masters.String(), p.WALMBps.String()}
	want := []string{
		"1,000/s × 50.0 CPU-ms ÷ 1000 ÷ 0.6 = 83.3",
		"⌈1.00 cores ÷ 0.5⌉ = 2.00",
		"1,000/s × 6,000 WAL bytes ÷ 1,000,000 = 6.00",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("arithmetic (-want +got):\n%s", diff)
	}
}

func TestPlanEvents(t *testing.T) {
	type summary struct {
		APICores, WorkerCores, PGCores, Requests float64
		RowsPerDay, LogGBPerDay, Projectors      float64
		PostgresVCPU                             int
		PartitionPrefix                          string
	}
	tests := []struct {
		rate float64
		want summary
	}{
		{10000, summary{APICores: 10000.0 * 0.02 / 1000 / 0.6, WorkerCores: 10000.0 * 0.05 / 1000 / 0.6, PGCores: 10000.0 * 0.1 / 1000 / 0.6,
			Requests: 10, RowsPerDay: 864e6, LogGBPerDay: 432, Projectors: 10000 / 3000.0, PostgresVCPU: 2,
			PartitionPrefix: "partition by time before the log reaches 1,000,000,000 rows, after 1.16 days, one partition per day (864,000,000 rows each"}},
		{100000, summary{APICores: 100000.0 * 0.02 / 1000 / 0.6, WorkerCores: 100000.0 * 0.05 / 1000 / 0.6, PGCores: 100000.0 * 0.1 / 1000 / 0.6,
			Requests: 100, RowsPerDay: 8.64e9, LogGBPerDay: 4320, Projectors: 100000 / 3000.0, PostgresVCPU: 32,
			PartitionPrefix: "partition by time from the start, one partition per hour (360,000,000 rows each ≤ 1,000,000,000; 2,160 partitions"}},
	}
	for _, tt := range tests {
		p := PlanEvents(fixture(), DefaultAssumptions(), tt.rate)
		got := summary{APICores: p.APICores.Value, WorkerCores: p.WorkerCores.Value, PGCores: p.PGCores.Value, Requests: p.Requests.Value,
			RowsPerDay: p.RowsPerDay.Value, LogGBPerDay: p.LogGBPerDay.Value, Projectors: p.ProjectorShare.Value,
			PostgresVCPU: p.PostgresVCPU, PartitionPrefix: p.Partition[:min(len(p.Partition), len(tt.want.PartitionPrefix))]}
		if diff := cmp.Diff(tt.want, got, cmpopts.EquateApprox(1e-9, 1e-12)); diff != "" {
			t.Errorf("PlanEvents(%v) (-want +got):\n%s", tt.rate, diff)
		}
	}
}

func TestPartitionRule(t *testing.T) {
	a := DefaultAssumptions()
	tests := []struct {
		rowsPerDay float64
		want       string
	}{
		{1e6, "not needed: 90,000,000 retained rows ≤ 1,000,000,000"},
		{20e6, "partition by time before the log reaches 1,000,000,000 rows, after 50.0 days, one partition per month (600,000,000 rows each ≤ 1,000,000,000; 3 partitions over 90 days); retention drops whole partitions"},
		{30e9, "partition by hour and by hash of order_id from the start: an hour holds 1,250,000,000 rows"},
	}
	for _, tt := range tests {
		got := partitionRule(tt.rowsPerDay, tt.rowsPerDay*float64(a.RetentionDays), a)
		if diff := cmp.Diff(tt.want, got); diff != "" {
			t.Errorf("partitionRule(%v) (-want +got):\n%s", tt.rowsPerDay, diff)
		}
	}
}

func TestCheckScaling(t *testing.T) {
	s, ok := CheckScaling(fixture())
	if !ok {
		t.Fatal("CheckScaling found no one-worker and two-worker pair")
	}
	// 2 cores − 0.5 of other work in the second pass = 1.5 cores; 1.5 × 1000
	// ÷ 100 CPU-ms = 15 reports/s; min(2 × 10, 15) = 15, a gain of 1.5×;
	// measured 12 ÷ 10. The first pass had 2 − 0.6 cores.
	// With the second pass's own 100 CPU-ms the bound is 15 again.
	got := []float64{s.AvailableCores.Value, s.CPUBound.Value, s.Utilisation.Value, s.Predicted.Value, s.PredictedGain.Value, s.MeasuredGain.Value, s.CPUBoundTwo.Value}
	want := []float64{1.5, 15, 10.0 * 100 / 1000 / 1.4, 15, 1.5, 1.2, 15}
	if diff := cmp.Diff(want, got, cmpopts.EquateApprox(1e-9, 1e-12)); diff != "" {
		t.Errorf("CheckScaling (-want +got):\n%s", diff)
	}
	if _, ok := CheckScaling(Figures{Scaling: []Run{{Workers: 1, PerSecond: 1, CPUms: 1}}}); ok {
		t.Error("CheckScaling with one pass only: ok, want false")
	}
}

func TestNum(t *testing.T) {
	got := []string{Num(0), Num(0.0123456), Num(1.234), Num(12.34), Num(1234567.8), Num(-4321), Num(0.99999), Num(99.96)}
	want := []string{"0", "0.0123", "1.23", "12.3", "1,234,568", "-4,321", "1.00", "100"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Num (-want +got):\n%s", diff)
	}
}

// TestMarkdownFromFixture runs the generator end to end on the fixture: the
// pipeline CI checks, in milliseconds.
func TestMarkdownFromFixture(t *testing.T) {
	dir := t.TempDir()
	in := filepath.Join(dir, "capacity.json")
	if err := Save(in, fixture()); err != nil {
		t.Fatal(err)
	}
	f, err := Load(in)
	if err != nil {
		t.Fatal(err)
	}
	md := Markdown(f, DefaultAssumptions(), "bench/capacity.json")
	for _, want := range []string{
		"## Inputs",
		"| worker cores | 1,000/s × 50.0 CPU-ms ÷ 1000 ÷ 0.6 | 83.3 | 84 cores (11 hosts of 8) |",
		"| Redis topology | | | Redis Cluster, 2 masters with a replica each; REDIS_QUEUE_SHARDS=6 |",
		"### 100,000 events/s",
		"- **predicted gain 1.50× (15.0 ÷ 10.0), measured gain 1.20× (12.0 ÷ 10.0)**",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("Markdown lacks %q", want)
		}
	}
}

// TestDocIsGenerated fails when docs/capacity.md is not what the generator
// makes of bench/capacity.json: the document is never edited by hand.
func TestDocIsGenerated(t *testing.T) {
	f, err := Load(filepath.Join("..", "capacity.json"))
	if err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(filepath.Join("..", "..", "docs", "capacity.md"))
	if err != nil {
		t.Fatal(err)
	}
	want := Markdown(f, DefaultAssumptions(), "bench/capacity.json")
	if diff := cmp.Diff(want, string(got)); diff != "" {
		t.Errorf("docs/capacity.md is not generated from bench/capacity.json; run go run ./bench/capacitydoc (-want +got):\n%s", diff)
	}
}

func TestLessIdle(t *testing.T) {
	gross := Costs{CPUms: CPU{Worker: 50, Redis: 0.5}, RedisCommands: 50, RedisByCommand: map[string]float64{"evalsha": 10, "ping": 0.1},
		WALBytes: 6000, S3Requests: map[string]float64{"PUT": 1}}
	idle := Costs{CPUms: CPU{Worker: 10, Redis: 4}, RedisByCommand: map[string]float64{"evalsha": 20, "ping": 5}, WALBytes: 200}
	// Each report's pass lasted 0.1 s: 1 ms of the worker's idle, 0.4 of
	// Redis's, 2 evalsha, 0.5 ping (more than the 0.1 measured: none left).
	got := gross.LessIdle(idle, 0.1)
	want := Costs{CPUms: CPU{Worker: 49, Redis: 0.1}, RedisCommands: 8, RedisByCommand: map[string]float64{"evalsha": 8},
		WALBytes: 5980, S3Requests: map[string]float64{"PUT": 1}}
	if diff := cmp.Diff(want, got, cmpopts.EquateApprox(1e-9, 1e-12)); diff != "" {
		t.Errorf("LessIdle (-want +got):\n%s", diff)
	}
}
