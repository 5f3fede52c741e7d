package natsingest_test

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/reportd/reportd/internal/config"
	"github.com/reportd/reportd/internal/domain"
	"github.com/reportd/reportd/internal/ids"
	"github.com/reportd/reportd/internal/natsingest"
	"github.com/reportd/reportd/internal/orderevents"
	"github.com/reportd/reportd/internal/testenv"
)

// natsServer is a nats-server of the test's own, on a free port, with its
// JetStream store in dir so a restart keeps the streams.
type natsServer struct {
	url, dir string
	port     int
	cmd      *exec.Cmd
}

func startNATSServer(t *testing.T) *natsServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	s := &natsServer{url: fmt.Sprintf("nats://127.0.0.1:%d", port), dir: t.TempDir(), port: port}
	s.start(t)
	t.Cleanup(func() { s.stop(t) })
	return s
}

func (s *natsServer) start(t *testing.T) {
	t.Helper()
	bin, err := exec.LookPath("nats-server")
	if err != nil {
		t.Fatalf("nats-server is not installed: %v\ninstall it with: apt-get install nats-server (or scripts/dev-services.sh up)", err)
	}
	s.cmd = exec.Command(bin, "-a", "127.0.0.1", "-p", strconv.Itoa(s.port), "-js", "-sd", s.dir, "-l", filepath.Join(s.dir, "log"))
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, 10*time.Second, "nats-server listens", func() bool {
		c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", s.port))
		if err == nil {
			c.Close()
		}
		return err == nil
	})
}

func (s *natsServer) stop(t *testing.T) {
	t.Helper()
	if s.cmd != nil && s.cmd.Process != nil {
		_ = s.cmd.Process.Kill()
		_ = s.cmd.Wait()
		s.cmd = nil
	}
}

// writers says every client may write events.
type writers struct{}

func (writers) ClientScopes(context.Context, string) ([]string, error) {
	return []string{"events:write"}, nil
}

// recorder is an Appender that fails while failing() says so and records
// every event it accepts.
type recorder struct {
	mu      sync.Mutex
	calls   int
	fail    func(call int) error
	eventID map[string]int
}

func (r *recorder) Append(_ context.Context, _ string, events []orderevents.Event) (domain.AppendResult, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls++
	if r.fail != nil {
		if err := r.fail(r.calls); err != nil {
			return domain.AppendResult{}, err
		}
	}
	res := domain.AppendResult{}
	for _, e := range events {
		if r.eventID[e.EventID]++; r.eventID[e.EventID] == 1 {
			res.Accepted++
		} else {
			res.Duplicates++
		}
	}
	return res, nil
}

func (r *recorder) distinct() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.eventID)
}

type ingestRig struct {
	cfg    config.EventsNATS
	js     jetstream.JetStream
	client string
}

func newRig(t *testing.T, url string) *ingestRig {
	t.Helper()
	sfx := ids.Random(5)
	cfg := config.EventsNATS{
		URL: url, Subject: "t" + sfx + ".orders.events.>", Stream: "T" + sfx, Consumer: "c" + sfx,
		DLQSubject: "t" + sfx + ".dlq", DLQStream: "T" + sfx + "_DLQ", NakDelay: 100 * time.Millisecond, AckWait: 2 * time.Second,
	}
	nc, err := natsingest.Connect(cfg, "test-publisher", slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	return &ingestRig{cfg: cfg, js: js, client: ids.New("cli")}
}

// run starts an Ingester on its own connection until the test ends.
func (r *ingestRig) run(t *testing.T, events natsingest.Appender) (stop func()) {
	t.Helper()
	nc, err := natsingest.Connect(r.cfg, "test-ingester", slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	in := &natsingest.Ingester{JS: js, Events: events, Clients: writers{}, Logger: slog.New(slog.DiscardHandler), Config: r.cfg,
		SetupRetry: 100 * time.Millisecond}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- in.Run(ctx) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("ingester: %v", err)
			}
			nc.Close()
		})
	}
	t.Cleanup(stop)
	return stop
}

