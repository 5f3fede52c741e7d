//go:build chaosfull

package chaos

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// The private services below run on ports of their own, so restarting them
// never disturbs the shared dev services or other engineers' tests.

// privatePostgres is a throwaway cluster made with initdb, trust auth.
type privatePostgres struct {
	dir, bindir, port string
	asPostgres        bool
}

func pgBindir(t *testing.T) string {
	t.Helper()
	dir, err := newestPGBindir()
	if err != nil {
		t.Fatal(err)
	}
	return dir
}

func startPostgres(t *testing.T) *privatePostgres {
	t.Helper()
	dir, err := os.MkdirTemp("", "reportd-chaos-pg-") //nolint:usetesting // chowned to user postgres, who cannot enter t.TempDir's 0700 root-owned parent
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	_, port, _ := net.SplitHostPort(freeAddr(t))
	pg := &privatePostgres{dir: dir, bindir: pgBindir(t), port: port, asPostgres: os.Geteuid() == 0}
	if pg.asPostgres {
		// initdb refuses to run as root.
		u, err := user.Lookup("postgres")
		if err != nil {
			t.Fatalf("look up user postgres: %v", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		if err := os.Chown(dir, uid, gid); err != nil {
			t.Fatal(err)
		}
	}
	pg.run(t, "initdb", "-D", filepath.Join(dir, "data"), "-A", "trust", "-U", "postgres", "--no-sync")
	t.Cleanup(func() { pg.stop(t, "immediate") })
	pg.start(t)
	return pg
}

func (pg *privatePostgres) run(t *testing.T, tool string, args ...string) {
	t.Helper()
	name := filepath.Join(pg.bindir, tool)
	if pg.asPostgres {
		args = append([]string{"-u", "postgres", "--", name}, args...)
		name = "runuser"
	}
	cmd := exec.Command(name, args...)
	cmd.Dir = pg.dir
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s %s: %v\n%s", tool, strings.Join(args, " "), err, out)
	}
}

func (pg *privatePostgres) start(t *testing.T) {
	t.Helper()
	opts := fmt.Sprintf("-p %s -k %s -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200", pg.port, pg.dir)
	pg.run(t, "pg_ctl", "-D", filepath.Join(pg.dir, "data"), "-o", opts, "-l", filepath.Join(pg.dir, "log"), "-w", "-t", "60", "start")
}

// stop stops the cluster; mode "immediate" is a crash, "fast" a clean stop.
func (pg *privatePostgres) stop(t *testing.T, mode string) {
	t.Helper()
	cmd := exec.Command(filepath.Join(pg.bindir, "pg_ctl"), "-D", filepath.Join(pg.dir, "data"), "-m", mode, "-w", "stop")
	if pg.asPostgres {
		cmd = exec.Command("runuser", append([]string{"-u", "postgres", "--"}, cmd.Args...)...)
	}
	_ = cmd.Run() // already stopped is fine
}

func (pg *privatePostgres) url() string {
	return "postgres://postgres@127.0.0.1:" + pg.port + "/postgres?sslmode=disable"
}
