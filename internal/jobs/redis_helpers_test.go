package jobs_test

import (
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/reportd/reportd/internal/jobs"
	"github.com/reportd/reportd/internal/testenv"
)

// redisEnqueuer opens the test's Redis database and an Enqueuer on it with
// short task timeouts; shards is the number of report queue shards (0 or
// 1: one queue). It returns the connection options, an inspector and the
// Enqueuer; client and inspector close when the test ends. -short skips
// the test, which needs Redis.
func redisEnqueuer(t *testing.T, deliveryMaxRetry, shards int) (asynq.RedisConnOpt, *asynq.Inspector, *jobs.Enqueuer) {
	t.Helper()
	if testing.Short() {
		t.Skip("needs Redis; -short skips it")
	}
	opt, err := asynq.ParseRedisURI(testenv.RedisURL(t))
	if err != nil {
		t.Fatal(err)
	}
	client := asynq.NewClient(opt)
	t.Cleanup(func() { _ = client.Close() })
	inspector := asynq.NewInspector(opt)
	t.Cleanup(func() { _ = inspector.Close() })
	cfg := jobs.EnqueuerConfig{ReportMaxAttempts: 3, ReportTimeout: time.Minute, DeliveryMaxRetry: deliveryMaxRetry, DeliveryTimeout: time.Minute}
	if shards > 1 {
		cfg.Shards = jobs.Shards(shards)
	}
	return opt, inspector, jobs.NewEnqueuer(client, inspector, cfg)
}
