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
	dir       string
	pg        *localPostgres
	redis     *exec.Cmd
	redisDone chan struct{}
	env       []string // TEST_DATABASE_URL=…, TEST_REDIS_ADDR=…
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
	s := &suiteServices{dir: dir}
	if os.Getenv("TEST_DATABASE_URL") == "" {
		pg, err := newLocalPostgres("suite-pg", fmt.Sprintf("max_connections=%d", suitePostgresMaxConns))
		if err != nil {
			s.stop()
			return nil, fmt.Errorf("start the suite's postgres: %w", err)
		}
		s.pg = pg
		if err := pg.start(); err != nil {
			s.stop()
			return nil, fmt.Errorf("start the suite's postgres: %w", err)
		}
		s.env = append(s.env, "TEST_DATABASE_URL="+pg.url())
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
	if s.pg != nil {
		s.pg.close()
	}
	if s.redis != nil {
		_ = s.redis.Process.Kill()
		<-s.redisDone
	}
	_ = os.RemoveAll(s.dir)
}

// localPostgres is a throwaway Postgres cluster on 127.0.0.1 made with
// initdb: trust auth, fsync off. As root its tools run as user postgres
// (initdb refuses root), who then owns dir. The suite's server and
// TestPostgresRestart's are both one; the primary/replica pairs are
// pgNode (chaosfull) and scripts/ha-postgres.sh.
type localPostgres struct {
	dir, bindir, port string
	asPostgres        bool
	settings          []string // extra -c settings
}

// newLocalPostgres runs initdb in a new directory under os.TempDir (not a
// t.TempDir: user postgres cannot enter its root-owned 0700 parent); close
// removes it.
func newLocalPostgres(name string, settings ...string) (*localPostgres, error) {
	bindir, err := newestPGBindir()
	if err != nil {
		return nil, err
	}
	port, err := freeLoopbackPort()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "reportd-chaos-"+name+"-") //nolint:usetesting // see above
	if err != nil {
		return nil, err
	}
	pg := &localPostgres{dir: dir, bindir: bindir, port: port, asPostgres: os.Geteuid() == 0, settings: settings}
	if pg.asPostgres {
		u, err := user.Lookup("postgres")
		if err != nil {
			return nil, fmt.Errorf("look up user postgres: %w", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		if err := os.Chown(dir, uid, gid); err != nil {
			return nil, err
		}
	}
	if err := pg.tool("initdb", "-D", pg.data(), "-A", "trust", "-U", "postgres", "--no-sync"); err != nil {
		_ = os.RemoveAll(dir)
		return nil, err
	}
	return pg, nil
}

// close crashes the server if it runs (its data is thrown away) and
// removes its directory.
func (pg *localPostgres) close() {
	_ = pg.stop("immediate")
	_ = os.RemoveAll(pg.dir)
}

func (pg *localPostgres) data() string { return filepath.Join(pg.dir, "data") }

func (pg *localPostgres) start() error {
	opts := fmt.Sprintf("-p %s -k %s -c listen_addresses=127.0.0.1 -c fsync=off", pg.port, pg.dir)
	for _, o := range pg.settings {
		opts += " -c " + o
	}
	return pg.tool("pg_ctl", "-D", pg.data(), "-o", opts, "-l", filepath.Join(pg.dir, "log"), "-w", "-t", "60", "start")
}

// stop stops the cluster; mode "immediate" is a crash, "fast" a clean stop.
func (pg *localPostgres) stop(mode string) error {
	return pg.tool("pg_ctl", "-D", pg.data(), "-m", mode, "-w", "stop")
}

func (pg *localPostgres) url() string {
	return "postgres://postgres@127.0.0.1:" + pg.port + "/postgres?sslmode=disable"
}

func (pg *localPostgres) tool(name string, args ...string) error {
	bin := filepath.Join(pg.bindir, name)
	if pg.asPostgres {
		args = append([]string{"-u", "postgres", "--", bin}, args...)
		bin = "runuser"
	}
	cmd := exec.Command(bin, args...)
	cmd.Dir = pg.dir
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("%s %s: %w\n%s", name, strings.Join(args, " "), err, out)
	}
	return nil
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
