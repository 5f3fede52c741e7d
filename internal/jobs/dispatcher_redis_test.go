package jobs_test

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/reportd/reportd/internal/domain"
	"github.com/reportd/reportd/internal/jobs"
	"github.com/reportd/reportd/internal/testenv"
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
	if testing.Short() {
		t.Skip("needs Redis; -short skips it")
	}
	opt, err := asynq.ParseRedisURI(testenv.RedisURL(t))
	if err != nil {
		t.Fatal(err)
	}
	client := asynq.NewClient(opt)
	defer client.Close()
	inspector := asynq.NewInspector(opt)
	defer inspector.Close()
	enq := jobs.NewEnqueuer(client, inspector, jobs.EnqueuerConfig{ReportMaxAttempts: 3, ReportTimeout: time.Minute, DeliveryMaxRetry: 2, DeliveryTimeout: time.Minute})
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
