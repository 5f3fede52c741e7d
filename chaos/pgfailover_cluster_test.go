//go:build chaosfull

package chaos

import (
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// pgNode is one throwaway Postgres server made with initdb or
// pg_basebackup, run as user postgres (initdb refuses root), optionally on a
// netns host. A primary and its streaming replica are two pgNodes.
type pgNode struct {
	name       string
	dir        string // owned by postgres; data/ and the log live here
	bindir     string
	host, port string
	on         *netHost // nil: this machine's namespace
	asPostgres bool
	startOpts  []string // extra -c settings given at start
}

func newPGNode(t *testing.T, name, host, port string, on *netHost) *pgNode {
	t.Helper()
	dir, err := os.MkdirTemp("", "reportd-chaos-"+name+"-") //nolint:usetesting // chowned to user postgres, who cannot enter t.TempDir's 0700 root-owned parent
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	n := &pgNode{name: name, dir: dir, bindir: pgBindir(t), host: host, port: port, on: on, asPostgres: os.Geteuid() == 0}
	if n.asPostgres {
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
	return n
}

func (n *pgNode) data() string { return filepath.Join(n.dir, "data") }

// command builds tool's command line: as postgres, inside the host's namespace.
func (n *pgNode) command(tool string, args ...string) *exec.Cmd {
	name := filepath.Join(n.bindir, tool)
	if n.asPostgres {
		args = append([]string{"-u", "postgres", "--", name}, args...)
		name = "runuser"
	}
	if n.on != nil {
		name, args = n.on.command(name, args...)
	}
	cmd := exec.Command(name, args...)
	cmd.Dir = n.dir
	return cmd
}

func (n *pgNode) run(t *testing.T, tool string, args ...string) string {
	t.Helper()
	out, err := n.command(tool, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", tool, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// initPrimary makes a new cluster with conf appended to postgresql.conf and
// starts it.
func (n *pgNode) initPrimary(t *testing.T, conf ...string) {
	t.Helper()
	n.run(t, "initdb", "-D", n.data(), "-A", "trust", "-U", "postgres", "--no-sync")
	// initdb -A trust already allows replication from 127.0.0.1; lab hosts
	// connect from labSubnet.
	hba := []string{
		"host replication all 127.0.0.1/32 trust",
		"host all all " + labSubnet + "0/24 trust", //nolint:dupword // pg_hba's "database user" columns, both "all"
		"host replication all " + labSubnet + "0/24 trust",
	}
	appendFile(t, filepath.Join(n.data(), "pg_hba.conf"), strings.Join(hba, "\n")+"\n")
	appendFile(t, filepath.Join(n.data(), "postgresql.conf"), strings.Join(conf, "\n")+"\n")
	t.Cleanup(func() { n.stop(t, "immediate") })
	n.start(t)
}

// replicaOf copies primary with pg_basebackup -R (which writes
// standby.signal and primary_conninfo) and starts it as a streaming replica.
func (n *pgNode) replicaOf(t *testing.T, primary *pgNode) {
	t.Helper()
	n.run(t, "pg_basebackup", "-h", primary.host, "-p", primary.port, "-U", "postgres", "-D", n.data(), "-R", "-X", "stream", "--no-sync")
	t.Cleanup(func() { n.stop(t, "immediate") })
	n.start(t)
}

func appendFile(t *testing.T, path, text string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString(text); err != nil {
		t.Fatal(err)
	}
}

func (n *pgNode) start(t *testing.T) {
	t.Helper()
	opts := make([]string, 0, 1+len(n.startOpts))
	opts = append(opts, fmt.Sprintf("-p %s -k %s -c listen_addresses=%s -c fsync=off -c max_connections=200", n.port, n.dir, n.host))
	for _, o := range n.startOpts {
		opts = append(opts, "-c "+o)
	}
	n.run(t, "pg_ctl", "-D", n.data(), "-o", strings.Join(opts, " "), "-l", filepath.Join(n.dir, "log"), "-w", "-t", "60", "start")
}

// stop stops the server; already stopped (or crashed) is fine.
func (n *pgNode) stop(t *testing.T, mode string) {
	t.Helper()
	_ = n.command("pg_ctl", "-D", n.data(), "-m", mode, "-w", "stop").Run()
}

// crash SIGKILLs the postmaster and every backend at once, as a host that
// loses power would: nothing is flushed or said goodbye to.
func (n *pgNode) crash(t *testing.T) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(n.data(), "postmaster.pid"))
	if err != nil {
		t.Fatalf("read postmaster.pid of %s: %v", n.name, err)
	}
	first, _, _ := strings.Cut(string(b), "\n")
	pid, err := strconv.Atoi(strings.TrimSpace(first))
	if err != nil {
		t.Fatalf("postmaster.pid of %s: %q", n.name, first)
	}
	children := childPIDs(pid)
	_ = syscall.Kill(pid, syscall.SIGKILL)
	for _, c := range children {
		_ = syscall.Kill(c, syscall.SIGKILL)
	}
	deadline := time.Now().Add(10 * time.Second)
	for syscall.Kill(pid, 0) == nil && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
}

// childPIDs lists the processes whose parent is pid.
func childPIDs(pid int) []int {
	entries, _ := os.ReadDir("/proc")
	var out []int
	for _, e := range entries {
		child, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		// pid (comm) state ppid ...; comm may hold spaces, so split after ')'.
		s := string(b)
		fields := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
		if len(fields) > 1 && fields[1] == strconv.Itoa(pid) {
			out = append(out, child)
		}
	}
	return out
}

// promote turns a replica into a primary and waits until it accepts writes.
func (n *pgNode) promote(t *testing.T) {
	t.Helper()
	n.run(t, "pg_ctl", "-D", n.data(), "-w", "-t", "60", "promote")
}

// psql runs one statement on the node and returns its unaligned output.
func (n *pgNode) psql(t *testing.T, db, sql string) string {
	t.Helper()
	return strings.TrimSpace(n.run(t, "psql", "-X", "-A", "-t", "-h", n.host, "-p", n.port, "-U", "postgres", "-d", db, "-c", sql))
}

func (n *pgNode) addr() string { return n.host + ":" + n.port }

// multiHostURL names every node; pgx tries them in order and keeps the
// first that accepts writes, so the app follows a promotion by itself.
func multiHostURL(db string, nodes ...*pgNode) string {
	hosts := make([]string, len(nodes))
	for i, n := range nodes {
		hosts[i] = n.addr()
	}
	return "postgres://postgres@" + strings.Join(hosts, ",") + "/" + db + "?sslmode=disable&target_session_attrs=read-write"
}

// logTail returns the end of the server's log, for failure messages.
func (n *pgNode) logTail(lines int) string {
	b, _ := os.ReadFile(filepath.Join(n.dir, "log"))
	l := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	return strings.Join(l[max(0, len(l)-lines):], "\n")
}
