package main

import (
	"os"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestWALDiff(t *testing.T) {
	got := []float64{walDiff("0/16B3748", "0/16B3848"), walDiff("0/FFFFFFFF", "1/0"), walDiff("junk", "0/10")}
	want := []float64{256, 1, 16}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("walDiff (-want +got):\n%s", diff)
	}
}

func TestProcCPUReadsThisProcess(t *testing.T) {
	ms, ppid, err := procCPU(os.Getpid(), false)
	if err != nil {
		t.Fatal(err)
	}
	if ppid != os.Getppid() || ms < 0 {
		t.Errorf("procCPU(self) = %v ms, ppid %d; want ≥ 0 ms, ppid %d", ms, ppid, os.Getppid())
	}
	withChildren, _, err := procCPU(os.Getpid(), true)
	if err != nil {
		t.Fatal(err)
	}
	if withChildren < ms {
		t.Errorf("CPU with exited children %v ms < own %v ms", withChildren, ms)
	}
}

func TestSnapshotCosts(t *testing.T) {
	a := snapshot{redis: map[string]float64{"evalsha": 10, "info": 3}, statements: 100, walLSN: "0/1000",
		s3: map[string]float64{"PUT": 1}}
	b := snapshot{redis: map[string]float64{"evalsha": 30, "info": 9, "hset": 4}, statements: 140, walLSN: "0/3000",
		s3: map[string]float64{"PUT": 3, "HEAD": 2}, s3Up: 1000}
	b.cpu.Worker = 80
	got := b.costs(a, 2)
	if diff := cmp.Diff(map[string]float64{"evalsha": 10, "hset": 2}, got.RedisByCommand); diff != "" {
		t.Errorf("redis by command, INFO left out (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]float64{12, 20, 4096, 40, 500, 2}, []float64{got.RedisCommands, got.PostgresStatements, got.WALBytes, got.CPUms.Worker, got.S3BytesUp, got.S3Total()}); diff != "" {
		t.Errorf("costs per unit (-want +got):\n%s", diff)
	}
}
