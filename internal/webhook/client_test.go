package webhook

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// received is what a test receiver saw.
type received struct {
	header http.Header
	body   []byte
}

// newReceiver starts an httptest server on 127.0.0.1 that records requests
// and answers with handler.
func newReceiver(t *testing.T, handler http.HandlerFunc) (*httptest.Server, func() []received) {
	t.Helper()
	var (
		mu   sync.Mutex
		reqs []received
	)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		mu.Lock()
		reqs = append(reqs, received{header: r.Header.Clone(), body: body})
		mu.Unlock()
		handler(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv, func() []received {
		mu.Lock()
		defer mu.Unlock()
		return append([]received(nil), reqs...)
	}
}

func testMessage(t *testing.T, url string) Message {
	t.Helper()
	secret, err := NewSecret()
	if err != nil {
		t.Fatal(err)
	}
	return Message{
		ID:      "dlv_test_1",
		URL:     url,
		Body:    []byte(`{"type":"report.succeeded","data":{"id":"rep_1"}}`),
		Secrets: []string{secret},
	}
}

func devClient(cfg ClientConfig) *Client {
	cfg.AllowPrivateNetworks = true
	return NewClient(cfg)
}

func TestSendDelivered(t *testing.T) {
	srv, reqs := newReceiver(t, func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusNoContent)
	})
	c := devClient(ClientConfig{UserAgent: "reportd-test/1"})
	other, err := NewSecret()
	if err != nil {
		t.Fatal(err)
	}
	m := testMessage(t, srv.URL+"/hook")
	m.Secrets = append(m.Secrets, other) // a rotation in progress

	res := c.Send(t.Context(), m)
	if res.Outcome != OutcomeDelivered || res.StatusCode != http.StatusNoContent || res.Err != nil {
		t.Fatalf("Send = %+v, want delivered 204", res)
	}
	if res.StartedAt.IsZero() || res.Latency <= 0 {
		t.Errorf("StartedAt = %v, Latency = %v; want both set", res.StartedAt, res.Latency)
	}

	got := reqs()
	if len(got) != 1 {
		t.Fatalf("receiver saw %d requests, want 1", len(got))
	}
	h := got[0].header
	if diff := cmp.Diff(m.Body, got[0].body); diff != "" {
		t.Errorf("body (-want +got):\n%s", diff)
	}
	for name, want := range map[string]string{
		"Content-Type": "application/json",
		"User-Agent":   "reportd-test/1",
		"Webhook-Id":   m.ID,
	} {
		if got := h.Get(name); got != want {
			t.Errorf("header %s = %q, want %q", name, got, want)
		}
	}
	if ts := h.Get("webhook-timestamp"); ts == "" || ts != strconv.FormatInt(res.StartedAt.Unix(), 10) {
		t.Errorf("webhook-timestamp = %q, want the attempt's start %s", ts, strconv.FormatInt(res.StartedAt.Unix(), 10))
	}
	if n := len(strings.Fields(h.Get("webhook-signature"))); n != 2 {
		t.Errorf("webhook-signature has %d signatures, want 2", n)
	}
	for _, secret := range m.Secrets {
		if err := Verify(secret, h, got[0].body, time.Now()); err != nil {
			t.Errorf("Verify(received request): %v", err)
		}
	}
}

