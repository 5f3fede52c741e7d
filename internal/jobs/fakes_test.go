package jobs

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/reportd/reportd/internal/domain"
	"github.com/reportd/reportd/internal/webhook"
)

// Hand-written fakes of the interfaces the deliverer and the dispatcher
// use: each method calls its XxxFunc field, and one left nil panics with
// the method's name, so a test states every call it expects.

// fakeDeliveryStore is a DeliveryStore.
type fakeDeliveryStore struct {
	LoadDeliveryToSendFunc   func(ctx context.Context, id string) (domain.Delivery, []string, error)
	RecordAttemptFunc        func(ctx context.Context, id string, a domain.AttemptRecord, status domain.DeliveryStatus, next time.Time) (int, error)
	DisableWebhookFunc       func(ctx context.Context, clientID, url string) error
	LoadDeliveriesToSendFunc func(ctx context.Context, clientID string, ids []string) ([]domain.Delivery, []string, error)
	RecordAttemptsFunc       func(ctx context.Context, outcomes []domain.AttemptOutcome) error
}

var _ DeliveryStore = (*fakeDeliveryStore)(nil)

func (s *fakeDeliveryStore) LoadDeliveryToSend(ctx context.Context, id string) (domain.Delivery, []string, error) {
	if s.LoadDeliveryToSendFunc == nil {
		panic("unexpected call: DeliveryStore.LoadDeliveryToSend")
	}
	return s.LoadDeliveryToSendFunc(ctx, id)
}

func (s *fakeDeliveryStore) RecordAttempt(ctx context.Context, id string, a domain.AttemptRecord, status domain.DeliveryStatus, next time.Time) (int, error) {
	if s.RecordAttemptFunc == nil {
		panic("unexpected call: DeliveryStore.RecordAttempt")
	}
	return s.RecordAttemptFunc(ctx, id, a, status, next)
}

func (s *fakeDeliveryStore) DisableWebhook(ctx context.Context, clientID, url string) error {
	if s.DisableWebhookFunc == nil {
		panic("unexpected call: DeliveryStore.DisableWebhook")
	}
	return s.DisableWebhookFunc(ctx, clientID, url)
}

func (s *fakeDeliveryStore) LoadDeliveriesToSend(ctx context.Context, clientID string, ids []string) ([]domain.Delivery, []string, error) {
	if s.LoadDeliveriesToSendFunc == nil {
		panic("unexpected call: DeliveryStore.LoadDeliveriesToSend")
	}
	return s.LoadDeliveriesToSendFunc(ctx, clientID, ids)
}

func (s *fakeDeliveryStore) RecordAttempts(ctx context.Context, outcomes []domain.AttemptOutcome) error {
	if s.RecordAttemptsFunc == nil {
		panic("unexpected call: DeliveryStore.RecordAttempts")
	}
	return s.RecordAttemptsFunc(ctx, outcomes)
}

// fakeRetryScheduler is a RetryScheduler.
type fakeRetryScheduler struct {
	ScheduleDeliveryRetryFunc func(ctx context.Context, p DeliveryPayload, delay time.Duration) error
}

var _ RetryScheduler = (*fakeRetryScheduler)(nil)

func (r *fakeRetryScheduler) ScheduleDeliveryRetry(ctx context.Context, p DeliveryPayload, delay time.Duration) error {
	if r.ScheduleDeliveryRetryFunc == nil {
		panic("unexpected call: RetryScheduler.ScheduleDeliveryRetry")
	}
	return r.ScheduleDeliveryRetryFunc(ctx, p, delay)
}

// fakeSender is a Sender. A batch calls it from several goroutines.
type fakeSender struct {
	SendFunc func(ctx context.Context, m webhook.Message) webhook.Result
}

var _ Sender = (*fakeSender)(nil)

func (s *fakeSender) Send(ctx context.Context, m webhook.Message) webhook.Result {
	if s.SendFunc == nil {
		panic(fmt.Sprintf("unexpected call: Sender.Send of %s", m.ID))
	}
	return s.SendFunc(ctx, m)
}

