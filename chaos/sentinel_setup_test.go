package chaos

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// haScript runs scripts/ha-NAME.sh with env added to this process's
// environment and returns its standard output. The scripts are the one way
// the HA set-ups are started, by people and by these tests alike.
func haScript(t *testing.T, name string, env []string, args ...string) string {
	t.Helper()
	out, err := runHAScript(name, env, args...)
	if err != nil {
		t.Fatalf("scripts/ha-%s.sh %s: %v", name, strings.Join(args, " "), err)
	}
	return out
}

func runHAScript(name string, env []string, args ...string) (string, error) {
	path, err := filepath.Abs(filepath.Join("..", "scripts", "ha-"+name+".sh"))
	if err != nil {
		return "", err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", append([]string{path}, args...)...)
	cmd.Env = append(os.Environ(), env...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return string(out), fmt.Errorf("%w\n%s%s", err, out, stderr.String())
	}
	return string(out), nil
}

// sentinelSet is scripts/ha-sentinel.sh's set-up on free loopback ports:
// two data nodes (the first starts as master) and three sentinels.
type sentinelSet struct {
	env      []string
	password string
	nodes    []string // data node ports
}

func freePort(t *testing.T) string {
	t.Helper()
	_, port, _ := net.SplitHostPort(freeAddr(t))
	return port
}

func startSentinelSet(t *testing.T) *sentinelSet {
	t.Helper()
	if _, err := exec.LookPath("redis-server"); err != nil {
		t.Fatal("redis-server is not installed: run scripts/dev-services.sh up (it installs it)")
	}
	set := &sentinelSet{password: "chaos-sentinel-pw", nodes: []string{freePort(t), freePort(t)}}
	sentinels := []string{freePort(t), freePort(t), freePort(t)}
	set.env = []string{
		"HA_DIR=" + t.TempDir(),
		"HA_MASTER_NAME=chaos",
		"HA_REDIS_PORTS=" + strings.Join(set.nodes, ","),
		"HA_SENTINEL_PORTS=" + strings.Join(sentinels, ","),
		// A password proves the URL's credentials reach the sentinels and the master.
		"HA_REDIS_PASSWORD=" + set.password,
		"HA_DOWN_AFTER_MS=1000",
		"HA_FAILOVER_TIMEOUT_MS=5000",
	}
	t.Cleanup(func() {
		if out, err := runHAScript("sentinel", set.env, "down"); err != nil {
			t.Errorf("scripts/ha-sentinel.sh down: %v %s", err, out)
		}
	})
	started := time.Now()
	haScript(t, "sentinel", set.env, "up")
	t.Logf("sentinel set-up on nodes %v, sentinels %v ready in %s", set.nodes, sentinels, time.Since(started).Round(100*time.Millisecond))
	return set
}

func (s *sentinelSet) url(t *testing.T) string {
	t.Helper()
	return strings.TrimSpace(haScript(t, "sentinel", s.env, "url"))
}

func (s *sentinelSet) master(t *testing.T) string {
	t.Helper()
	return strings.TrimSpace(haScript(t, "sentinel", s.env, "master"))
}

// killMaster SIGKILLs the current master and returns its port.
func (s *sentinelSet) killMaster(t *testing.T) string {
	t.Helper()
	return strings.TrimSpace(haScript(t, "sentinel", s.env, "kill-master"))
}

// waitFailover waits until the sentinels name a master other than old.
func (s *sentinelSet) waitFailover(t *testing.T, old string, timeout time.Duration) string {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		out, err := runHAScript("sentinel", s.env, "master")
		if m := strings.TrimSpace(out); err == nil && m != "" && m != old {
			return m
		}
		if time.Now().After(deadline) {
			t.Fatalf("the sentinels still name %s (or nothing: %v) as master %s after its SIGKILL\n%s",
				old, err, timeout, haScript(t, "sentinel", s.env, "status"))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// restart starts a killed node again and waits until it is a healthy replica.
func (s *sentinelSet) restart(t *testing.T, port string) {
	t.Helper()
	haScript(t, "sentinel", s.env, "start", port)
	haScript(t, "sentinel", s.env, "wait-replicas", "1")
}