func TestSendStatuses(t *testing.T) {
	httpDate := time.Now().Add(90 * time.Second).UTC().Format(http.TimeFormat)
	for _, tc := range []struct {
		name           string
		status         int
		header         map[string]string
		wantOutcome    Outcome
		wantRetryAfter [2]time.Duration // inclusive range
		wantErr        string
	}{
		{name: "200", status: 200, wantOutcome: OutcomeDelivered},
		{name: "202", status: 202, wantOutcome: OutcomeDelivered},
		{name: "299", status: 299, wantOutcome: OutcomeDelivered},
		{name: "500", status: 500, wantOutcome: OutcomeFailed, wantErr: "receiver answered 500 Internal Server Error"},
		{name: "400", status: 400, wantOutcome: OutcomeFailed, wantErr: "400"},
		{name: "404", status: 404, wantOutcome: OutcomeFailed, wantErr: "404"},
		{name: "410 gone", status: 410, wantOutcome: OutcomeGone, wantErr: "410 Gone"},
		{name: "301", status: 301, header: map[string]string{"Location": "/elsewhere"}, wantOutcome: OutcomeFailed, wantErr: "redirects are not followed"},
		{name: "302", status: 302, header: map[string]string{"Location": "/elsewhere"}, wantOutcome: OutcomeFailed, wantErr: "302 Found"},
		{name: "307", status: 307, header: map[string]string{"Location": "/elsewhere"}, wantOutcome: OutcomeFailed, wantErr: "307"},
		{name: "429 seconds", status: 429, header: map[string]string{"Retry-After": "120"}, wantOutcome: OutcomeFailed,
			wantRetryAfter: [2]time.Duration{2 * time.Minute, 2 * time.Minute}, wantErr: "429"},
		{name: "503 HTTP-date", status: 503, header: map[string]string{"Retry-After": httpDate}, wantOutcome: OutcomeFailed,
			wantRetryAfter: [2]time.Duration{85 * time.Second, 91 * time.Second}, wantErr: "503"},
		{name: "429 date in the past", status: 429, header: map[string]string{"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"}, wantOutcome: OutcomeFailed, wantErr: "429"},
		{name: "429 negative", status: 429, header: map[string]string{"Retry-After": "-5"}, wantOutcome: OutcomeFailed, wantErr: "429"},
		{name: "503 zero", status: 503, header: map[string]string{"Retry-After": "0"}, wantOutcome: OutcomeFailed, wantErr: "503"},
		{name: "429 garbage", status: 429, header: map[string]string{"Retry-After": "soon"}, wantOutcome: OutcomeFailed, wantErr: "429"},
		{name: "429 no header", status: 429, wantOutcome: OutcomeFailed, wantErr: "429"},
		{name: "500 ignores Retry-After", status: 500, header: map[string]string{"Retry-After": "120"}, wantOutcome: OutcomeFailed, wantErr: "500"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var followed atomic.Int32
			srv, reqs := newReceiver(t, func(w http.ResponseWriter, r *http.Request) {
				if r.URL.Path == "/elsewhere" {
					followed.Add(1)
					return
				}
				for k, v := range tc.header {
					w.Header().Set(k, v)
				}
				w.WriteHeader(tc.status)
				_, _ = io.WriteString(w, "answer "+tc.name)
			})
			res := devClient(ClientConfig{}).Send(t.Context(), testMessage(t, srv.URL+"/hook"))

			if res.Outcome != tc.wantOutcome || res.StatusCode != tc.status {
				t.Errorf("Outcome, StatusCode = %q, %d; want %q, %d (Err %v)", res.Outcome, res.StatusCode, tc.wantOutcome, tc.status, res.Err)
			}
			if got := string(res.Body); got != "answer "+tc.name {
				t.Errorf("Body = %q, want %q", got, "answer "+tc.name)
			}
			if res.RetryAfter < tc.wantRetryAfter[0] || res.RetryAfter > tc.wantRetryAfter[1] {
				t.Errorf("RetryAfter = %s, want within %v", res.RetryAfter, tc.wantRetryAfter)
			}
			switch {
			case tc.wantErr == "" && res.Err != nil:
				t.Errorf("Err = %v, want nil", res.Err)
			case tc.wantErr != "" && (res.Err == nil || !strings.Contains(res.Err.Error(), tc.wantErr)):
				t.Errorf("Err = %v, want it to contain %q", res.Err, tc.wantErr)
			}
			if n := followed.Load(); n != 0 {
				t.Errorf("the redirect was followed %d times", n)
			}
			if n := len(reqs()); n != 1 {
				t.Errorf("receiver saw %d requests, want 1", n)
			}
		})
	}
}

func TestSendRetryAfterHugeIsClamped(t *testing.T) {
	srv, _ := newReceiver(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Retry-After", "99999999999999999999")
		w.WriteHeader(http.StatusServiceUnavailable)
	})
	res := devClient(ClientConfig{}).Send(t.Context(), testMessage(t, srv.URL))
	if res.RetryAfter != maxRetryAfter {
		t.Errorf("RetryAfter = %s, want the clamp %s", res.RetryAfter, maxRetryAfter)
	}
	if got := DefaultSchedule().DelayWithRetryAfter(0, res.RetryAfter); got != 10*time.Second {
		t.Errorf("DelayWithRetryAfter = %s, want the 10s cap", got)
	}
}

func TestSendTimeout(t *testing.T) {
	release := make(chan struct{})
	srv, _ := newReceiver(t, func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-release:
		}
	})
	defer close(release) // before srv.Close, which waits for handlers
	res := devClient(ClientConfig{Timeout: 100 * time.Millisecond}).Send(t.Context(), testMessage(t, srv.URL))
	if res.Outcome != OutcomeTimeout || res.StatusCode != 0 || res.Err == nil {
		t.Fatalf("Send = %+v, want a timeout without status", res)
	}
	t.Logf("timeout: %v", res.Err)
	if !res.Outcome.Retryable() {
		t.Error("a timeout is not retryable")
	}
}

func TestSendCanceled(t *testing.T) {
	srv, _ := newReceiver(t, func(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() })
	ctx, cancel := context.WithCancel(t.Context())
	time.AfterFunc(50*time.Millisecond, cancel)
	res := devClient(ClientConfig{}).Send(ctx, testMessage(t, srv.URL))
	if res.Outcome != OutcomeFailed || !errors.Is(res.Err, context.Canceled) {
		t.Fatalf("Send = %+v, want failed wrapping context.Canceled", res)
	}
}

