package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/redis/go-redis/v9"
)

// privateServices are a Redis, a PostgreSQL and an S3 gateway of the
// capacity stage's own, on free loopback ports, so that the counters it
// reads (INFO commandstats, pg_stat_statements, WAL position, the CPU of
// each server) count nothing but reportd's work. The shared services of
// scripts/dev-services.sh are never touched.
type privateServices struct {
	dir              string
	pgData, pgBin    string
	pgPort           int
	redisAddr        string
	redisCmd, vgwCmd *exec.Cmd
	s3Proxy          *s3Counter
	proxy            *httptest.Server
	stops            []func()
	pgOwner          *user.User // the postgres user when we run as root (initdb refuses root)
	redisPID, vgwPID int
}

func freePort(ctx context.Context) (int, error) {
	addr, err := freeAddr(ctx)
	if err != nil {
		return 0, err
	}
	_, p, _ := net.SplitHostPort(addr)
	return strconv.Atoi(p)
}

// pgBinDir is the newest /usr/lib/postgresql/*/bin, as scripts/ha-postgres.sh picks it.
func pgBinDir() (string, error) {
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	best, bestV := "", -1
	for _, d := range dirs {
		v, err := strconv.Atoi(filepath.Base(filepath.Dir(d)))
		if err == nil && v > bestV {
			best, bestV = d, v
		}
	}
	if best == "" {
		return "", errors.New("no /usr/lib/postgresql/*/bin: run scripts/dev-services.sh up (it installs PostgreSQL)")
	}
	return best, nil
}

func startPrivateServices(ctx context.Context, logDir string) (*privateServices, error) {
	s := &privateServices{}
	ok := false
	defer func() {
		if !ok {
			s.close()
		}
	}()
	var err error
	if s.dir, err = os.MkdirTemp("", "reportd-capacity-"); err != nil {
		return nil, err
	}
	s.stops = append(s.stops, func() { _ = os.RemoveAll(s.dir) })
	if err := s.startPostgres(ctx, logDir); err != nil {
		return nil, fmt.Errorf("private postgres: %w", err)
	}
	if err := s.startRedis(ctx, logDir); err != nil {
		return nil, fmt.Errorf("private redis: %w", err)
	}
	if err := s.startS3(ctx, logDir); err != nil {
		return nil, fmt.Errorf("private s3 gateway: %w", err)
	}
	ok = true
	return s, nil
}

// asPG runs a PostgreSQL server tool as the data directory's owner.
func (s *privateServices) asPG(ctx context.Context, name string, args ...string) *exec.Cmd {
	bin := filepath.Join(s.pgBin, name)
	if s.pgOwner != nil {
		return exec.CommandContext(ctx, "runuser", append([]string{"-u", s.pgOwner.Username, "--", bin}, args...)...) //nolint:gosec // fixed tools, our arguments
	}
	return exec.CommandContext(ctx, bin, args...) //nolint:gosec // fixed tools, our arguments
}

func (s *privateServices) startPostgres(ctx context.Context, logDir string) error {
	var err error
	if s.pgBin, err = pgBinDir(); err != nil {
		return err
	}
	if _, err := os.Stat(filepath.Join(s.pgBin, "..", "..", "..", "..", "share", "postgresql", filepath.Base(filepath.Dir(s.pgBin)), "extension", "pg_stat_statements.control")); err != nil {
		return fmt.Errorf("pg_stat_statements is not installed next to %s: %w", s.pgBin, err)
	}
	s.pgData = filepath.Join(s.dir, "pg")
	if os.Geteuid() == 0 {
		if s.pgOwner, err = user.Lookup("postgres"); err != nil {
			return fmt.Errorf("running as root needs the postgres user for initdb: %w", err)
		}
		uid, _ := strconv.Atoi(s.pgOwner.Uid)
		gid, _ := strconv.Atoi(s.pgOwner.Gid)
		if err := os.Chown(s.dir, uid, gid); err != nil {
			return err
		}
	}
	if out, err := s.asPG(ctx, "initdb", "-D", s.pgData, "-A", "trust", "-U", "postgres", "--no-sync").CombinedOutput(); err != nil {
		return fmt.Errorf("initdb: %w\n%s", err, out)
	}
	if s.pgPort, err = freePort(ctx); err != nil {
		return err
	}
	opts := fmt.Sprintf("-p %d -c listen_addresses=127.0.0.1 -c unix_socket_directories=%s -c shared_preload_libraries=pg_stat_statements -c max_connections=200",
		s.pgPort, s.dir)
	logFile := filepath.Join(s.dir, "postgres.log")
	if out, err := s.asPG(ctx, "pg_ctl", "-D", s.pgData, "-w", "-t", "60", "-l", logFile, "-o", opts, "start").CombinedOutput(); err != nil {
		log, _ := os.ReadFile(logFile)
		return fmt.Errorf("pg_ctl start: %w\n%s\n%s", err, out, log)
	}
	s.stops = append(s.stops, func() {
		log, _ := os.ReadFile(logFile)
		_ = os.WriteFile(filepath.Join(logDir, "capacity-postgres.log"), log, 0o600)
		_ = s.asPG(context.Background(), "pg_ctl", "-D", s.pgData, "-m", "fast", "-w", "stop").Run()
	})
	admin, err := pgx.Connect(ctx, s.pgURL("postgres", "postgres"))
	if err != nil {
		return err
	}
	defer admin.Close(ctx)
	// The api and the worker connect as reportd, the harness as postgres,
	// so pg_stat_statements can tell their statements from the harness's.
	for _, q := range []string{"CREATE ROLE reportd LOGIN SUPERUSER", "CREATE DATABASE reportd OWNER reportd"} {
		if _, err := admin.Exec(ctx, q); err != nil {
			return fmt.Errorf("%s: %w", q, err)
		}
	}
	db, err := pgx.Connect(ctx, s.pgURL("postgres", "reportd"))
	if err != nil {
		return err
	}
	defer db.Close(ctx)
	_, err = db.Exec(ctx, "CREATE EXTENSION pg_stat_statements")
	return err
}

