package testenv

import (
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/reportd/reportd/internal/webhook"
)

// Delivery is one webhook the receiver got.
type Delivery struct {
	ID        string
	Timestamp string
	Signature string
	Body      []byte
	Header    http.Header
	Verified  error
	At        time.Time
}

// Receiver is a local webhook endpoint that verifies and records every
// delivery. Respond decides the status of each attempt (default 204).
type Receiver struct {
	URL     string
	Secret  string
	Respond func(attempt int, d Delivery) int
	// Headers, when set, adds response headers to an attempt.
	Headers func(attempt int) http.Header

	mu   sync.Mutex
	got  []Delivery
	seen chan struct{}
}

// NewReceiver starts a receiver until the test ends. Set Secret before the
// first delivery arrives.
func NewReceiver(tb testing.TB) *Receiver {
	tb.Helper()
	r := &Receiver{seen: make(chan struct{}, 1)}
	srv := httptest.NewServer(http.HandlerFunc(r.serve))
	tb.Cleanup(srv.Close)
	r.URL = srv.URL + "/hooks"
	return r
}

func (r *Receiver) serve(w http.ResponseWriter, req *http.Request) {
	body, _ := io.ReadAll(req.Body)
	r.mu.Lock()
	d := Delivery{
		ID: req.Header.Get("webhook-id"), Timestamp: req.Header.Get("webhook-timestamp"),
		Signature: req.Header.Get("webhook-signature"), Body: body, Header: req.Header.Clone(), At: time.Now(),
	}
	d.Verified = webhook.Verify(r.Secret, req.Header, body, time.Now())
	r.got = append(r.got, d)
	attempt := len(r.got)
	respond, headers := r.Respond, r.Headers
	r.mu.Unlock()
	select {
	case r.seen <- struct{}{}:
	default:
	}
	status := http.StatusNoContent
	if respond != nil {
		status = respond(attempt, d)
	}
	if headers != nil {
		maps.Copy(w.Header(), headers(attempt))
	}
	w.WriteHeader(status)
}

// Deliveries returns what arrived so far.
func (r *Receiver) Deliveries() []Delivery {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Delivery(nil), r.got...)
}

// WaitFor waits until ok holds for the deliveries so far.
func (r *Receiver) WaitFor(tb testing.TB, timeout time.Duration, what string, ok func([]Delivery) bool) []Delivery {
	tb.Helper()
	deadline := time.After(timeout)
	for {
		if got := r.Deliveries(); ok(got) {
			return got
		}
		select {
		case <-r.seen:
		case <-time.After(200 * time.Millisecond):
		case <-deadline:
			tb.Fatalf("receiver: timed out after %s waiting for %s; got %d deliveries", timeout, what, len(r.Deliveries()))
		}
	}
}

// CreateClientWithReceiver makes a tenant whose default webhook URL is a new
// receiver that verifies with the tenant's secret.
func (e *Env) CreateClientWithReceiver(tb testing.TB, name string) (Client, *Receiver) {
	tb.Helper()
	r := NewReceiver(tb)
	c := e.CreateClient(tb, name, r.URL)
	r.Secret = c.Secret
	return c, r
}