func TestSendNetworkError(t *testing.T) {
	ln, err := (&net.ListenConfig{}).Listen(t.Context(), "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens there any more
	m := testMessage(t, "http://"+addr+"/hook?token=topsecret")
	res := devClient(ClientConfig{}).Send(t.Context(), m)
	if res.Outcome != OutcomeFailed || res.StatusCode != 0 || res.Err == nil {
		t.Fatalf("Send = %+v, want failed without status", res)
	}
	if msg := res.Err.Error(); strings.Contains(msg, "topsecret") || strings.Contains(msg, strings.TrimPrefix(m.Secrets[0], "whsec_")) {
		t.Errorf("Err = %q, repeats the URL's token or the secret", msg)
	}
}

func TestSendBadSecret(t *testing.T) {
	srv, reqs := newReceiver(t, func(w http.ResponseWriter, r *http.Request) {})
	m := testMessage(t, srv.URL)
	m.Secrets = []string{"whsec_c2hvcnQ="}
	res := devClient(ClientConfig{}).Send(t.Context(), m)
	if res.Outcome != OutcomeFailed || !errors.Is(res.Err, ErrInvalidSecret) {
		t.Errorf("Send = %+v, want failed wrapping ErrInvalidSecret", res)
	}
	if strings.Contains(res.Err.Error(), "c2hvcnQ") {
		t.Errorf("Err = %q contains the secret", res.Err)
	}
	if n := len(reqs()); n != 0 {
		t.Errorf("receiver saw %d requests, want none", n)
	}
}

func TestSendBodyTruncatedAndConnectionReused(t *testing.T) {
	big := bytes.Repeat([]byte("0123456789abcdef"), 1024) // 16 KiB
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write(big)
	}))
	var conns atomic.Int32
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	srv.Start()
	t.Cleanup(srv.Close)

	c := devClient(ClientConfig{})
	for range 5 {
		res := c.Send(t.Context(), testMessage(t, srv.URL))
		if res.Outcome != OutcomeDelivered {
			t.Fatalf("Send = %+v, want delivered", res)
		}
		if diff := cmp.Diff(big[:4096], res.Body); diff != "" {
			t.Fatalf("Body (-want +got):\n%s", diff)
		}
	}
	if n := conns.Load(); n != 1 {
		t.Errorf("5 sequential sends opened %d connections, want 1 (keep-alive)", n)
	}
}

func TestSendEmptyBodyIsNil(t *testing.T) {
	srv, _ := newReceiver(t, func(w http.ResponseWriter, r *http.Request) {})
	res := devClient(ClientConfig{}).Send(t.Context(), testMessage(t, srv.URL))
	if res.Outcome != OutcomeDelivered || res.Body != nil {
		t.Errorf("Send = %+v, want delivered with a nil body", res)
	}
}

// TestSendSSRFGuard dials for real: "localhost" resolves to a loopback
// address, which only the dialer's Control hook can catch.
func TestSendSSRFGuard(t *testing.T) {
	srv, reqs := newReceiver(t, func(w http.ResponseWriter, r *http.Request) {})
	_, port, err := net.SplitHostPort(srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}

	prod := NewClient(ClientConfig{})
	// https passes ValidateURL; the dial itself must be refused.
	res := prod.Send(t.Context(), testMessage(t, "https://localhost:"+port+"/hook"))
	if res.Outcome != OutcomeBlocked || !errors.Is(res.Err, ErrBlocked) {
		t.Fatalf("production Send to localhost = %+v, want blocked wrapping ErrBlocked", res)
	}
	t.Logf("blocked: %v", res.Err)
	if !strings.Contains(res.Err.Error(), "is not public") {
		t.Errorf("Err = %q, want it to name the refused address", res.Err)
	}
	for _, url := range []string{
		"http://localhost:" + port + "/hook",  // plain http
		"https://127.0.0.1:" + port + "/hook", // literal loopback
		"https://[::ffff:127.0.0.1]:" + port + "/hook",
		"https://user:pw@example.com/hook",
		"not a url",
	} {
		res := prod.Send(t.Context(), testMessage(t, url))
		if res.Outcome != OutcomeBlocked || !errors.Is(res.Err, ErrBlocked) {
			t.Errorf("production Send to %q = %+v, want blocked", url, res)
		}
		if res.Outcome.Retryable() {
			t.Errorf("blocked is retryable")
		}
	}
	if n := len(reqs()); n != 0 {
		t.Fatalf("receiver saw %d requests from the production client, want none", n)
	}

	res = devClient(ClientConfig{}).Send(t.Context(), testMessage(t, "http://localhost:"+port+"/hook"))
	if res.Outcome != OutcomeDelivered {
		t.Fatalf("Send to localhost with AllowPrivateNetworks = %+v, want delivered", res)
	}
	if n := len(reqs()); n != 1 {
		t.Errorf("receiver saw %d requests, want 1", n)
	}
}
