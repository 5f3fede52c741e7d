package chaos

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/reportd/reportd/internal/webhook"
)

func discardLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }

// receiver is a webhook endpoint on a fixed address that can go down (the
// port refuses connections) and come back, and that records every delivery.
type receiver struct {
	addr string

	mu            sync.Mutex
	secret        string
	srv           *http.Server
	byReport      map[string]map[string]int // report id → webhook-id → deliveries
	perID         map[string]int
	total         int
	badSignatures int
	lastAt        time.Time // when the latest delivery arrived

	failFirst int            // answer 500 to the first failFirst deliveries of each webhook-id
	refused   map[string]int // webhook-id → deliveries answered 500 for failFirst
	// before, if set, runs before a delivery is answered, with how many
	// times its webhook-id has arrived and how many webhook-ids have.
	before func(nth, ids int)
}

type hookSnapshot struct {
	byReport      map[string]map[string]int
	total         int
	duplicates    int
	badSignatures int
	lastAt        time.Time
}

func newReceiver(t *testing.T) *receiver {
	t.Helper()
	r := &receiver{addr: freeAddr(t), byReport: map[string]map[string]int{}, perID: map[string]int{}, refused: map[string]int{}}
	r.up(t)
	t.Cleanup(r.down)
	return r
}

func (r *receiver) url() string { return "http://" + r.addr + "/hooks" }

// failFirstOf makes the receiver answer 500 to the first n deliveries of
// every webhook-id, so each needs n retries; those are not duplicates.
func (r *receiver) failFirstOf(n int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.failFirst = n
}

// beforeAnswer sets a hook that runs before each delivery is answered.
func (r *receiver) beforeAnswer(fn func(nth, ids int)) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.before = fn
}

func (r *receiver) setSecret(s string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.secret = s
}

// up starts listening on the receiver's address again.
func (r *receiver) up(t *testing.T) {
	t.Helper()
	var ln net.Listener
	var err error
	// The port was just released; another process could grab it, but the
	// kernel lets us rebind at once in practice.
	for range 50 {
		if ln, err = net.Listen("tcp", r.addr); err == nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil {
		t.Fatalf("receiver: listen on %s: %v", r.addr, err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(r.serve), ReadHeaderTimeout: 5 * time.Second}
	r.mu.Lock()
	r.srv = srv
	r.mu.Unlock()
	go func() { _ = srv.Serve(ln) }()
}

// down closes the listener and every open connection.
func (r *receiver) down() {
	r.mu.Lock()
	srv := r.srv
	r.srv = nil
	r.mu.Unlock()
	if srv != nil {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
		_ = srv.Close()
	}
}

func (r *receiver) serve(w http.ResponseWriter, req *http.Request) {
	body, err := io.ReadAll(req.Body)
	if err != nil {
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	var ev struct {
		Data struct {
			ID string `json:"id"`
		} `json:"data"`
	}
	_ = json.Unmarshal(body, &ev)
	id := req.Header.Get("webhook-id")
	r.mu.Lock()
	verr := webhook.Verify(r.secret, req.Header, body, time.Now())
	r.total++
	if verr != nil {
		r.badSignatures++
	}
	if r.byReport[ev.Data.ID] == nil {
		r.byReport[ev.Data.ID] = map[string]int{}
	}
	r.perID[id]++
	if before := r.before; before != nil {
		nth, ids := r.perID[id], len(r.perID)
		r.mu.Unlock()
		before(nth, ids)
		r.mu.Lock()
	}
	if r.refused[id] < r.failFirst {
		r.refused[id]++
		r.mu.Unlock()
		w.WriteHeader(http.StatusInternalServerError)
		return
	}
	r.byReport[ev.Data.ID][id]++
	r.lastAt = time.Now()
	r.mu.Unlock()
	w.WriteHeader(http.StatusNoContent)
}

func (r *receiver) snapshot() hookSnapshot {
	r.mu.Lock()
	defer r.mu.Unlock()
	s := hookSnapshot{byReport: map[string]map[string]int{}, total: r.total, badSignatures: r.badSignatures, lastAt: r.lastAt}
	for rep, m := range r.byReport {
		c := make(map[string]int, len(m))
		maps.Copy(c, m)
		s.byReport[rep] = c
	}
	for id, n := range r.perID {
		s.duplicates += max(n-1-r.refused[id], 0)
	}
	return s
}
