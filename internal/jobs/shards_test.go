package jobs_test

import (
	"context"
	"fmt"
	"slices"
	"testing"

	"github.com/hibiken/asynq"

	"github.com/reportd/reportd/internal/domain"
	"github.com/reportd/reportd/internal/jobs"
)

func TestShardsOneIsThePlainQueues(t *testing.T) {
	for _, n := range []jobs.Shards{0, 1} {
		if got := n.ReportQueue("rep_x"); got != jobs.QueueReports {
			t.Errorf("Shards(%d).ReportQueue = %q, want %q", n, got, jobs.QueueReports)
		}
		if got := n.WebhookQueue("dlv_x"); got != jobs.QueueWebhooks {
			t.Errorf("Shards(%d).WebhookQueue = %q, want %q", n, got, jobs.QueueWebhooks)
		}
		if got := n.All(jobs.QueueReports); !slices.Equal(got, []string{jobs.QueueReports}) {
			t.Errorf("Shards(%d).All = %v", n, got)
		}
	}
}

func TestShardsSpreadStably(t *testing.T) {
	n := jobs.Shards(3)
	all := n.All(jobs.QueueWebhooks)
	if !slices.Equal(all, []string{"webhooks:0", "webhooks:1", "webhooks:2"}) {
		t.Fatalf("All = %v", all)
	}
	count := map[string]int{}
	for i := range 3000 {
		id := fmt.Sprintf("dlv_%06d", i)
		q := n.WebhookQueue(id)
		if !slices.Contains(all, q) {
			t.Fatalf("WebhookQueue(%s) = %q, not one of %v", id, q, all)
		}
		if again := n.WebhookQueue(id); again != q {
			t.Fatalf("WebhookQueue(%s) gave %q, then %q", id, q, again)
		}
		count[q]++
	}
	for _, q := range all {
		if count[q] < 800 { // a third is 1000
			t.Errorf("shard %s got %d of 3000 ids: %v", q, count[q], count)
		}
	}
}

// TestShardedEnqueuerFindsTasksByID: with three shards every operation that
// looks a task up by id (a TaskID conflict, cancel, redeliver, the archive)
// finds it on its shard, on real Redis.
func TestShardedEnqueuerFindsTasksByID(t *testing.T) {
	ctx := context.Background()
	shards := jobs.Shards(3)
	_, inspector, enq := redisEnqueuer(t, 2, 3)

	var reports []string
	for i := range 12 {
		id := fmt.Sprintf("rep_%02d", i)
		reports = append(reports, id)
		for range 2 { // the second is a TaskID conflict on the same shard: queued once
			if err := enq.EnqueueReport(ctx, jobs.ReportPayload{ReportID: id, ClientID: "cli_1"}); err != nil {
				t.Fatal(err)
			}
		}
	}
	pending := 0
	for _, q := range shards.All(jobs.QueueReports) {
		info, err := inspector.GetQueueInfo(q)
		if err != nil {
			t.Fatalf("queue %s: %v", q, err)
		}
		if info.Pending == 0 {
			t.Errorf("shard %s holds no report of 12", q)
		}
		pending += info.Pending
	}
	if pending != 12 {
		t.Fatalf("%d report tasks pending over the shards, want 12", pending)
	}
	if _, err := enq.QueueLatency(ctx); err != nil {
		t.Fatalf("QueueLatency: %v", err)
	}
	for _, id := range reports {
		if err := enq.CancelReport(ctx, id); err != nil {
			t.Fatalf("CancelReport(%s): %v", id, err)
		}
		if _, err := inspector.GetTaskInfo(shards.ReportQueue(id), id); err == nil {
			t.Errorf("report %s's task is still queued after the cancel", id)
		}
	}

	// A dead letter's archived task is found, listed and replaced by a redelivery.
	p := jobs.DeliveryPayload{DeliveryID: "dlv_dead", ReportID: "rep_00", ClientID: "cli_1"}
	queue := shards.WebhookQueue(p.DeliveryID)
	if err := enq.EnqueueDelivery(ctx, p); err != nil {
		t.Fatal(err)
	}
	if err := inspector.ArchiveTask(queue, p.DeliveryID); err != nil {
		t.Fatalf("archive %s on %s: %v", p.DeliveryID, queue, err)
	}
	ids, _, err := enq.ArchivedDeliveries(ctx, 0, 100)
	if err != nil || !slices.Equal(ids, []string{p.DeliveryID}) {
		t.Fatalf("ArchivedDeliveries = %v, %v; want [%s]", ids, err, p.DeliveryID)
	}
	if err := enq.RequeueDelivery(ctx, p); err != nil {
		t.Fatal(err)
	}
	if info, err := inspector.GetTaskInfo(queue, p.DeliveryID); err != nil || info.State != asynq.TaskStatePending {
		t.Fatalf("after the redelivery: %+v, %v; want a pending task", info, err)
	}
	// A batch's first attempt goes out on its first delivery's shard.
	if err := enq.Replay(ctx, []domain.WorkRef{{ID: "dlv_b1", ReportID: "rep_01", ClientID: "cli_1"}}, true, "", nil); err != nil {
		t.Fatal(err)
	}
	tasks, err := inspector.ListPendingTasks(shards.WebhookQueue("dlv_b1"))
	if err != nil || !slices.ContainsFunc(tasks, func(ti *asynq.TaskInfo) bool { return ti.Type == jobs.TypeDeliverBatch }) {
		t.Fatalf("no batch on the shard of its first delivery: %v, %v", tasks, err)
	}
}