func (s *privateServices) pgURL(role, db string) string {
	return fmt.Sprintf("postgres://%s@127.0.0.1:%d/%s?sslmode=disable", role, s.pgPort, db)
}

// postmasterPID is the first line of postmaster.pid.
func (s *privateServices) postmasterPID() (int, error) {
	b, err := os.ReadFile(filepath.Join(s.pgData, "postmaster.pid"))
	if err != nil {
		return 0, err
	}
	first, _, _ := strings.Cut(string(b), "\n")
	return strconv.Atoi(strings.TrimSpace(first))
}

// startChild runs a server until close and waits until ready() holds.
func (s *privateServices) startChild(ctx context.Context, logPath string, env []string, ready func() bool, name string, args ...string) (*exec.Cmd, error) {
	logf, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	cmd := exec.CommandContext(context.WithoutCancel(ctx), name, args...) //nolint:gosec // fixed servers, our arguments
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		logf.Close()
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	s.stops = append(s.stops, func() {
		_ = cmd.Process.Signal(os.Interrupt)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
		logf.Close()
	})
	deadline := time.Now().Add(60 * time.Second)
	for !ready() {
		select {
		case <-exited:
			return nil, fmt.Errorf("%s exited at start-up (log: %s)", name, logPath)
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("%s not ready within 60s (log: %s)", name, logPath)
		}
	}
	return cmd, nil
}

func (s *privateServices) startRedis(ctx context.Context, logDir string) error {
	port, err := freePort(ctx)
	if err != nil {
		return err
	}
	s.redisAddr = fmt.Sprintf("127.0.0.1:%d", port)
	rc := redis.NewClient(&redis.Options{Addr: s.redisAddr})
	defer rc.Close()
	s.redisCmd, err = s.startChild(ctx, filepath.Join(logDir, "capacity-redis.log"), nil,
		func() bool { return rc.Ping(ctx).Err() == nil },
		"redis-server", "--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
		"--maxmemory-policy", "noeviction", "--dir", s.dir)
	if err != nil {
		return err
	}
	s.redisPID = s.redisCmd.Process.Pid
	return nil
}

func (s *privateServices) startS3(ctx context.Context, logDir string) error {
	bin, err := versitygwBin(ctx)
	if err != nil {
		return err
	}
	port, err := freePort(ctx)
	if err != nil {
		return err
	}
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	data := filepath.Join(s.dir, "s3")
	if err := os.MkdirAll(data, 0o700); err != nil {
		return err
	}
	s.vgwCmd, err = s.startChild(ctx, filepath.Join(logDir, "capacity-versitygw.log"),
		[]string{"ROOT_ACCESS_KEY=reportd", "ROOT_SECRET_KEY=reportd-secret-key"},
		func() bool {
			c, err := net.DialTimeout("tcp", addr, time.Second)
			if err == nil {
				c.Close()
			}
			return err == nil
		}, bin, "--port", addr, "--quiet", "posix", data)
	if err != nil {
		return err
	}
	s.vgwPID = s.vgwCmd.Process.Pid
	target, _ := url.Parse("http://" + addr)
	s.s3Proxy = &s3Counter{proxy: httputil.NewSingleHostReverseProxy(target), requests: map[string]float64{}}
	s.proxy = httptest.NewServer(s.s3Proxy)
	s.stops = append(s.stops, s.proxy.Close)
	return nil
}

