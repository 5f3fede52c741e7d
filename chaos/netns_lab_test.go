//go:build chaosfull

package chaos

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// A netLab is a small private network made of Linux network namespaces: one
// "hub" namespace holds a bridge, and every host is a namespace of its own
// joined to the bridge by a veth pair, with an address in labSubnet. Nothing
// is added to the machine's own namespace, so the lab can neither clash with
// the host's networks nor outlive the test (Cleanup deletes the namespaces,
// and with them every veth).
//
// The test process stays in its own namespace: it reaches lab addresses with
// sockets opened inside a host's namespace (see netHost.do), so it only ever
// talks to 127.0.0.1 or to addresses inside namespaces it made.
type netLab struct {
	prefix string // namespace names start with it
	hub    string
	mu     sync.Mutex
	hosts  []*netHost
}

// netHost is one namespace on the lab's bridge.
type netHost struct {
	lab  *netLab
	name string
	ns   string
	ip   string
	port string // the veth end on the bridge, named in the hub namespace
}

// labSubnet is private to the lab's namespaces; the machine never routes it.
const labSubnet = "10.231.7."

// newNetLab makes the hub namespace and its bridge. It fails the test with
// the command and its output when namespaces cannot be made here.
func newNetLab(t *testing.T) *netLab {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Fatal("the netns scenarios need root (ip netns add, veth pairs)")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		t.Fatal("iproute2 (ip) is not installed: apt-get install iproute2")
	}
	removeStaleLabs(t)
	lab := &netLab{prefix: fmt.Sprintf("reportd-chaos-%d-", os.Getpid())}
	lab.hub = lab.prefix + "hub"
	t.Cleanup(func() { lab.destroy(t) })
	mustIP(t, "netns", "add", lab.hub)
	mustIP(t, "-n", lab.hub, "link", "set", "lo", "up")
	mustIP(t, "-n", lab.hub, "link", "add", "br0", "type", "bridge")
	mustIP(t, "-n", lab.hub, "link", "set", "br0", "up")
	return lab
}

// addHost makes namespace name with address labSubnet+octet on the bridge.
func (lab *netLab) addHost(t *testing.T, name string, octet int) *netHost {
	t.Helper()
	// The hub namespace is ours, so a short port name cannot clash.
	h := &netHost{lab: lab, name: name, ns: lab.prefix + name, ip: labSubnet + strconv.Itoa(octet), port: "port" + strconv.Itoa(octet)}
	lab.mu.Lock()
	lab.hosts = append(lab.hosts, h)
	lab.mu.Unlock()
	mustIP(t, "netns", "add", h.ns)
	mustIP(t, "-n", h.ns, "link", "set", "lo", "up")
	mustIP(t, "-n", lab.hub, "link", "add", h.port, "type", "veth", "peer", "name", "eth0", "netns", h.ns)
	mustIP(t, "-n", lab.hub, "link", "set", h.port, "master", "br0", "up")
	mustIP(t, "-n", h.ns, "addr", "add", h.ip+"/24", "dev", "eth0")
	mustIP(t, "-n", h.ns, "link", "set", "eth0", "up")
	return h
}

// cut drops every packet to and from the host, as a dead switch port or
// netem loss 100% would: the host's own link stays configured (it sees no
// carrier), its open TCP connections are not reset, and new ones time out.
func (h *netHost) cut(t *testing.T) {
	t.Helper()
	mustIP(t, "-n", h.lab.hub, "link", "set", h.port, "down")
}

// heal plugs the host back in.
func (h *netHost) heal(t *testing.T) {
	t.Helper()
	mustIP(t, "-n", h.lab.hub, "link", "set", h.port, "up")
}

// command runs name inside the host's namespace. ip netns exec execs the
// program, so the process is the one a signal reaches.
func (h *netHost) command(name string, args ...string) (string, []string) {
	return "ip", append([]string{"netns", "exec", h.ns, name}, args...)
}

// startProc runs bin on the host as a child process until the test ends.
func (h *netHost) startProc(t *testing.T, name, bin string, env []string, logDir string, args ...string) *proc {
	t.Helper()
	ip, argv := h.command(bin, args...)
	p := &proc{name: name, bin: ip, args: argv, env: env, logPath: logDir + "/" + name + ".log"}
	p.start(t)
	t.Cleanup(func() { p.stop(t) })
	return p
}

// do runs fn on an OS thread that has joined the host's namespace, so the
// sockets fn opens live there (a socket keeps its namespace for life). The
// thread goes back to its namespace afterwards; if that fails, the thread
// is left locked and dies with its goroutine instead of serving others.
func (h *netHost) do(fn func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		self, err := os.Open("/proc/thread-self/ns/net")
		if err != nil {
			errc <- fmt.Errorf("open own netns: %w", err)
			return
		}
		defer self.Close()
		target, err := os.Open("/run/netns/" + h.ns)
		if err != nil {
			errc <- fmt.Errorf("open netns %s: %w", h.ns, err)
			return
		}
		defer target.Close()
		if err := setns(target); err != nil {
			errc <- fmt.Errorf("enter netns %s: %w", h.ns, err)
			return
		}
		errc <- fn()
		if setns(self) == nil {
			runtime.UnlockOSThread()
		}
	}()
	return <-errc
}

func setns(f *os.File) error { return unix.Setns(int(f.Fd()), unix.CLONE_NEWNET) }

// dial opens a TCP connection from inside the host's namespace.
func (h *netHost) dial(ctx context.Context, addr string) (net.Conn, error) {
	var c net.Conn
	err := h.do(func() error {
		var err error
		c, err = (&net.Dialer{Timeout: 5 * time.Second}).DialContext(ctx, "tcp", addr)
		return err
	})
	return c, err
}