func (r *ingestRig) publish(t *testing.T, i int) {
	t.Helper()
	m := nats.NewMsg(r.cfg.Subject[:len(r.cfg.Subject)-1] + "shop")
	m.Header.Set(natsingest.HeaderClient, r.client)
	m.Data = fmt.Appendf(nil, `{"event_id":"evt_%d","order_id":"ord_%d","sequence":1,"type":"PaymentCaptured","occurred_at":"2026-02-03T10:00:00Z","data":{"amount_cents":1}}`, i, i)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := r.js.PublishMsg(ctx, m, jetstream.WithRetryAttempts(50), jetstream.WithRetryWait(100*time.Millisecond)); err != nil {
		t.Fatalf("publish %d: %v", i, err)
	}
}

func (r *ingestRig) settled(t *testing.T) bool {
	t.Helper()
	l, err := natsingest.ConsumerLag(context.Background(), r.js, r.cfg)
	return err == nil && l.Pending == 0 && l.AckPending == 0
}

// A transient failure (Postgres down) is nacked and redelivered until the
// append commits; the message is never dropped, and acked only then.
func TestTransientFailuresAreRedeliveredUntilCommitted(t *testing.T) {
	srv := startNATSServer(t)
	rig := newRig(t, srv.url)
	rec := &recorder{eventID: map[string]int{}, fail: func(call int) error {
		if call <= 3 {
			return fmt.Errorf("begin transaction: %w", domain.ErrUnavailable)
		}
		return nil
	}}
	rig.run(t, rec)
	testenv.Eventually(t, 10*time.Second, "the stream exists", func() bool {
		_, err := rig.js.Stream(context.Background(), rig.cfg.Stream)
		return err == nil
	})
	rig.publish(t, 1)
	testenv.Eventually(t, 20*time.Second, "the event is committed and acked", func() bool { return rec.distinct() == 1 && rig.settled(t) })
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if rec.calls != 4 || rec.eventID["evt_1"] != 1 {
		t.Fatalf("appends: %d calls, evt_1 stored %d times; want 4 calls (3 failures) and one store", rec.calls, rec.eventID["evt_1"])
	}
}

// The NATS server dies mid-stream and comes back: the ingester reconnects
// on its own and every event arrives.
func TestNATSServerRestartLosesNothing(t *testing.T) {
	srv := startNATSServer(t)
	rig := newRig(t, srv.url)
	rec := &recorder{eventID: map[string]int{}}
	rig.run(t, rec)
	testenv.Eventually(t, 10*time.Second, "the stream exists", func() bool {
		_, err := rig.js.Stream(context.Background(), rig.cfg.Stream)
		return err == nil
	})
	for i := range 50 {
		rig.publish(t, i)
	}
	testenv.Eventually(t, 20*time.Second, "some events arrive", func() bool { return rec.distinct() > 0 })
	srv.stop(t)
	srv.start(t)
	for i := 50; i < 100; i++ {
		rig.publish(t, i)
	}
	testenv.Eventually(t, 60*time.Second, "all 100 events arrive after the restart", func() bool { return rec.distinct() == 100 && rig.settled(t) })
}

// A consumer deleted under a running ingester is created again, and the
// stream is consumed from its start again (duplicates, which the log
// absorbs), so nothing published meanwhile is missed.
func TestDeletedConsumerIsCreatedAgain(t *testing.T) {
	srv := startNATSServer(t)
	rig := newRig(t, srv.url)
	rec := &recorder{eventID: map[string]int{}}
	rig.run(t, rec)
	testenv.Eventually(t, 10*time.Second, "the stream exists", func() bool {
		_, err := rig.js.Stream(context.Background(), rig.cfg.Stream)
		return err == nil
	})
	rig.publish(t, 1)
	testenv.Eventually(t, 10*time.Second, "the first event arrives", func() bool { return rec.distinct() == 1 })
	// nats-server 2.9 sometimes fails a delete racing its own writes
	// ("directory not empty"); the next try works.
	testenv.Eventually(t, 10*time.Second, "the consumer is deleted", func() bool {
		return rig.js.DeleteConsumer(context.Background(), rig.cfg.Stream, rig.cfg.Consumer) == nil
	})
	rig.publish(t, 2)
	testenv.Eventually(t, 30*time.Second, "the event published after the deletion arrives", func() bool { return rec.distinct() == 2 && rig.settled(t) })
}