// fakeDeliveryObserver is a DeliveryObserver that counts what it is told.
type fakeDeliveryObserver struct {
	mu        sync.Mutex
	attempts  []string // outcome:status code
	delivered []time.Duration
	dead      int
}

var _ DeliveryObserver = (*fakeDeliveryObserver)(nil)

func (o *fakeDeliveryObserver) AttemptDone(outcome string, statusCode int) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.attempts = append(o.attempts, fmt.Sprintf("%s:%d", outcome, statusCode))
}

func (o *fakeDeliveryObserver) Delivered(sinceCreated time.Duration) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.delivered = append(o.delivered, sinceCreated)
}

func (o *fakeDeliveryObserver) DeadLettered() {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.dead++
}

// fakeOutboxStore is an OutboxStore.
type fakeOutboxStore struct {
	ClaimReportsToEnqueueFunc func(ctx context.Context, limit int) ([]domain.QueuedReport, error)
	UnclaimReportsFunc        func(ctx context.Context, ids []string) error
}

var _ OutboxStore = (*fakeOutboxStore)(nil)

func (s *fakeOutboxStore) ClaimReportsToEnqueue(ctx context.Context, limit int) ([]domain.QueuedReport, error) {
	if s.ClaimReportsToEnqueueFunc == nil {
		panic("unexpected call: OutboxStore.ClaimReportsToEnqueue")
	}
	return s.ClaimReportsToEnqueueFunc(ctx, limit)
}

func (s *fakeOutboxStore) UnclaimReports(ctx context.Context, ids []string) error {
	if s.UnclaimReportsFunc == nil {
		panic("unexpected call: OutboxStore.UnclaimReports")
	}
	return s.UnclaimReportsFunc(ctx, ids)
}

// fakeReportQueue is a ReportQueue. The dispatcher calls it from several
// goroutines.
type fakeReportQueue struct {
	EnqueueReportFunc func(ctx context.Context, p ReportPayload) error
}

var _ ReportQueue = (*fakeReportQueue)(nil)

func (q *fakeReportQueue) EnqueueReport(ctx context.Context, p ReportPayload) error {
	if q.EnqueueReportFunc == nil {
		panic("unexpected call: ReportQueue.EnqueueReport of " + p.ReportID)
	}
	return q.EnqueueReportFunc(ctx, p)
}

// fakeEndpointStore is an EndpointStore: admission and health come from
// the real rules (the Deliverer passes them in), over facts the test sets.
// AdmitErr and SettleErr, if set, are what those calls fail with instead.
type fakeEndpointStore struct {
	mu        sync.Mutex
	Health    webhook.Health
	Lane      webhook.Lane
	Waiting   []domain.WorkRef
	AdmitErr  error
	SettleErr error
	settled   int
}

var _ EndpointStore = (*fakeEndpointStore)(nil)

func (s *fakeEndpointStore) AdmitDelivery(_ context.Context, _ string, _ time.Duration,
	decide func(webhook.Health, webhook.Lane, time.Time) webhook.Admission) (webhook.Admission, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.AdmitErr != nil {
		return webhook.Admission{}, s.AdmitErr
	}
	return decide(s.Health, s.Lane, deliverNow), nil
}

func (s *fakeEndpointStore) SettleEndpoint(_ context.Context, _, _ string, change func(webhook.Health) webhook.Health) (before, after webhook.Health, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.SettleErr != nil {
		return before, after, s.SettleErr
	}
	before = s.Health
	s.Health = change(s.Health)
	s.settled++
	return before, s.Health, nil
}

func (s *fakeEndpointStore) WaitingDeliveries(context.Context, string, string, int) ([]domain.WorkRef, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.Waiting, nil
}

// fakeWaker records which deliveries were woken.
type fakeWaker struct {
	mu    sync.Mutex
	woken []string
}

func (w *fakeWaker) RequeueDelivery(_ context.Context, p DeliveryPayload) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.woken = append(w.woken, p.DeliveryID)
	return nil
}