// listen opens a TCP listener inside the host's namespace.
func (h *netHost) listen(addr string) (net.Listener, error) {
	var ln net.Listener
	err := h.do(func() error {
		var err error
		ln, err = net.Listen("tcp", addr)
		return err
	})
	return ln, err
}

// waitTCP waits until addr, seen from the host, accepts connections.
func (h *netHost) waitTCP(t *testing.T, what, addr string, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		c, err := h.dial(context.Background(), addr)
		if err == nil {
			c.Close()
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s on %s (from %s) did not come up within %s: %v", what, addr, h.name, timeout, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// destroy deletes every namespace of the lab; their veths go with them.
func (lab *netLab) destroy(t *testing.T) {
	t.Helper()
	lab.mu.Lock()
	defer lab.mu.Unlock()
	for _, h := range lab.hosts {
		if out, err := exec.Command("ip", "netns", "del", h.ns).CombinedOutput(); err != nil {
			t.Logf("ip netns del %s: %v %s", h.ns, err, out)
		}
	}
	if out, err := exec.Command("ip", "netns", "del", lab.hub).CombinedOutput(); err != nil {
		t.Logf("ip netns del %s: %v %s", lab.hub, err, out)
	}
}

// removeStaleLabs deletes the namespaces of labs whose test process died
// before its cleanup ran (a SIGKILLed go test).
func removeStaleLabs(t *testing.T) {
	t.Helper()
	out, err := exec.Command("ip", "netns", "list").Output()
	if err != nil {
		return
	}
	for line := range strings.Lines(string(out)) {
		name, _, _ := strings.Cut(strings.TrimSpace(line), " ")
		rest, ok := strings.CutPrefix(name, "reportd-chaos-")
		if !ok {
			continue
		}
		pidStr, _, _ := strings.Cut(rest, "-")
		pid, err := strconv.Atoi(pidStr)
		if err != nil || pid == os.Getpid() || syscall.Kill(pid, 0) == nil {
			continue
		}
		if out, err := exec.Command("ip", "netns", "del", name).CombinedOutput(); err != nil {
			t.Logf("remove stale namespace %s: %v %s", name, err, out)
		}
	}
}

func mustIP(t *testing.T, args ...string) {
	t.Helper()
	if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
		t.Fatalf("ip %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// relay is a TCP forwarder run by the test: it accepts on one side and dials
// the other, optionally holding every byte from the server for a delay.
//
// This kernel has no netem (CONFIG_NET_SCH_NETEM is not set and modules
// cannot be loaded), so the Postgres latency fault is this relay placed in
// front of Postgres on the services host: every reply waits delay before it
// leaves, the way `tc qdisc add dev <pg link> root netem delay 200ms` delays
// what Postgres sends. It also lets the test reach the API from 127.0.0.1.
type relay struct {
	ln    net.Listener
	dial  func(context.Context) (net.Conn, error)
	delay atomic.Int64 // nanoseconds added to the server → client direction

	mu    sync.Mutex
	conns map[net.Conn]struct{}
	wg    sync.WaitGroup
}

func newRelay(t *testing.T, ln net.Listener, dial func(context.Context) (net.Conn, error)) *relay {
	t.Helper()
	r := &relay{ln: ln, dial: dial, conns: map[net.Conn]struct{}{}}
	r.wg.Go(r.serve)
	t.Cleanup(r.close)
	return r
}

func (r *relay) addr() string { return r.ln.Addr().String() }

func (r *relay) setDelay(d time.Duration) { r.delay.Store(int64(d)) }

func (r *relay) serve() {
	for {
		c, err := r.ln.Accept()
		if err != nil {
			return
		}
		r.wg.Go(func() { r.pipe(c) })
	}
}

func (r *relay) track(c net.Conn) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.conns == nil {
		c.Close()
		return false
	}
	r.conns[c] = struct{}{}
	return true
}

func (r *relay) pipe(client net.Conn) {
	if !r.track(client) {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	server, err := r.dial(ctx)
	cancel()
	if err != nil {
		client.Close()
		return
	}
	if !r.track(server) {
		client.Close()
		return
	}
	var wg sync.WaitGroup
	wg.Go(func() { copyThenClose(server, client) })
	wg.Go(func() { r.delayedCopy(client, server) })
	wg.Wait()
	r.mu.Lock()
	delete(r.conns, client)
	delete(r.conns, server)
	r.mu.Unlock()
}

func copyThenClose(dst, src net.Conn) {
	_, _ = io.Copy(dst, src)
	dst.Close()
	src.Close()
}

// delayedCopy forwards src to dst, each chunk leaving delay after it
// arrived; chunks keep their order and are not serialised behind each
// other's delay, as on a long link.
func (r *relay) delayedCopy(dst, src net.Conn) {
	type chunk struct {
		b   []byte
		due time.Time
	}
	q := make(chan chunk, 1024)
	go func() {
		defer close(q)
		for {
			b := make([]byte, 32<<10)
			n, err := src.Read(b)
			if n > 0 {
				q <- chunk{b[:n], time.Now().Add(time.Duration(r.delay.Load()))}
			}
			if err != nil {
				return
			}
		}
	}()
	for c := range q {
		time.Sleep(time.Until(c.due))
		if _, err := dst.Write(c.b); err != nil {
			break
		}
	}
	dst.Close()
	src.Close()
	// Drain, so the reader goroutine can end.
	for range q {
	}
}

func (r *relay) close() {
	r.ln.Close()
	r.mu.Lock()
	for c := range r.conns {
		c.Close()
	}
	r.conns = nil
	r.mu.Unlock()
	r.wg.Wait()
}
