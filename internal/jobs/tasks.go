package jobs

import (
	"encoding/json"
	"fmt"
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
// so enqueueing it twice is harmless.
func NewGenerateTask(p ReportPayload, maxRetry int, timeout time.Duration) (*asynq.Task, error) {
	b, err := json.Marshal(p)
	if err != nil {
		return nil, fmt.Errorf("encode report payload: %w", err)
	}
	return asynq.NewTask(TypeGenerateReport, b, asynq.TaskID(p.ReportID), asynq.Queue(QueueReports),
		asynq.MaxRetry(maxRetry), asynq.Timeout(timeout)), nil
}

// NewDeliverTask builds the task for a delivery; its TaskID is the delivery
// id (the webhook-id).
func NewDeliverTask(p DeliveryPayload, maxRetry int, timeout time.Duration) (*asynq.Task, error) {
	b, err := json.Marshal(p)
	if err != nil {
		return nil, fmt.Errorf("encode delivery payload: %w", err)
	}
	return asynq.NewTask(TypeDeliverWebhook, b, asynq.TaskID(p.DeliveryID), asynq.Queue(QueueWebhooks),
		asynq.MaxRetry(maxRetry), asynq.Timeout(timeout)), nil
}

// NewDeliverBatchTask builds a batch's task. Its retries cover failures
// of the batch itself (Postgres or Redis away); a receiver's failure is
// retried on the delivery's own task.
func NewDeliverBatchTask(p DeliveryBatchPayload, maxRetry int, timeout time.Duration) (*asynq.Task, error) {
	b, err := json.Marshal(p)
	if err != nil {
		return nil, fmt.Errorf("encode delivery batch payload: %w", err)
	}
	return asynq.NewTask(TypeDeliverBatch, b, asynq.Queue(QueueWebhooks), asynq.MaxRetry(maxRetry), asynq.Timeout(timeout)), nil
}

func decode[T any](t *asynq.Task) (T, error) {
	var p T
	if err := json.Unmarshal(t.Payload(), &p); err != nil {
		return p, fmt.Errorf("decode %s payload: %w: %w", t.Type(), err, asynq.SkipRetry)
	}
	return p, nil
}
