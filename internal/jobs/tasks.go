package jobs

import (
	"encoding/json"
	"fmt"
	"hash/fnv"
	"strconv"
	"time"

	"github.com/hibiken/asynq"
)

// Task types.
const (
	TypeGenerateReport = "report:generate"
	TypeDeliverWebhook = "webhook:deliver"
	// TypeDeliverBatch makes the first attempt of a bulk replay for up to
	// [MaxDeliveriesPerBatch] of one client's deliveries in one task; each
	// that fails continues on its own TypeDeliverWebhook task.
	TypeDeliverBatch = "webhook:deliver-batch"
)

// MaxDeliveriesPerBatch is the most deliveries one TypeDeliverBatch task carries.
const MaxDeliveriesPerBatch = 32

// Queues. The worker serves each with its own concurrency.
const (
	QueueReports  = "reports"
	QueueWebhooks = "webhooks"
)

// Shards is how many asynq queues each of QueueReports and QueueWebhooks
// is spread over (REDIS_QUEUE_SHARDS). asynq keeps one queue's keys on one
// hash slot (asynq:{queue}:…), so on a Redis Cluster one queue lives on one
// master; shards put the work on several. 0 or 1 is the plain queue names.
// A task's shard is a hash of its TaskID (report id, delivery id), so
// whatever looks a task up by id finds it without asking every shard. This
// is the one place that names queues.
type Shards int

// ReportQueue is the queue of report reportID's task.
func (n Shards) ReportQueue(reportID string) string { return n.queue(QueueReports, reportID) }

// WebhookQueue is the queue of delivery deliveryID's task (and of a batch
// whose first delivery it is).
func (n Shards) WebhookQueue(deliveryID string) string { return n.queue(QueueWebhooks, deliveryID) }

// All lists every queue of base (QueueReports or QueueWebhooks).
func (n Shards) All(base string) []string {
	if n <= 1 {
		return []string{base}
	}
	out := make([]string, n)
	for i := range out {
		out[i] = shardName(base, uint32(i))
	}
	return out
}

func (n Shards) queue(base, id string) string {
	if n <= 1 {
		return base
	}
	h := fnv.New32a()
	_, _ = h.Write([]byte(id)) // never fails
	return shardName(base, h.Sum32()%uint32(n))
}

// shardName is "reports:0" and so on: asynq's keys become
// asynq:{reports:0}:…, one hash slot per shard.
func shardName(base string, i uint32) string { return base + ":" + strconv.FormatUint(uint64(i), 10) }

// ReportPayload asks for one report to be built.
type ReportPayload struct {
	ReportID  string `json:"report_id"`
	ClientID  string `json:"client_id"`
	RequestID string `json:"request_id,omitempty"`
}

// DeliveryPayload asks for one webhook delivery attempt.
type DeliveryPayload struct {
	DeliveryID string `json:"delivery_id"`
	ReportID   string `json:"report_id"`
	ClientID   string `json:"client_id"`
	RequestID  string `json:"request_id,omitempty"`
	// PriorAttempts is how many attempts of this run a batch already made;
	// the task's retries continue the schedule from there.
	PriorAttempts int `json:"prior_attempts,omitempty"`
}

// DeliveryBatchPayload asks for one attempt at each of a client's deliveries.
type DeliveryBatchPayload struct {
	ClientID    string   `json:"client_id"`
	DeliveryIDs []string `json:"delivery_ids"`
	RequestID   string   `json:"request_id,omitempty"`
}

// NewGenerateTask builds the task for a report. Its TaskID is the report id,
// so enqueueing it twice is harmless; it goes on the report's shard.
func NewGenerateTask(p ReportPayload, shards Shards, maxRetry int, timeout time.Duration) (*asynq.Task, error) {
	return newGenerateTask(p, p.ReportID, shards, maxRetry, timeout)
}

// RescueTaskID is the task id of the rescue of a report's run: its own,
// since the original task still sits in asynq's active set, and one per
// run, so rescuing one run twice queues it once.
func RescueTaskID(reportID string, run int64) string {
	return fmt.Sprintf("%s:rescue:%d", reportID, run)
}

func newGenerateTask(p ReportPayload, taskID string, shards Shards, maxRetry int, timeout time.Duration) (*asynq.Task, error) {
	b, err := json.Marshal(p)
	if err != nil {
		return nil, fmt.Errorf("encode report payload: %w", err)
	}
	return asynq.NewTask(TypeGenerateReport, b, asynq.TaskID(taskID), asynq.Queue(shards.ReportQueue(p.ReportID)),
		asynq.MaxRetry(maxRetry), asynq.Timeout(timeout)), nil
}

// NewDeliverTask builds the task for a delivery; its TaskID is the delivery
// id (the webhook-id), and it goes on the delivery's shard.
func NewDeliverTask(p DeliveryPayload, shards Shards, maxRetry int, timeout time.Duration) (*asynq.Task, error) {
	b, err := json.Marshal(p)
	if err != nil {
		return nil, fmt.Errorf("encode delivery payload: %w", err)
	}
	return asynq.NewTask(TypeDeliverWebhook, b, asynq.TaskID(p.DeliveryID), asynq.Queue(shards.WebhookQueue(p.DeliveryID)),
		asynq.MaxRetry(maxRetry), asynq.Timeout(timeout)), nil
}

// NewDeliverBatchTask builds a batch's task. Its retries cover failures
// of the batch itself (Postgres or Redis away); a receiver's failure is
// retried on the delivery's own task. A batch has no TaskID; it goes on the
// shard of its first delivery, which spreads batches like deliveries.
func NewDeliverBatchTask(p DeliveryBatchPayload, shards Shards, maxRetry int, timeout time.Duration) (*asynq.Task, error) {
	b, err := json.Marshal(p)
	if err != nil {
		return nil, fmt.Errorf("encode delivery batch payload: %w", err)
	}
	first := ""
	if len(p.DeliveryIDs) > 0 {
		first = p.DeliveryIDs[0]
	}
	return asynq.NewTask(TypeDeliverBatch, b, asynq.Queue(shards.WebhookQueue(first)), asynq.MaxRetry(maxRetry), asynq.Timeout(timeout)), nil
}

func decode[T any](t *asynq.Task) (T, error) {
	var p T
	if err := json.Unmarshal(t.Payload(), &p); err != nil {
		return p, fmt.Errorf("decode %s payload: %w: %w", t.Type(), err, asynq.SkipRetry)
	}
	return p, nil
}
