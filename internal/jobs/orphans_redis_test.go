package jobs_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"os"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/reportd/reportd/internal/domain"
	"github.com/reportd/reportd/internal/jobs"
	"github.com/reportd/reportd/internal/testenv"
)

// TestRescueTaskCopiesAnActiveDelivery: ActiveTasks names the process that
// runs a task as the heartbeats do (host, pid), and RescueTask queues one
// copy of it under its own id, with the retries it had used carried on, on
// real Redis and a real asynq server.
func TestRescueTaskCopiesAnActiveDelivery(t *testing.T) {
	opt, inspector, enq := redisEnqueuer(t, 5, 0)

	// One worker, held busy by the first task: the copy stays pending.
	release := make(chan struct{})
	srv := asynq.NewServer(opt, asynq.Config{Concurrency: 1, Queues: map[string]int{jobs.QueueWebhooks: 1},
		Logger: jobs.SlogAdapter{Logger: slog.New(slog.DiscardHandler)}, LogLevel: asynq.FatalLevel})
	if err := srv.Start(asynq.HandlerFunc(func(ctx context.Context, _ *asynq.Task) error {
		select {
		case <-release:
		case <-ctx.Done():
		}
		return nil
	})); err != nil {
		t.Fatal(err)
	}
	defer srv.Shutdown()
	defer close(release)
	p := jobs.DeliveryPayload{DeliveryID: "msg_1", ReportID: "rep_1", ClientID: "cli_1", PriorAttempts: 1}
	if err := enq.EnqueueDelivery(context.Background(), p); err != nil {
		t.Fatal(err)
	}
	host, _ := os.Hostname()
	var active jobs.ActiveTask
	// asynq writes its servers' lists every 5 s.
	testenv.Eventually(t, 15*time.Second, "the delivery to be listed as run by this process", func() bool {
		tasks, err := enq.ActiveTasks(context.Background())
		if err != nil || len(tasks) != 1 {
			return false
		}
		active = tasks[0]
		return active.Server != nil
	})
	if active.ID != "msg_1" || active.Type != jobs.TypeDeliverWebhook || *active.Server != (domain.ProcessAddr{Host: host, PID: os.Getpid()}) {
		t.Fatalf("active task %+v, server %+v; want msg_1 run by %s/%d", active, *active.Server, host, os.Getpid())
	}
	active.Retried = 2 // as if asynq had retried it twice
	for range 2 {
		if err := enq.RescueTask(context.Background(), active); err != nil {
			t.Fatal(err)
		}
	}
	info, err := inspector.GetTaskInfo(jobs.QueueWebhooks, "msg_1:rescue")
	if err != nil {
		t.Fatal(err)
	}
	var copied jobs.DeliveryPayload
	if err := json.Unmarshal(info.Payload, &copied); err != nil {
		t.Fatal(err)
	}
	if info.State != asynq.TaskStatePending || copied.DeliveryID != "msg_1" || copied.PriorAttempts != 3 || info.MaxRetry != 2 {
		t.Errorf("copy: state %s, payload %+v, max retry %d; want pending, prior attempts 3, max retry 2", info.State, copied, info.MaxRetry)
	}
	if q, err := inspector.GetQueueInfo(jobs.QueueWebhooks); err != nil || q.Pending != 1 {
		t.Errorf("pending webhook tasks: %+v %v, want 1 (one copy however often it is asked)", q, err)
	}
}
