package jobs_test

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/reportd/reportd/internal/domain"
	"github.com/reportd/reportd/internal/jobs"
)

// outboxOf claims the same reports every time, as an outbox does whose
// rows were claimed again after a crash or by a second dispatcher racing.
type outboxOf struct {
	claimed   []domain.QueuedReport
	unclaimed []string
}

func (o *outboxOf) ClaimReportsToEnqueue(context.Context, int) ([]domain.QueuedReport, error) {
	return o.claimed, nil
}

func (o *outboxOf) UnclaimReports(_ context.Context, ids []string) error {
	o.unclaimed = append(o.unclaimed, ids...)
	return nil
}

// TestDispatchTwiceQueuesOnce: a report that is already queued (its
// TaskID taken) counts as queued, not as a failure to hand back to the
// outbox, on the real Enqueuer and Redis.
func TestDispatchTwiceQueuesOnce(t *testing.T) {
	_, inspector, enq := redisEnqueuer(t, 2, 0)
	outbox := &outboxOf{claimed: []domain.QueuedReport{{ID: "rep_a", ClientID: "cli_1"}, {ID: "rep_b", ClientID: "cli_1"}}}
	d := &jobs.Dispatcher{Store: outbox, Queue: enq, Logger: slog.New(slog.DiscardHandler), Interval: time.Hour}

	for range 2 {
		if n, err := d.DispatchOnce(context.Background()); n != 2 || err != nil {
			t.Fatalf("DispatchOnce = %d, %v; want 2, nil", n, err)
		}
	}
	if len(outbox.unclaimed) != 0 {
		t.Fatalf("unclaimed %v: a TaskID conflict means already queued", outbox.unclaimed)
	}
	info, err := inspector.GetQueueInfo(jobs.QueueReports)
	if err != nil {
		t.Fatal(err)
	}
	if info.Pending != 2 {
		t.Fatalf("%d report tasks pending, want 2 (one each)", info.Pending)
	}
}