// versitygwBin finds the gateway where scripts/dev-services.sh puts it:
// on PATH, or in $(go env GOPATH)/bin.
func versitygwBin(ctx context.Context) (string, error) {
	if bin, err := exec.LookPath("versitygw"); err == nil {
		return bin, nil
	}
	if out, err := exec.CommandContext(ctx, "go", "env", "GOPATH").Output(); err == nil {
		bin := filepath.Join(strings.TrimSpace(string(out)), "bin", "versitygw")
		if _, err := os.Stat(bin); err == nil {
			return bin, nil
		}
	}
	return "", errors.New("versitygw is neither on PATH nor in $(go env GOPATH)/bin: scripts/dev-services.sh up installs it")
}

func (s *privateServices) close() {
	for i := len(s.stops) - 1; i >= 0; i-- {
		s.stops[i]()
	}
	s.stops = nil
}

// s3Counter is a reverse proxy that counts S3 requests by method and the
// bytes of their bodies. It keeps the Host header, so SigV4 signatures made
// for the proxy's address verify at the gateway.
type s3Counter struct {
	proxy    *httputil.ReverseProxy
	mu       sync.Mutex
	requests map[string]float64
	up, down float64
}

func (c *s3Counter) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body := &countingReader{r: r.Body}
	if r.Body != nil && r.Body != http.NoBody {
		r.Body = body
	}
	cw := &countingWriter{ResponseWriter: w}
	c.proxy.ServeHTTP(cw, r)
	c.mu.Lock()
	c.requests[r.Method]++
	c.up += float64(body.n.Load())
	c.down += float64(cw.n)
	c.mu.Unlock()
}

// read returns copies of the counters.
func (c *s3Counter) read() (map[string]float64, float64, float64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	m := make(map[string]float64, len(c.requests))
	for k, v := range c.requests {
		m[k] = v
	}
	return m, c.up, c.down
}

// countingReader counts atomically: the proxy's transport may still be
// reading the body in its own goroutine when ServeHTTP reads the count
// (a gateway that answers before it has read the whole body).
type countingReader struct {
	r io.ReadCloser
	n atomic.Int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n.Add(int64(n))
	return n, err
}

func (c *countingReader) Close() error { return c.r.Close() }

type countingWriter struct {
	http.ResponseWriter
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.ResponseWriter.Write(p)
	c.n += int64(n)
	return n, err
}

func (c *countingWriter) Unwrap() http.ResponseWriter { return c.ResponseWriter }

// procCPU is a process's user+system CPU in ms; with children it adds the
// CPU of its children that have exited (cutime+cstime).
func procCPU(pid int, children bool) (float64, int, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, 0, err
	}
	// The command name may hold spaces; the fields after it do not.
	i := strings.LastIndexByte(string(b), ')')
	if i < 0 {
		return 0, 0, fmt.Errorf("parse /proc/%d/stat", pid)
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 15 {
		return 0, 0, fmt.Errorf("parse /proc/%d/stat: %d fields", pid, len(f))
	}
	// f[0] is field 3 (state): ppid is field 4, utime 14, stime 15, cutime 16, cstime 17.
	ppid, _ := strconv.Atoi(f[1])
	sum := 0.0
	last := 12
	if children {
		last = 14
	}
	for _, v := range f[11 : last+1] {
		n, _ := strconv.ParseFloat(v, 64)
		sum += n
	}
	return sum * msPerTick, ppid, nil
}

// msPerTick is 1000 / CLK_TCK, which is 100 on every Linux reportd runs on.
const msPerTick = 10

// treeCPU is a server's CPU in ms: the parent's own and its exited
// children's, plus every live child's (Postgres: the postmaster and its backends).
func treeCPU(parent int) (float64, error) {
	total, _, err := procCPU(parent, true)
	if err != nil {
		return 0, err
	}
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return 0, err
	}
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == parent {
			continue
		}
		ms, ppid, err := procCPU(pid, false)
		if err == nil && ppid == parent {
			total += ms
		}
	}
	return total, nil
}

// redisCommandStats is INFO commandstats as calls per command.
func redisCommandStats(ctx context.Context, rc *redis.Client) (map[string]float64, error) {
	info, err := rc.Info(ctx, "commandstats").Result()
	if err != nil {
		return nil, err
	}
	out := map[string]float64{}
	sc := bufio.NewScanner(strings.NewReader(info))
	for sc.Scan() {
		name, rest, ok := strings.Cut(strings.TrimSpace(sc.Text()), ":")
		name, isCmd := strings.CutPrefix(name, "cmdstat_")
		if !ok || !isCmd {
			continue
		}
		for kv := range strings.SplitSeq(rest, ",") {
			if v, ok := strings.CutPrefix(kv, "calls="); ok {
				out[name], _ = strconv.ParseFloat(v, 64)
			}
		}
	}
	return out, nil
}
