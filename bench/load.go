package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"sync"
	"time"
)

// loadResult is what a closed-loop load run measured.
type loadResult struct {
	Requests   int
	Elapsed    time.Duration
	Statuses   map[int]int
	Errors     int
	P50, P99   time.Duration
	PerSecond  float64
	FirstError string
	latencies  []time.Duration // every request's, for merging runs
}

// merge adds run b to a: rates over the summed time, percentiles over every
// request of both.
func (r loadResult) merge(b loadResult) loadResult {
	if r.Statuses == nil {
		r.Statuses = map[int]int{}
	}
	r.Requests += b.Requests
	r.Elapsed += b.Elapsed
	r.Errors += b.Errors
	for k, v := range b.Statuses {
		r.Statuses[k] += v
	}
	if r.FirstError == "" {
		r.FirstError = b.FirstError
	}
	r.latencies = append(r.latencies, b.latencies...)
	r.PerSecond = float64(r.Requests) / r.Elapsed.Seconds()
	r.P50, r.P99 = percentile(r.latencies, 50), percentile(r.latencies, 99)
	return r
}

func (r loadResult) allStatus(code int) bool {
	return r.Errors == 0 && len(r.Statuses) == 1 && r.Statuses[code] == r.Requests
}

// closedLoop keeps conns requests in flight against url for d and records
// each request's latency. newRequest builds a request from its sequence number.
func closedLoop(ctx context.Context, conns int, d time.Duration, newRequest func(i int) (*http.Request, error)) loadResult {
	hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: conns, MaxConnsPerHost: conns}, Timeout: 30 * time.Second}
	defer hc.CloseIdleConnections()
	var (
		mu    sync.Mutex
		lat   []time.Duration
		res   = loadResult{Statuses: map[int]int{}}
		next  int
		wg    sync.WaitGroup
		start = time.Now()
		end   = start.Add(d)
	)
	for range conns {
		wg.Go(func() {
			local := make([]time.Duration, 0, 4096)
			statuses := map[int]int{}
			errs := 0
			var firstErr string
			for time.Now().Before(end) && ctx.Err() == nil {
				mu.Lock()
				i := next
				next++
				mu.Unlock()
				req, err := newRequest(i)
				if err != nil {
					errs++
					continue
				}
				t0 := time.Now()
				resp, err := hc.Do(req)
				if err != nil {
					errs++
					if firstErr == "" {
						firstErr = err.Error()
					}
					continue
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				local = append(local, time.Since(t0))
				statuses[resp.StatusCode]++
			}
			mu.Lock()
			lat = append(lat, local...)
			for k, v := range statuses {
				res.Statuses[k] += v
			}
			res.Errors += errs
			if res.FirstError == "" {
				res.FirstError = firstErr
			}
			mu.Unlock()
		})
	}
	wg.Wait()
	res.Elapsed = time.Since(start)
	res.Requests = len(lat)
	res.PerSecond = float64(len(lat)) / res.Elapsed.Seconds()
	res.P50, res.P99 = percentile(lat, 50), percentile(lat, 99)
	res.latencies = lat
	return res
}

func percentile(d []time.Duration, p float64) time.Duration {
	if len(d) == 0 {
		return 0
	}
	s := slices.Clone(d)
	slices.Sort(s)
	i := int(float64(len(s)-1) * p / 100)
	return s[i]
}

// hookReceiver records when each report's first webhook arrived.
type hookReceiver struct {
	mu      sync.Mutex
	arrived map[string]time.Time // report id → first arrival
	total   int
	notify  chan struct{}
	sample  []byte
}

func newHookReceiver() *hookReceiver {
	return &hookReceiver{arrived: map[string]time.Time{}, notify: make(chan struct{}, 1)}
}

func (h *hookReceiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	now := time.Now()
	var ev struct {
		Data struct {
			ID string `json:"id"`
		} `json:"data"`
	}
	_ = json.Unmarshal(body, &ev)
	h.mu.Lock()
	h.total++
	if _, ok := h.arrived[ev.Data.ID]; !ok {
		h.arrived[ev.Data.ID] = now
	}
	if h.sample == nil {
		h.sample = bytes.Clone(body)
	}
	h.mu.Unlock()
	select {
	case h.notify <- struct{}{}:
	default:
	}
	w.WriteHeader(http.StatusNoContent)
}

func (h *hookReceiver) count() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.total
}

// waitTotal waits until the receiver has counted want deliveries in all.
func (h *hookReceiver) waitTotal(ctx context.Context, want int, timeout time.Duration) error {
	deadline := time.After(timeout)
	for h.count() < want {
		select {
		case <-h.notify:
		case <-time.After(100 * time.Millisecond):
		case <-deadline:
			return fmt.Errorf("received %d of %d webhooks within %s", h.count(), want, timeout)
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

func (h *hookReceiver) arrival(id string) time.Time {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.arrived[id]
}
