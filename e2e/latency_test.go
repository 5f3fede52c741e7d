package e2e

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/reportd/reportd/internal/testenv"
)

// TestWebhookIdleLatency measures submit → webhook on an idle system (so
// it does not run in parallel): one report at a time, from just before the
// POST to the receiver's arrival time. It logs the distribution and each
// stage's share, and fails only far past what the path should cost, or if
// the dispatcher is no longer woken by the outbox's NOTIFY.
func TestWebhookIdleLatency(t *testing.T) {
	h := newHookEnv(t, nil, nil)
	const n = 20
	lat := make([]time.Duration, 0, n)
	for i := range n {
		start := time.Now()
		h.submit(t)
		got := h.receiver.WaitFor(t, 30*time.Second, "the report's webhook", func(ds []testenv.Delivery) bool { return len(ds) > i })
		lat = append(lat, got[i].At.Sub(start))
	}
	slices.Sort(lat)
	p50, p90 := lat[n/2], lat[n*9/10]
	t.Logf("idle submit → webhook over %d reports: p50 %s, p90 %s, min %s, max %s",
		n, p50.Round(time.Millisecond), p90.Round(time.Millisecond), lat[0].Round(time.Millisecond), lat[n-1].Round(time.Millisecond))
	// Where the time goes, from the rows: insert → dispatcher claim (the
	// outbox), claim → build start (asynq's reports queue), build, and
	// delivery row → first attempt (asynq's webhooks queue).
	pool := h.env.DB(t)
	// The worker records an attempt after the receiver has answered it, so
	// the last one may still be on its way when the webhook has arrived.
	testenv.Eventually(t, 10*time.Second, "every report's first attempt recorded", func() bool {
		var recorded int
		err := pool.QueryRow(context.Background(), `SELECT count(*) FROM delivery_attempts WHERE attempt = 1`).Scan(&recorded)
		return err == nil && recorded >= n
	})
	for i, stage := range []struct{ name, sql string }{
		{"insert → dispatcher claim", `SELECT enqueued_at - created_at FROM reports`},
		{"claim → build start", `SELECT started_at - enqueued_at FROM reports`},
		{"build start → done", `SELECT completed_at - started_at FROM reports`},
		{"delivery row → first attempt", `SELECT a.started_at - d.created_at FROM deliveries d JOIN delivery_attempts a ON a.delivery_id = d.id AND a.attempt = 1`},
	} {
		rows, err := pool.Query(context.Background(), `SELECT (extract(epoch FROM s.d) * 1e6)::bigint FROM (`+stage.sql+`) AS s(d) ORDER BY 1`)
		if err != nil {
			t.Fatal(err)
		}
		var ds []time.Duration
		for rows.Next() {
			var us int64
			if err := rows.Scan(&us); err != nil {
				t.Fatal(err)
			}
			ds = append(ds, time.Duration(us)*time.Microsecond)
		}
		if err := rows.Err(); err != nil || len(ds) != n {
			t.Fatalf("read %s of %d reports: %v", stage.name, len(ds), err)
		}
		t.Logf("%s: p50 %s, p90 %s, max %s", stage.name,
			ds[n/2].Round(100*time.Microsecond), ds[n*9/10].Round(100*time.Microsecond), ds[n-1].Round(100*time.Microsecond))
		if i == 0 && ds[n/2] > 250*time.Millisecond {
			// Woken by NOTIFY this takes milliseconds; on the 1 s safety
			// poll alone its p50 would be near 500 ms.
			t.Errorf("insert → claim p50 %s: is the dispatcher still woken by the outbox's NOTIFY?", ds[n/2])
		}
	}
	if p50 > 3*time.Second {
		t.Errorf("idle p50 %s: want well under 3s", p50)
	}
}
