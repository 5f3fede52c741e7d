package main

import (
	"context"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/reportd/reportd/bench/capacity"
)

// TestCapacityPipelineShortForm is the capacity stage with a tiny workload:
// the built api and worker on a private Postgres, Redis and S3 gateway,
// every counter read, the figures saved, loaded and turned into the
// document. Its figures are far too small to plan with; it proves the
// pipeline that `make bench` runs at full size.
func TestCapacityPipelineShortForm(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: starts a private PostgreSQL, Redis and S3 gateway and the built api and worker")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	dir := t.TempDir()
	build := exec.CommandContext(ctx, "go", "build", "-o", dir+"/", "./cmd/api", "./cmd/worker")
	build.Dir = ".."
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/api ./cmd/worker: %v\n%s", err, out)
	}
	c := config{
		apiBin: filepath.Join(dir, "api"), workerBin: filepath.Join(dir, "worker"), logDir: dir,
		customers: 2, orders: 20, workerConc: 4,
		capReports: 6, capEvents: 300, capBatch: 100, capIdle: time.Second,
		cmdline: "go test ./bench -run TestCapacityPipelineShortForm",
	}
	f, err := benchCapacity(ctx, c, t.Logf)
	if err != nil {
		t.Fatalf("capacity stage (needs redis-server, PostgreSQL 15+ with pg_stat_statements and versitygw: scripts/dev-services.sh up installs them; logs in %s): %v", dir, err)
	}
	r := f.PerReport
	checks := []struct {
		what string
		ok   bool
	}{
		{"one S3 PUT per report", r.S3Requests["PUT"] == 1},
		{"S3 bytes up per report", r.S3BytesUp > 0},
		{"worker CPU per report", r.CPUms.Worker > 0},
		{"Redis commands per report", r.RedisCommands > 0},
		{"Postgres statements per report", r.PostgresStatements > 0},
		{"Postgres commits per report", r.PostgresCommits > 0},
		{"WAL bytes per report", r.WALBytes > 0},
		{"events posted", f.Workload.Events > 0},
		{"WAL bytes per event", f.PerEvent.WALBytes > 0},
		{"event-log bytes per event", f.EventLogBytes > 0},
		{"Redis ceiling", f.RedisCeiling.OpsPerSec > 0},
		{"one-worker and two-worker passes", len(f.Scaling) == 2 && f.Scaling[0].Workers == 1 && f.Scaling[1].Workers == 2},
	}
	for _, ch := range checks {
		if !ch.ok {
			t.Errorf("%s: not measured; figures: %+v", ch.what, f)
		}
	}
	path := filepath.Join(dir, "capacity.json")
	if err := capacity.Save(path, f); err != nil {
		t.Fatal(err)
	}
	loaded, err := capacity.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	md := capacity.Markdown(loaded, capacity.DefaultAssumptions(), "capacity.json")
	for _, want := range []string{"### 1,000 reports/s", "### 100,000 events/s", "**predicted gain"} {
		if !strings.Contains(md, want) {
			t.Errorf("document lacks %q:\n%s", want, md)
		}
	}
}
