package chaos

import (
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"
)

// suiteServices are a Postgres and a Redis server of the suite's own, which
// every stack uses for its database and its Redis database (through
// pgtest's TEST_DATABASE_URL and testenv's TEST_REDIS_ADDR). The scenarios
// run side by side; each stack opens up to ~50 connections, so on the
// shared Postgres (max_connections 100, shared with every other test
// package) they ran out of connections, and the shared Redis has only 15
// databases to lease. A private pair costs about two seconds and isolates
// the suite from the rest of `make test` both ways.
type suiteServices struct {
	dir        string
	pgBindir   string
	pgData     string
	asPostgres bool
	redis      *exec.Cmd
	redisDone  chan struct{}
	env        []string // TEST_DATABASE_URL=…, TEST_REDIS_ADDR=…
}

// suitePostgresMaxConns leaves room for shortParallel stacks, each with
// an api, a worker and a harness pool of up to 24 connections, and pgtest.
const suitePostgresMaxConns = 600

// suiteRedisDatabases: one leased database per stack and per testenv.New.
const suiteRedisDatabases = 64

// startSuiteServices starts both servers unless TEST_DATABASE_URL or
// TEST_REDIS_ADDR already name servers to use, and sets those variables
// for the tests of this process.
func startSuiteServices() (*suiteServices, error) {
	dir, err := os.MkdirTemp("", "reportd-chaos-suite-") //nolint:usetesting // no testing.T in TestMain
	if err != nil {
		return nil, err
	}
	s := &suiteServices{dir: dir, asPostgres: os.Geteuid() == 0}
	if os.Getenv("TEST_DATABASE_URL") == "" {
		url, err := s.startPostgres()
		if err != nil {
			s.stop()
			return nil, fmt.Errorf("start the suite's postgres: %w", err)
		}
		s.env = append(s.env, "TEST_DATABASE_URL="+url)
	}
	if os.Getenv("TEST_REDIS_ADDR") == "" {
		addr, err := s.startRedis()
		if err != nil {
			s.stop()
			return nil, fmt.Errorf("start the suite's redis: %w", err)
		}
		s.env = append(s.env, "TEST_REDIS_ADDR="+addr)
	}
	for _, kv := range s.env {
		k, v, _ := strings.Cut(kv, "=")
		if err := os.Setenv(k, v); err != nil {
			s.stop()
			return nil, err
		}
	}
	return s, nil
}

func (s *suiteServices) startPostgres() (string, error) {
	bindir, err := newestPGBindir()
	if err != nil {
		return "", err
	}
	s.pgBindir = bindir
	if s.asPostgres {
		// initdb refuses to run as root; the data directory goes to postgres.
		u, err := user.Lookup("postgres")
		if err != nil {
			return "", fmt.Errorf("look up user postgres: %w", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		if err := os.Chown(s.dir, uid, gid); err != nil {
			return "", err
		}
	}
	port, err := freeLoopbackPort()
	if err != nil {
		return "", err
	}
	s.pgData = filepath.Join(s.dir, "pg")
	if err := s.pgTool("initdb", "-D", s.pgData, "-A", "trust", "-U", "postgres", "--no-sync"); err != nil {
		return "", err
	}
	// Throwaway data: durability settings off, as in the other private servers.
	opts := fmt.Sprintf("-p %s -k %s -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off"+
		" -c full_page_writes=off -c max_connections=%d", port, s.dir, suitePostgresMaxConns)
	if err := s.pgTool("pg_ctl", "-D", s.pgData, "-o", opts, "-l", filepath.Join(s.dir, "pg.log"), "-w", "-t", "60", "start"); err != nil {
		s.pgData = "" // nothing to stop
		return "", err
	}
	return "postgres://postgres@127.0.0.1:" + port + "/postgres?sslmode=disable", nil
}

func (s *suiteServices) pgTool(tool string, args ...string) error {
	name := filepath.Join(s.pgBindir, tool)
	if s.asPostgres {
		args = append([]string{"-u", "postgres", "--", name}, args...)
		name = "runuser"
	}
	cmd := exec.Command(name, args...)
	cmd.Dir = s.dir
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("%s %s: %w\n%s", tool, strings.Join(args, " "), err, out)
	}
	return nil
}

func (s *suiteServices) startRedis() (string, error) {
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		return "", errors.New("redis-server is not installed: run scripts/dev-services.sh up (it installs it)")
	}
	port, err := freeLoopbackPort()
	if err != nil {
		return "", err
	}
	logf, err := os.Create(filepath.Join(s.dir, "redis.log"))
	if err != nil {
		return "", err
	}
	cmd := exec.Command(bin, "--port", port, "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
		"--dir", s.dir, "--databases", strconv.Itoa(suiteRedisDatabases), "--maxmemory-policy", "noeviction")
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		logf.Close()
		return "", err
	}
	s.redis, s.redisDone = cmd, make(chan struct{})
	go func() {
		_ = cmd.Wait()
		logf.Close()
		close(s.redisDone)
	}()
	addr := net.JoinHostPort("127.0.0.1", port)
	deadline := time.Now().Add(20 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			return addr, nil
		}
		if time.Now().After(deadline) {
			log, _ := os.ReadFile(filepath.Join(s.dir, "redis.log"))
			return "", fmt.Errorf("redis-server on %s did not come up within 20s: %w\n%s", addr, err, log)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// stop ends both servers (Postgres immediately: its data is thrown away).
func (s *suiteServices) stop() {
	if s.pgData != "" {
		_ = s.pgTool("pg_ctl", "-D", s.pgData, "-m", "immediate", "-w", "stop")
	}
	if s.redis != nil {
		_ = s.redis.Process.Kill()
		<-s.redisDone
	}
	_ = os.RemoveAll(s.dir)
}

// newestPGBindir is the bin directory of the newest installed PostgreSQL.
func newestPGBindir() (string, error) {
	initdbs, _ := filepath.Glob("/usr/lib/postgresql/*/bin/initdb")
	if len(initdbs) == 0 {
		return "", errors.New("no /usr/lib/postgresql/*/bin/initdb: run scripts/dev-services.sh up (it installs PostgreSQL)")
	}
	version := func(path string) int {
		v, _ := strconv.Atoi(filepath.Base(filepath.Dir(filepath.Dir(path))))
		return v
	}
	sort.Slice(initdbs, func(i, j int) bool { return version(initdbs[i]) < version(initdbs[j]) })
	return filepath.Dir(initdbs[len(initdbs)-1]), nil
}

func freeLoopbackPort() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	return port, nil
}