// fakeRescueStore is a RescueStore.
type fakeRescueStore struct {
	OrphanedRunsFunc          func(ctx context.Context, worker string, timeout time.Duration, limit int) ([]domain.OrphanedRun, error)
	StaleProcessesFunc        func(ctx context.Context, worker string, timeout time.Duration) (bool, []domain.ProcessAddr, error)
	UnstartedReportsFunc      func(ctx context.Context, ids []string) ([]string, error)
	DeleteStaleHeartbeatsFunc func(ctx context.Context, age time.Duration) (int64, error)
}

func (s *fakeRescueStore) StaleProcesses(ctx context.Context, worker string, timeout time.Duration) (bool, []domain.ProcessAddr, error) {
	if s.StaleProcessesFunc == nil {
		panic("unexpected call: RescueStore.StaleProcesses")
	}
	return s.StaleProcessesFunc(ctx, worker, timeout)
}

func (s *fakeRescueStore) UnstartedReports(ctx context.Context, ids []string) ([]string, error) {
	if s.UnstartedReportsFunc == nil {
		panic("unexpected call: RescueStore.UnstartedReports")
	}
	return s.UnstartedReportsFunc(ctx, ids)
}

var _ RescueStore = (*fakeRescueStore)(nil)

func (s *fakeRescueStore) OrphanedRuns(ctx context.Context, worker string, timeout time.Duration, limit int) ([]domain.OrphanedRun, error) {
	if s.OrphanedRunsFunc == nil {
		panic("unexpected call: RescueStore.OrphanedRuns")
	}
	return s.OrphanedRunsFunc(ctx, worker, timeout, limit)
}

func (s *fakeRescueStore) DeleteStaleHeartbeats(ctx context.Context, age time.Duration) (int64, error) {
	if s.DeleteStaleHeartbeatsFunc == nil {
		panic("unexpected call: RescueStore.DeleteStaleHeartbeats")
	}
	return s.DeleteStaleHeartbeatsFunc(ctx, age)
}

// fakeTaskRescuer is a TaskRescuer.
type fakeTaskRescuer struct {
	ActiveTasksFunc func(ctx context.Context) ([]ActiveTask, error)
	RescueTaskFunc  func(ctx context.Context, t ActiveTask) error
}

var _ TaskRescuer = (*fakeTaskRescuer)(nil)

func (q *fakeTaskRescuer) ActiveTasks(ctx context.Context) ([]ActiveTask, error) {
	if q.ActiveTasksFunc == nil {
		panic("unexpected call: TaskRescuer.ActiveTasks")
	}
	return q.ActiveTasksFunc(ctx)
}

func (q *fakeTaskRescuer) RescueTask(ctx context.Context, t ActiveTask) error {
	if q.RescueTaskFunc == nil {
		panic("unexpected call: TaskRescuer.RescueTask of " + t.ID)
	}
	return q.RescueTaskFunc(ctx, t)
}

// fakeRescueQueue is a RescueQueue.
type fakeRescueQueue struct {
	RescueReportFunc func(ctx context.Context, p ReportPayload, run int64) error
}

var _ RescueQueue = (*fakeRescueQueue)(nil)

func (q *fakeRescueQueue) RescueReport(ctx context.Context, p ReportPayload, run int64) error {
	if q.RescueReportFunc == nil {
		panic("unexpected call: RescueQueue.RescueReport of " + p.ReportID)
	}
	return q.RescueReportFunc(ctx, p, run)
}

// fakeHeartbeatStore is a HeartbeatStore.
type fakeHeartbeatStore struct {
	BeatFunc         func(ctx context.Context, worker, host string, pid int) error
	EndHeartbeatFunc func(ctx context.Context, worker string) error
}

var _ HeartbeatStore = (*fakeHeartbeatStore)(nil)

func (s *fakeHeartbeatStore) Beat(ctx context.Context, worker, host string, pid int) error {
	if s.BeatFunc == nil {
		panic("unexpected call: HeartbeatStore.Beat")
	}
	return s.BeatFunc(ctx, worker, host, pid)
}

func (s *fakeHeartbeatStore) EndHeartbeat(ctx context.Context, worker string) error {
	if s.EndHeartbeatFunc == nil {
		panic("unexpected call: HeartbeatStore.EndHeartbeat")
	}
	return s.EndHeartbeatFunc(ctx, worker)
}
