package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/hibiken/asynq"

	"github.com/reportd/reportd/internal/domain"
	"github.com/reportd/reportd/internal/report"
)

type webhookResult struct {
	Deliveries      int
	PerSecond       float64 // bulk replay of dead letters: batched tasks
	SinglePerSecond float64 // replay of failing deliveries: one task each
	BarePerSecond   float64
	AsynqPerSecond  float64 // asynq alone: empty handler, same concurrency
	BusyBatch       float64 // the machine's CPU in use during each pass
	BusySingle      float64
	Concurrency     int // WEBHOOK_CONCURRENCY
	BodyBytes       int
}

// webhookConcurrency is the worker's WEBHOOK_CONCURRENCY default, which the
// asynq ceiling uses too.
const webhookConcurrency = 50

// webhookRounds is how many times the bulk replay and the bare loop alternate.
const webhookRounds = 2

// benchWebhook measures delivery through the worker on its own install:
// n succeeded reports with one frozen delivery each, written straight to
// Postgres, so nothing but the deliver path runs. Two passes replay them
// through the API: once as dead letters (bulk replay) and once as failing
// deliveries (one task per delivery, the path of every first attempt and
// retry); the ceiling signs and POSTs the same body to the same receiver.
func benchWebhook(ctx context.Context, c config, log func(string, ...any)) (webhookResult, error) {
	wr := webhookResult{Deliveries: c.deliveries, Concurrency: webhookConcurrency}
	hooks := newHookReceiver()
	recv := httptest.NewServer(hooks)
	defer recv.Close()
	url := recv.URL + "/hooks"
	in, err := newInstall(ctx, "webhook", url, c.logDir, c.dbParams, map[string]string{
		"WEBHOOK_CONCURRENCY": strconv.Itoa(webhookConcurrency),
	})
	if err != nil {
		return wr, err
	}
	defer in.close()

	now := time.Now().UTC()
	sample, err := json.Marshal(domain.Event{Type: domain.EventSucceeded, Timestamp: now, Data: domain.Resource{
		ID: "rep_bench_0", Object: "report", Status: domain.StatusSucceeded, Type: report.TypeOrderHistory, Format: report.FormatPDF,
		Params: report.Params{CustomerID: "cus_0001", From: "2026-01-01", To: "2026-03-31"}, Attempts: 1,
		CreatedAt: now, StartedAt: &now, CompletedAt: &now,
		Result: &domain.ResultBody{Download: "/v1/reports/rep_bench_0/download", SizeBytes: 48213,
			SHA256: strings.Repeat("ab", 32), ContentType: "application/pdf", Pages: 5, Rows: 200, DataPosition: 2000},
		Webhook: domain.WebhookBody{Status: "pending"},
	}})
	if err != nil {
		return wr, err
	}
	wr.BodyBytes = len(sample)
	// Every body names its own report, so the receiver counts each once.
	if _, err := in.pool.Exec(ctx, `
		INSERT INTO reports (id, client_id, type, format, params, status, completed_at)
		SELECT 'rep_bench_' || g, $1, 'order_history', 'pdf', '{}', 'succeeded', now() FROM generate_series(1, $2) g;
	`, in.client.ID, c.deliveries); err != nil {
		return wr, fmt.Errorf("insert reports: %w", err)
	}
	if _, err := in.pool.Exec(ctx, `
		INSERT INTO deliveries (id, report_id, client_id, event_type, url, body, status)
		SELECT 'msg_bench_' || g, 'rep_bench_' || g, $1, 'report.succeeded', $2,
		       convert_to(replace($3, 'rep_bench_0', 'rep_bench_' || g), 'UTF8'), 'dead'
		FROM generate_series(1, $4) g`, in.client.ID, url, string(sample), c.deliveries); err != nil {
		return wr, fmt.Errorf("insert deliveries: %w", err)
	}
	if err := in.startAPI(ctx, c.apiBin); err != nil {
		return wr, err
	}
	if err := in.startWorker(ctx, c.workerBin); err != nil {
		return wr, err
	}

	hc := &http.Client{Timeout: 30 * time.Second}
	pass := func(status domain.DeliveryStatus, busy *float64) (time.Duration, error) {
		base := hooks.count()
		busy0, total0 := cpuTimes()
		t0 := time.Now()
		for replayed := 0; replayed < c.deliveries; {
			req, _ := http.NewRequestWithContext(ctx, http.MethodPost, in.apiURL+"/v1/deliveries/replay",
				strings.NewReader(`{"status":"`+string(status)+`"}`))
			req.Header.Set("Authorization", "Bearer "+in.client.APIKey)
			req.Header.Set("Content-Type", "application/json")
			resp, err := hc.Do(req)
			if err != nil {
				return 0, err
			}
			var v struct {
				Replayed int `json:"replayed"`
			}
			err = json.NewDecoder(resp.Body).Decode(&v)
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if err != nil || v.Replayed == 0 {
				return 0, fmt.Errorf("replay %s: status %d, %d replayed of %d, %v", status, resp.StatusCode, replayed, c.deliveries, err) //nolint:errorlint // err may be nil here
			}
			replayed += v.Replayed
		}
		log("webhook: %s replay calls took %s; %d delivered by then", status, time.Since(t0).Round(time.Millisecond), hooks.count()-base)
		if err := hooks.waitTotal(ctx, base+c.deliveries, 5*time.Minute); err != nil {
			return 0, err
		}
		busy1, total1 := cpuTimes()
		*busy = cpuBusy(busy0, total0, busy1, total1)
		elapsed := time.Since(t0)
		log("webhook: %s pass: %.0f deliveries/s, machine CPU %.0f%% busy", status, float64(c.deliveries)/elapsed.Seconds(), 100**busy)
		return elapsed, nil
	}
	// Wait for the deliveries' final writes: the receiver counts a delivery
	// before the worker records it.
	settle := func() error {
		for range 300 {
			var open int
			if err := in.pool.QueryRow(ctx, `SELECT count(*) FROM deliveries WHERE status <> 'delivered'`).Scan(&open); err != nil {
				return err
			}
			if open == 0 {
				return nil
			}
			time.Sleep(100 * time.Millisecond)
		}
		return errors.New("deliveries not all recorded as delivered")
	}

	// The bulk replay and the bare loop alternate, so a change in what else
	// the shared machine does weighs on both alike.
	var replayTime, bareTime time.Duration
	for round := range webhookRounds {
		if round > 0 {
			if _, err := in.pool.Exec(ctx, `UPDATE deliveries SET status = 'dead', dead_at = now()`); err != nil {
				return wr, err
			}
		}
		if err := vacuum(ctx, in); err != nil {
			return wr, err
		}
		bareTime += bareSignedLoop(ctx, url, in.client.Secret, sample, c.workerConc, c.deliveries)
		log("webhook: bulk replay of %d dead letters, round %d", c.deliveries, round+1)
		elapsed, err := pass(domain.DeliveryDead, &wr.BusyBatch)
		if err != nil {
			return wr, err
		}
		replayTime += elapsed
		if err := settle(); err != nil {
			return wr, err
		}
	}
	wr.PerSecond = float64(webhookRounds*c.deliveries) / replayTime.Seconds()
	wr.BarePerSecond = float64(webhookRounds*c.deliveries) / bareTime.Seconds()
	log("webhook: bulk replay %.0f deliveries/s, bare signed loop %.0f/s", wr.PerSecond, wr.BarePerSecond)
	// Failing deliveries with no task; next_attempt_at is far enough ahead
	// that the sweeper leaves them to the replay.
	if _, err := in.pool.Exec(ctx, `UPDATE deliveries SET status = 'failing', next_attempt_at = now() + interval '1 hour'`); err != nil {
		return wr, err
	}
	if err := vacuum(ctx, in); err != nil {
		return wr, err
	}
	log("webhook: replay of %d failing deliveries, one task each", c.deliveries)
	singleTime, err := pass(domain.DeliveryFailing, &wr.BusySingle)
	if err != nil {
		return wr, err
	}
	wr.SinglePerSecond = float64(c.deliveries) / singleTime.Seconds()
	log("webhook: one task per delivery %.0f deliveries/s", wr.SinglePerSecond)
	if err := settle(); err != nil {
		return wr, err
	}
	in.stop() // asynq's ceiling gets the machine to itself
	if wr.AsynqPerSecond, err = asynqCeiling(ctx, in.vars["REDIS_URL"], c.deliveries, webhookConcurrency); err != nil {
		return wr, fmt.Errorf("asynq ceiling: %w", err)
	}
	log("webhook: asynq alone (empty handler) %.0f tasks/s", wr.AsynqPerSecond)
	return wr, nil
}

