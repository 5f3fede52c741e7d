package metrics_test

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/hibiken/asynq"

	"github.com/reportd/reportd/internal/metrics"
	"github.com/reportd/reportd/internal/testenv"
)

var _ metrics.QueueInspector = (*asynq.Inspector)(nil)

// The collector reads a real asynq installation.
func TestQueueCollectorOnRedis(t *testing.T) {
	if testing.Short() {
		t.Skip("needs Redis; -short skips it")
	}
	opt, err := asynq.ParseRedisURI(testenv.RedisURL(t))
	if err != nil {
		t.Fatal(err)
	}
	client := asynq.NewClient(opt)
	defer client.Close()
	for i, o := range [][]asynq.Option{
		{asynq.Queue("reports")},
		{asynq.Queue("reports")},
		{asynq.Queue("webhooks"), asynq.ProcessIn(time.Hour)},
	} {
		if _, err := client.Enqueue(asynq.NewTask("t", []byte(`{}`)), append(o, asynq.TaskID(string(rune('a'+i))))...); err != nil {
			t.Fatalf("enqueue: %v", err)
		}
	}
	inspector := asynq.NewInspector(opt)
	defer inspector.Close()

	m := metrics.New(nil)
	m.WatchQueues(inspector, "reports", "webhooks")
	got := series(t, m.Registry(), "reportd_queue_size")
	want := map[string]float64{}
	for _, q := range []string{"reports", "webhooks"} {
		for _, s := range []string{"pending", "active", "scheduled", "retry", "archived", "completed"} {
			want["reportd_queue_size{queue="+q+",state="+s+"}"] = 0
		}
	}
	want["reportd_queue_size{queue=reports,state=pending}"] = 2
	want["reportd_queue_size{queue=webhooks,state=scheduled}"] = 1
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("queue sizes (-want +got):\n%s", diff)
	}
	if up := series(t, m.Registry(), "reportd_collector_up"); up["reportd_collector_up{collector=queues}"] != 1 {
		t.Errorf("collector_up = %v, want queues=1", up)
	}
}
