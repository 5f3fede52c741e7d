package e2e

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/reportd/reportd/internal/ids"
	"github.com/reportd/reportd/internal/natsingest"
	"github.com/reportd/reportd/internal/testenv"
)

const natsURL = "nats://127.0.0.1:4222"

// natsTopic is one test's own stream, consumer and subjects on the shared
// NATS server, so tests never see each other's messages.
type natsTopic struct {
	js                              jetstream.JetStream
	subject, dlqSubject             string // subject is a literal under the consumed filter
	stream, dlqStream, consumerName string
}

// newNatsTopic connects to NATS, names a fresh topic and returns the
// variables that point a worker at it. Its streams are deleted at the end.
func newNatsTopic(t *testing.T) (*natsTopic, map[string]string) {
	t.Helper()
	nc, err := nats.Connect(natsURL, nats.Timeout(5*time.Second))
	if err != nil {
		t.Fatalf("nats at %s: %v\nstart the local services with: scripts/dev-services.sh up", natsURL, err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	sfx := ids.Random(5)
	top := &natsTopic{
		js: js, subject: "t" + sfx + ".orders.events.shop", dlqSubject: "t" + sfx + ".orders.dlq",
		stream: "T" + sfx, dlqStream: "T" + sfx + "_DLQ", consumerName: "c" + sfx,
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = js.DeleteStream(ctx, top.stream)
		_ = js.DeleteStream(ctx, top.dlqStream)
	})
	return top, map[string]string{
		"EVENTS_NATS_URL":         natsURL,
		"EVENTS_NATS_SUBJECT":     "t" + sfx + ".orders.events.>",
		"EVENTS_NATS_STREAM":      top.stream,
		"EVENTS_NATS_CONSUMER":    top.consumerName,
		"EVENTS_NATS_DLQ_SUBJECT": top.dlqSubject,
		"EVENTS_NATS_DLQ_STREAM":  top.dlqStream,
		"EVENTS_NATS_NAK_DELAY":   "200ms",
		"EVENTS_NATS_ACK_WAIT":    "2s",
	}
}

// publish sends body for client (no header when client is ""), waiting for
// the stream to store it.
func (n *natsTopic) publish(t *testing.T, client, body string) {
	t.Helper()
	m := nats.NewMsg(n.subject)
	m.Data = []byte(body)
	if client != "" {
		m.Header.Set(natsingest.HeaderClient, client)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := n.js.PublishMsg(ctx, m); err != nil {
		t.Fatalf("publish to %s: %v", n.subject, err)
	}
}

// ensureStream creates the stream before the worker does, so a test can
// publish first.
func (n *natsTopic) ensureStream(t *testing.T, vars map[string]string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := n.js.CreateStream(ctx, jetstream.StreamConfig{Name: n.stream, Subjects: []string{vars["EVENTS_NATS_SUBJECT"]}}); err != nil {
		t.Fatalf("create stream %s: %v", n.stream, err)
	}
}

// settled reports whether the consumer exists and has nothing pending or unacked.
func (n *natsTopic) settled(t *testing.T) bool {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := n.js.Consumer(ctx, n.stream, n.consumerName)
	if err != nil {
		return false
	}
	info := c.CachedInfo()
	return info.NumPending == 0 && info.NumAckPending == 0
}

func placedEvent(eventID, orderID, customer string, seq int, at string) string {
	return fmt.Sprintf(`{"event_id":%q,"order_id":%q,"sequence":%d,"type":"OrderPlaced","occurred_at":%q,
	  "data":{"customer_id":%q,"merchant_id":"mer_nats","currency":"EUR","items":[{"sku":"tea","qty":2,"unit_price_cents":1250}],"total_cents":2500}}`,
		eventID, orderID, seq, at, customer)
}

func logCount(t *testing.T, env *testenv.Env, clientID string) (total, distinct int, head int64) {
	t.Helper()
	err := env.DB(t).QueryRow(context.Background(),
		`SELECT count(*), count(DISTINCT event_id), coalesce(max(position), 0) FROM order_events WHERE client_id = $1`, clientID).
		Scan(&total, &distinct, &head)
	if err != nil {
		t.Fatal(err)
	}
	return total, distinct, head
}

// TestNatsJetStreamEventsReachReports: one event and one batch published on
// JetStream, for the client the header names, end up in a report; a
// republished batch changes nothing; the backlog shows in /v1/projections
// and the worker's /metrics.
func TestNatsJetStreamEventsReachReports(t *testing.T) {
	t.Parallel()
	top, vars := newNatsTopic(t)
	env := testenv.New(t, vars)
	client := env.CreateClient(t, "Nats Shop", "")
	env.StartAPI(t)
	// The worker creates the stream too, but only once it runs: without
	// this a publish can come first and find no stream.
	top.ensureStream(t, vars)
	env.StartWorker(t)

	top.publish(t, client.ID, placedEvent("evt_n1", "ord_n1", "cus_nats", 1, "2026-02-03T10:00:00Z"))
	batch := `{"events":[
	  {"event_id":"evt_n2","order_id":"ord_n1","sequence":2,"type":"PaymentCaptured","occurred_at":"2026-02-03T10:01:00Z","data":{"amount_cents":2500}},
	  ` + placedEvent("evt_n3", "ord_n2", "cus_nats", 1, "2026-02-04T09:00:00Z") + `]}`
	top.publish(t, client.ID, batch)
	top.publish(t, client.ID, batch) // a redelivered or republished batch is a duplicate
	testenv.Eventually(t, 30*time.Second, "the consumer settles every message", func() bool { return top.settled(t) })
	total, distinct, head := logCount(t, env, client.ID)
	if total != 3 || distinct != 3 {
		t.Fatalf("log holds %d events (%d distinct), want 3", total, distinct)
	}

	id := submit(t, env, client.APIKey, fmt.Sprintf(`{"type":"order_history","format":"csv","min_position":%d,
		"params":{"customer_id":"cus_nats","from":"2026-02-01","to":"2026-02-28"}}`, head))
	rep := waitReport(t, env, client.APIKey, id)
	if rep.Status != "succeeded" || rep.Result.Rows != 2 {
		t.Fatalf("report: %+v", rep)
	}
	csv := string(download(t, env, client.APIKey, id, csvType))
	if !strings.Contains(csv, "ord_n1") || !strings.Contains(csv, ",paid,") || !strings.Contains(csv, "ord_n2") {
		t.Fatalf("CSV lacks the NATS orders:\n%s", csv)
	}

	proj := decode[struct {
		Ingestion []struct {
			Source          string `json:"source"`
			Consumer        string `json:"consumer"`
			Status          string `json:"status"`
			PendingMessages int    `json:"pending_messages"`
		} `json:"ingestion"`
	}](t, env.Do(t, client.APIKey, http.MethodGet, "/v1/projections", ""))
	if len(proj.Ingestion) != 1 || proj.Ingestion[0].Source != "nats" || proj.Ingestion[0].Consumer != top.consumerName ||
		proj.Ingestion[0].Status != "ok" || proj.Ingestion[0].PendingMessages != 0 {
		t.Fatalf("projections' ingestion: %+v", proj.Ingestion)
	}
	resp, err := http.Get(env.WorkerMetricsURL)
	if err != nil {
		t.Fatal(err)
	}
	metrics, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{
		fmt.Sprintf(`reportd_nats_consumer_pending_messages{consumer="%s",stream="%s"} 0`, top.consumerName, top.stream),
		`reportd_nats_messages_total{outcome="accepted"} 2`,
		`reportd_nats_messages_total{outcome="duplicate"} 1`,
	} {
		if !strings.Contains(string(metrics), want) {
			t.Errorf("worker metrics lack %s", want)
		}
	}
}

// TestNatsJetStreamDeadLetters: every message that can never be valid lands
// on the DLQ subject with its reason, is terminated (not redelivered), and
// leaves the good ones alone.
func TestNatsJetStreamDeadLetters(t *testing.T) {
	t.Parallel()
	top, vars := newNatsTopic(t)
	env := testenv.New(t, vars)
	client := env.CreateClient(t, "Nats DLQ", "")
	readOnly := env.CreateClient(t, "Reader", "", "reports")
	// The worker creates the stream too, but only once it runs: without
	// this a publish can come first and find no stream.
	top.ensureStream(t, vars)
	env.StartWorker(t)

	at := "2026-02-03T10:00:00Z"
	cases := []struct{ client, body, reason string }{
		{client.ID, `{"event_id":`, natsingest.ReasonMalformed},
		{client.ID, `{"event_id":"evt_bad","order_id":"ord bad","sequence":0,"type":"OrderPlaced","occurred_at":"yesterday","data":{}}`, natsingest.ReasonInvalid},
		{"", placedEvent("evt_d1", "ord_d1", "cus_d", 1, at), natsingest.ReasonMissingClient},
		{"cli_" + ids.Random(16), placedEvent("evt_d2", "ord_d2", "cus_d", 1, at), natsingest.ReasonUnknownClient},
		{"not a client", placedEvent("evt_d3", "ord_d3", "cus_d", 1, at), natsingest.ReasonUnknownClient},
		{readOnly.ID, placedEvent("evt_d4", "ord_d4", "cus_d", 1, at), natsingest.ReasonMissingScope},
		{client.ID, placedEvent("evt_ok", "ord_ok", "cus_d", 1, at), ""},
		{client.ID, placedEvent("evt_clash", "ord_ok", "cus_d", 1, at), natsingest.ReasonSequenceConflict},
	}
	for _, c := range cases {
		top.publish(t, c.client, c.body)
	}
	testenv.Eventually(t, 30*time.Second, "the consumer settles every message", func() bool { return top.settled(t) })

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	dlq, err := top.js.OrderedConsumer(ctx, top.dlqStream, jetstream.OrderedConsumerConfig{})
	if err != nil {
		t.Fatalf("read DLQ stream %s: %v", top.dlqStream, err)
	}
	got := make([]jetstream.Msg, 0, 7)
	for range 7 {
		m, err := dlq.Next(jetstream.FetchMaxWait(10 * time.Second))
		if err != nil {
			t.Fatalf("DLQ has %d messages, want 7: %v", len(got), err)
		}
		got = append(got, m)
	}
	i := 0
	for _, c := range cases {
		if c.reason == "" {
			continue
		}
		m := got[i]
		i++
		if m.Headers().Get(natsingest.HeaderReason) != c.reason || string(m.Data()) != c.body ||
			m.Headers().Get(natsingest.HeaderError) == "" || m.Headers().Get(natsingest.HeaderSubject) != top.subject {
			t.Errorf("dead letter %d: reason %q (want %q), error %q, body %q", i, m.Headers().Get(natsingest.HeaderReason), c.reason,
				m.Headers().Get(natsingest.HeaderError), m.Data())
		}
		if c.reason == natsingest.ReasonInvalid && !strings.Contains(m.Headers().Get(natsingest.HeaderErrors), `"field":"events[0].order_id"`) {
			t.Errorf("invalid event's errors header: %s", m.Headers().Get(natsingest.HeaderErrors))
		}
	}

	// Nothing comes back after AckWait (2s): the consumer stays settled,
	// with no redeliveries, and the DLQ holds exactly the seven.
	deadline := time.Now().Add(3 * time.Second)
	for time.Now().Before(deadline) {
		c, err := top.js.Consumer(ctx, top.stream, top.consumerName)
		if err != nil {
			t.Fatal(err)
		}
		if info := c.CachedInfo(); info.NumAckPending != 0 || info.NumRedelivered != 0 || info.NumPending != 0 {
			t.Fatalf("consumer after settling: %+v", info)
		}
		time.Sleep(250 * time.Millisecond) // sampling a state that must not change, not waiting for one
	}
	st, err := top.js.Stream(ctx, top.dlqStream)
	if err != nil {
		t.Fatal(err)
	}
	if n := st.CachedInfo().State.Msgs; n != 7 {
		t.Errorf("DLQ stream holds %d messages, want 7", n)
	}
	if total, _, _ := logCount(t, env, client.ID); total != 1 {
		t.Errorf("log holds %d events of the client, want only evt_ok", total)
	}
}

// TestNatsJetStreamWorkerKilledMidStream: a worker process killed (SIGKILL)
// while it consumes loses nothing: after another worker starts, every one of
// the N events is in the log exactly once.
func TestNatsJetStreamWorkerKilledMidStream(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and kills a worker binary")
	}
	t.Parallel()
	top, vars := newNatsTopic(t)
	env := testenv.New(t, vars)
	client := env.CreateClient(t, "Nats Kill", "")
	top.ensureStream(t, vars)
	const n = 1500
	for i := range n {
		top.publish(t, client.ID, placedEvent(fmt.Sprintf("evt_k%d", i), fmt.Sprintf("ord_k%d", i), "cus_k", 1, "2026-02-03T10:00:00Z"))
	}

	bin := filepath.Join(t.TempDir(), "worker")
	if out, err := exec.Command("go", "build", "-o", bin, "../cmd/worker").CombinedOutput(); err != nil {
		t.Fatalf("build worker: %v\n%s", err, out)
	}
	env.Vars["LOG_LEVEL"] = "info"
	logPath := filepath.Join(t.TempDir(), "worker.log")
	logf, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	defer logf.Close()
	cmd := exec.Command(bin)
	cmd.Env = env.Environ()
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	testenv.Eventually(t, 60*time.Second, "the worker binary appends a fifth of the events", func() bool {
		total, _, _ := logCount(t, env, client.ID)
		return total >= n/5
	})
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err == nil || !errors.As(err, new(*exec.ExitError)) {
		t.Fatalf("worker exit after SIGKILL: %v", err)
	}
	atKill, _, _ := logCount(t, env, client.ID)
	if atKill >= n {
		t.Fatalf("the worker consumed all %d events before it was killed; the test proves nothing", n)
	}
	t.Logf("killed the worker after %d of %d events", atKill, n)

	restarted := time.Now()
	env.StartWorker(t)
	testenv.Eventually(t, 2*time.Minute, "a new worker consumes the rest", func() bool { return top.settled(t) })
	total, distinct, _ := logCount(t, env, client.ID)
	t.Logf("a new worker settled the remaining %d messages in %s (start-up and one %s ack wait included)",
		n-atKill, time.Since(restarted).Round(time.Millisecond), vars["EVENTS_NATS_ACK_WAIT"])
	if total != n || distinct != n {
		logs, _ := os.ReadFile(logPath)
		t.Fatalf("log holds %d events (%d distinct), want all %d exactly once; killed worker's log:\n%s", total, distinct, n, logs)
	}
}