// vacuum does what autovacuum would between passes (this machine's
// PostgreSQL runs with it off), outside the measured time: each pass
// rewrites every delivery row, and its dead versions would otherwise slow
// the next pass's index scans.
func vacuum(ctx context.Context, in *install) error {
	if _, err := in.pool.Exec(ctx, `VACUUM ANALYZE deliveries, delivery_attempts`); err != nil {
		return fmt.Errorf("vacuum: %w", err)
	}
	return nil
}

// asynqCeiling is what one task per delivery costs before any delivery
// work: n tasks enqueued, then processed by an empty handler at the given
// concurrency on the same Redis; tasks/s over the processing.
func asynqCeiling(ctx context.Context, redisURL string, n, concurrency int) (float64, error) {
	opt, err := asynq.ParseRedisURI(redisURL)
	if err != nil {
		return 0, err
	}
	const queue = "bench-ceiling"
	client := asynq.NewClient(opt)
	defer client.Close()
	for i := range n {
		if _, err := client.EnqueueContext(ctx, asynq.NewTask("bench:noop", []byte(`{"delivery_id":"msg_`+strconv.Itoa(i)+`"}`)),
			asynq.Queue(queue)); err != nil {
			return 0, err
		}
	}
	var done atomic.Int64
	finished := make(chan struct{})
	srv := asynq.NewServer(opt, asynq.Config{Concurrency: concurrency, Queues: map[string]int{queue: 1},
		TaskCheckInterval: 200 * time.Millisecond, LogLevel: asynq.ErrorLevel})
	start := time.Now()
	if err := srv.Start(asynq.HandlerFunc(func(context.Context, *asynq.Task) error {
		if done.Add(1) == int64(n) {
			close(finished)
		}
		return nil
	})); err != nil {
		return 0, err
	}
	defer srv.Shutdown()
	select {
	case <-finished:
	case <-time.After(5 * time.Minute):
		return 0, fmt.Errorf("processed %d of %d tasks in 5 minutes", done.Load(), n)
	case <-ctx.Done():
		return 0, ctx.Err()
	}
	return float64(n) / time.Since(start).Seconds(), nil
}
