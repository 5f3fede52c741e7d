package jobs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/hibiken/asynq"

	"github.com/reportd/reportd/internal/domain"
	"github.com/reportd/reportd/internal/report"
)

// Hand-written fakes of what the Generator needs. A nil Func field is a
// call the test does not expect to matter; it answers a neutral value.

type genStore struct {
	mu                 sync.Mutex
	StartReportFunc    func(id string) (domain.Report, bool, error)
	SucceedReportFunc  func(id string, res domain.Result, d *domain.NewDelivery) (string, error)
	FailReportFunc     func(id, code, message string, d *domain.NewDelivery) (string, error)
	ReleaseAttemptFunc func(id string) error
	// AnnounceRunningFunc answers the report.running deliveries' ids.
	AnnounceRunningFunc func(r domain.Report) ([]string, error)
	LoadReportFunc      func(id string) (domain.Report, error)
	calls               map[string]int
}

func (s *genStore) count(name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.calls == nil {
		s.calls = map[string]int{}
	}
	s.calls[name]++
}

func (s *genStore) called(name string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls[name]
}

func (s *genStore) StartReport(_ context.Context, id, _ string) (domain.Report, bool, error) {
	s.count("StartReport")
	return s.StartReportFunc(id)
}

func (s *genStore) SucceedReport(_ context.Context, id string, _ int64, res domain.Result, d *domain.NewDelivery) ([]string, error) {
	s.count("SucceedReport")
	if s.SucceedReportFunc == nil {
		return []string{"msg_" + id}, nil
	}
	return oneID(s.SucceedReportFunc(id, res, d))
}

func (s *genStore) FailReport(_ context.Context, id string, _ int64, code, message string, d *domain.NewDelivery) ([]string, error) {
	s.count("FailReport")
	if s.FailReportFunc == nil {
		return []string{"msg_" + id}, nil
	}
	return oneID(s.FailReportFunc(id, code, message, d))
}

// oneID is a fake's one delivery id ("": none) as the store answers it.
func oneID(id string, err error) ([]string, error) {
	if id == "" {
		return nil, err
	}
	return []string{id}, err
}

func (s *genStore) AnnounceRunning(_ context.Context, r domain.Report) ([]string, error) {
	s.count("AnnounceRunning")
	if s.AnnounceRunningFunc == nil {
		return nil, nil
	}
	return s.AnnounceRunningFunc(r)
}

func (s *genStore) ReleaseAttempt(_ context.Context, id string, _ int64) error {
	s.count("ReleaseAttempt")
	if s.ReleaseAttemptFunc == nil {
		return nil
	}
	return s.ReleaseAttemptFunc(id)
}

func (s *genStore) LoadReport(_ context.Context, id string) (domain.Report, error) {
	s.count("LoadReport")
	return s.LoadReportFunc(id)
}

func (s *genStore) GetClient(_ context.Context, id string) (domain.Client, error) {
	return domain.Client{ID: id, Name: "Test Ltd"}, nil
}

type genOrders struct {
	OpenDocumentFunc func(fn func(report.Document) error) error
	asOf             []time.Time // the as_of of each OpenDocumentAsOf call
}

func (o *genOrders) OpenDocumentAsOf(ctx context.Context, clientID string, t report.Type, p report.Params, asOf time.Time, minPosition int64, fn func(report.Document) error) error {
	o.asOf = append(o.asOf, asOf)
	return o.OpenDocument(ctx, clientID, t, p, minPosition, fn)
}

func (o *genOrders) CaughtUp(context.Context) (bool, error) { return true, nil }
func (o *genOrders) OpenDocument(_ context.Context, _ string, _ report.Type, _ report.Params, _ int64, fn func(report.Document) error) error {
	if o.OpenDocumentFunc == nil {
		return fn(emptyDocument(nil))
	}
	return o.OpenDocumentFunc(fn)
}

// emptyDocument is an order history with no orders, or whose row stream
// fails with rowErr.
func emptyDocument(rowErr error) report.Document {
	return report.Document{Type: report.TypeOrderHistory, Orders: func(yield func(report.OrderRow, error) bool) {
		if rowErr != nil {
			yield(report.OrderRow{}, rowErr)
		}
	}}
}

type genBlobs struct {
	mu      sync.Mutex
	PutFunc func(key string) error // after reading the body
	// FailFirstFunc, if it returns an error, fails the upload before it
	// reads anything.
	FailFirstFunc func(key string) error
	DeleteFunc    func(key string) error
	deleted       []string
}

func (b *genBlobs) Put(_ context.Context, key, _, _ string, body io.Reader) (int64, string, error) {
	if b.FailFirstFunc != nil {
		if err := b.FailFirstFunc(key); err != nil {
			return 0, "", err // without reading a byte, as a refused connection does
		}
	}
	n, _ := io.Copy(io.Discard, body)
	if b.PutFunc != nil {
		if err := b.PutFunc(key); err != nil {
			return 0, "", err
		}
	}
	return n, "sha", nil
}

func (b *genBlobs) Delete(_ context.Context, key string) error {
	b.mu.Lock()
	b.deleted = append(b.deleted, key)
	b.mu.Unlock()
	if b.DeleteFunc != nil {
		return b.DeleteFunc(key)
	}
	return nil
}

type genQueue struct {
	mu                  sync.Mutex
	EnqueueDeliveryFunc func(p DeliveryPayload) error
	queued              []string
}

func (q *genQueue) EnqueueDelivery(_ context.Context, p DeliveryPayload) error {
	if q.EnqueueDeliveryFunc != nil {
		if err := q.EnqueueDeliveryFunc(p); err != nil {
			return err
		}
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	q.queued = append(q.queued, p.DeliveryID)
	return nil
}

// fakeClock is a settable Now.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

func discard() *slog.Logger { return slog.New(slog.DiscardHandler) }

// runningReport is what StartReport returns for a report with a webhook.
func runningReport(id string) domain.Report {
	return domain.Report{ID: id, ClientID: "cli_1", Type: report.TypeOrderHistory, Format: report.FormatCSV,
		WebhookURL: "https://example.com/hook", Status: domain.StatusRunning, Attempts: 1,
		CreatedAt: time.Date(2026, 4, 1, 9, 0, 0, 0, time.UTC)}
}

type genFixture struct {
	gen    *Generator
	store  *genStore
	orders *genOrders
	blobs  *genBlobs
	queue  *genQueue
	clock  *fakeClock
}

func newGenFixture(t *testing.T) *genFixture {
	t.Helper()
	f := &genFixture{
		store:  &genStore{StartReportFunc: func(id string) (domain.Report, bool, error) { return runningReport(id), true, nil }},
		orders: &genOrders{}, blobs: &genBlobs{}, queue: &genQueue{},
		clock: &fakeClock{now: time.Date(2026, 4, 1, 10, 0, 0, 0, time.UTC)},
	}
	f.gen = &Generator{Store: f.store, Orders: f.orders, Blobs: f.blobs, Deliveries: f.queue, Logger: discard(),
		Retention: time.Hour, WaitForData: time.Minute, OutageMax: time.Hour, Now: f.clock.Now}
	return f
}

func (f *genFixture) run(t *testing.T, id string) error {
	t.Helper()
	b, err := json.Marshal(ReportPayload{ReportID: id, ClientID: "cli_1"})
	if err != nil {
		t.Fatal(err)
	}
	return f.gen.ProcessTask(t.Context(), asynq.NewTask(TypeGenerateReport, b))
}

// freeLoopback is a loopback address nobody listens on.
func freeLoopback(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// dialError is a real connection-refused error from the kernel.
func dialError(t *testing.T) error {
	t.Helper()
	addr := freeLoopback(t)
	c, err := net.Dial("tcp", addr)
	if err == nil {
		c.Close()
		t.Fatalf("dial %s: nobody should listen there", addr)
	}
	return err
}

// s3Down is what the storage adapter returns when the gateway is gone.
func s3Down(t *testing.T) error {
	t.Helper()
	return fmt.Errorf("upload object reports/x.csv: operation error S3: PutObject, exceeded maximum number of attempts, 3: %w", dialError(t))
}

// checkWaits asserts err ends the run waiting: not a failure for asynq,
// retried within OutageRetryMax, never archived.
func checkWaits(t *testing.T, err error) time.Duration {
	t.Helper()
	if err == nil {
		t.Fatal("the run succeeded; want it to wait")
	}
	if IsFailure(err) {
		t.Errorf("IsFailure(%v) = true; an outage must not use up asynq's retries", err)
	}
	if errors.Is(err, asynq.SkipRetry) {
		t.Errorf("%v skips retries; an outage must wait", err)
	}
	d := RetryDelay(0, err, nil)
	if d <= 0 || d > OutageRetryMax {
		t.Errorf("RetryDelay = %s, want in (0, %s]", d, OutageRetryMax)
	}
	return d
}

func TestGeneratorWaitsOutS3Outage(t *testing.T) {
	f := newGenFixture(t)
	down := true
	f.blobs.PutFunc = func(string) error {
		if down {
			return s3Down(t)
		}
		return nil
	}
	var delays []time.Duration
	for _, step := range []time.Duration{0, 10 * time.Second, 50 * time.Second, 2 * time.Minute, 3 * time.Minute} {
		f.clock.advance(step)
		delays = append(delays, checkWaits(t, f.run(t, "rep_1")))
	}
	if delays[0] > OutageRetryMin {
		t.Errorf("first wait %s, want at most %s", delays[0], OutageRetryMin)
	}
	if last := delays[len(delays)-1]; last < OutageRetryMax*3/4 {
		t.Errorf("after 6 minutes the wait is %s, want it near the %s cap", last, OutageRetryMax)
	}
	if n := f.store.called("ReleaseAttempt"); n != 5 {
		t.Errorf("ReleaseAttempt called %d times for 5 waiting runs, want 5 (attempts count builds only)", n)
	}
	if n := f.store.called("FailReport"); n != 0 {
		t.Errorf("FailReport called %d times during an outage shorter than OutageMax", n)
	}

	down = false
	if err := f.run(t, "rep_1"); err != nil {
		t.Fatalf("run after S3 is back: %v", err)
	}
	if f.store.called("SucceedReport") != 1 || len(f.queue.queued) != 1 {
		t.Errorf("after the outage: %d SucceedReport, webhooks queued %v; want 1 and 1", f.store.called("SucceedReport"), f.queue.queued)
	}
}

func TestGeneratorFailsOnceTheOutageOutlastsOutageMax(t *testing.T) {
	f := newGenFixture(t)
	f.gen.OutageMax = 10 * time.Second
	f.blobs.PutFunc = func(string) error { return s3Down(t) }
	var code, msg string
	f.store.FailReportFunc = func(id, c, m string, _ *domain.NewDelivery) (string, error) {
		code, msg = c, m
		return "msg_" + id, nil
	}
	checkWaits(t, f.run(t, "rep_1"))
	f.clock.advance(9 * time.Second)
	checkWaits(t, f.run(t, "rep_1"))
	f.clock.advance(2 * time.Second)
	err := f.run(t, "rep_1")
	if !errors.Is(err, asynq.SkipRetry) {
		t.Fatalf("run 11 s into the outage: %v, want a final failure", err)
	}
	if code != CodeInternal || !strings.Contains(msg, "unavailable for 11s") {
		t.Errorf("failed with %q %q; want %s naming the outage", code, msg, CodeInternal)
	}
	if len(f.queue.queued) != 1 {
		t.Errorf("webhooks queued %v, want the report.failed one", f.queue.queued)
	}
}

func TestGeneratorOutageClockRestartsAfterProgress(t *testing.T) {
	f := newGenFixture(t)
	f.gen.OutageMax = 10 * time.Second
	down := true
	f.blobs.PutFunc = func(string) error {
		if down {
			return s3Down(t)
		}
		return nil
	}
	checkWaits(t, f.run(t, "rep_1"))
	f.clock.advance(8 * time.Second)
	// A real failure in between: the next outage is a new one.
	down = false
	f.orders.OpenDocumentFunc = func(fn func(report.Document) error) error {
		return fn(emptyDocument(errors.New("row decode: bad currency")))
	}
	_ = f.run(t, "rep_1")
	f.orders.OpenDocumentFunc = nil
	down = true
	f.clock.advance(8 * time.Second)
	checkWaits(t, f.run(t, "rep_1"))
}

func TestGeneratorRealFailureIsNotAnOutage(t *testing.T) {
	f := newGenFixture(t)
	f.orders.OpenDocumentFunc = func(fn func(report.Document) error) error {
		return fn(emptyDocument(errors.New("row decode: bad currency")))
	}
	err := f.run(t, "rep_1")
	if !IsFailure(err) {
		t.Errorf("a render failure is not counted as a failure: %v", err)
	}
	if _, ok := errors.AsType[*waitError](err); ok {
		t.Errorf("a render failure waits like an outage: %v", err)
	}
	// No retries left in this context (asynq sets none), so it fails now.
	if f.store.called("FailReport") != 1 || f.store.called("ReleaseAttempt") != 0 {
		t.Errorf("FailReport %d, ReleaseAttempt %d; want 1 and 0", f.store.called("FailReport"), f.store.called("ReleaseAttempt"))
	}
}

func TestGeneratorWaitsForPostgres(t *testing.T) {
	pgDown := fmt.Errorf("start report: %w: dial tcp 127.0.0.1:5432: connect: connection refused", domain.ErrUnavailable)
	t.Run("at start", func(t *testing.T) {
		f := newGenFixture(t)
		f.store.StartReportFunc = func(string) (domain.Report, bool, error) { return domain.Report{}, false, pgDown }
		checkWaits(t, f.run(t, "rep_1"))
		if n := f.store.called("ReleaseAttempt"); n != 0 {
			t.Errorf("ReleaseAttempt called %d times though StartReport counted nothing", n)
		}
	})
	t.Run("recording the failure after OutageMax", func(t *testing.T) {
		f := newGenFixture(t)
		f.gen.OutageMax = time.Second
		f.store.SucceedReportFunc = func(string, domain.Result, *domain.NewDelivery) (string, error) { return "", pgDown }
		f.store.FailReportFunc = func(string, string, string, *domain.NewDelivery) (string, error) { return "", pgDown }
		checkWaits(t, f.run(t, "rep_1"))
		f.clock.advance(2 * time.Second)
		checkWaits(t, f.run(t, "rep_1")) // cannot record the failure: keep waiting
		if n := f.store.called("FailReport"); n != 1 {
			t.Errorf("FailReport called %d times, want 1", n)
		}
	})
}

func TestGeneratorDependencyDeadlineIsAnOutage(t *testing.T) {
	f := newGenFixture(t)
	f.blobs.PutFunc = func(string) error { return fmt.Errorf("upload: %w", context.DeadlineExceeded) }
	checkWaits(t, f.run(t, "rep_1"))
}

func TestGeneratorReleasesTheAttemptWhileWaitingForData(t *testing.T) {
	f := newGenFixture(t)
	f.orders.OpenDocumentFunc = func(func(report.Document) error) error { return report.ErrUnknownSubject }
	caughtUp := false
	f.gen.Orders = &lagging{genOrders: f.orders, caughtUp: &caughtUp}
	f.gen.WaitForData = 24 * time.Hour
	err := f.run(t, "rep_1")
	if !errors.Is(err, errNotYet) || IsFailure(err) {
		t.Fatalf("run while the read model lags: %v, want errNotYet", err)
	}
	if n := f.store.called("ReleaseAttempt"); n != 1 {
		t.Errorf("ReleaseAttempt called %d times, want 1", n)
	}
}

type lagging struct {
	*genOrders
	caughtUp *bool
}

func (l *lagging) CaughtUp(context.Context) (bool, error) { return *l.caughtUp, nil }

func TestGeneratorHandsTheWebhookToLaterWhenRedisIsDown(t *testing.T) {
	f := newGenFixture(t)
	later := NewRetryLater(discard(), RetryLaterConfig{})
	f.gen.Later = later
	redisDown := true
	f.queue.EnqueueDeliveryFunc = func(DeliveryPayload) error {
		if redisDown {
			return fmt.Errorf("enqueue webhook:deliver: %w", dialError(t))
		}
		return nil
	}
	if err := f.run(t, "rep_1"); err != nil {
		t.Fatalf("the report is done even if its webhook cannot be queued yet: %v", err)
	}
	if later.Len() != 1 || !later.Down() {
		t.Fatalf("later holds %d (down %t), want the webhook", later.Len(), later.Down())
	}
	if later.RetryOnce(t.Context()) {
		t.Error("RetryOnce reported success while Redis is down")
	}
	redisDown = false
	if !later.RetryOnce(t.Context()) || later.Len() != 0 {
		t.Errorf("after Redis is back: %d still held", later.Len())
	}
	if len(f.queue.queued) != 1 || f.queue.queued[0] != "msg_rep_1" {
		t.Errorf("queued %v, want [msg_rep_1]", f.queue.queued)
	}
}

// TestGeneratorFencedOutRunDeletesOnlyItsOwnFile: a run whose result may
// not be recorded (the report was canceled, or a newer run holds it or
// finished first) deletes the file at its own key, never the newer run's;
// and keeps it when the row records that very key.
func TestGeneratorFencedOutRunDeletesOnlyItsOwnFile(t *testing.T) {
	const ownKey = "reports/cli_1/rep_1.run2.csv"
	for _, tc := range []struct {
		name      string
		status    domain.Status
		rowKey    string // the object key the row records
		wantDelet []string
	}{
		{"newer run succeeded", domain.StatusSucceeded, "reports/cli_1/rep_1.run3.csv", []string{ownKey}},
		{"newer run still running", domain.StatusRunning, "", []string{ownKey}},
		{"canceled", domain.StatusCanceled, "", []string{ownKey}},
		{"own result recorded", domain.StatusSucceeded, ownKey, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newGenFixture(t)
			f.store.StartReportFunc = func(id string) (domain.Report, bool, error) {
				r := runningReport(id)
				r.Run = 2
				return r, true, nil
			}
			var recorded string
			f.store.SucceedReportFunc = func(_ string, res domain.Result, _ *domain.NewDelivery) (string, error) {
				recorded = res.ObjectKey
				return "", fmt.Errorf("finish report: %w", domain.ErrConflict)
			}
			f.store.LoadReportFunc = func(id string) (domain.Report, error) {
				r := runningReport(id)
				r.Status, r.ObjectKey = tc.status, tc.rowKey
				return r, nil
			}
			if err := f.run(t, "rep_1"); err != nil {
				t.Fatal(err)
			}
			if recorded != ownKey {
				t.Errorf("run 2 uploaded to %q, want its own key %q", recorded, ownKey)
			}
			if diff := cmp.Diff(tc.wantDelet, f.blobs.deleted); diff != "" {
				t.Errorf("deleted (-want +got):\n%s", diff)
			}
			if len(f.queue.queued) != 0 {
				t.Errorf("a fenced-out run queued webhooks %v", f.queue.queued)
			}
		})
	}
}

func TestObjectKeyIsPerRun(t *testing.T) {
	r := runningReport("rep_1")
	keys := map[string]bool{}
	for run := int64(0); run <= 3; run++ {
		r.Run = run
		keys[ObjectKey(r)] = true
	}
	// Runs 0 (before any) and 1 share the plain key; 2 and 3 have their own.
	if diff := cmp.Diff(map[string]bool{"reports/cli_1/rep_1.csv": true, "reports/cli_1/rep_1.run2.csv": true,
		"reports/cli_1/rep_1.run3.csv": true}, keys); diff != "" {
		t.Errorf("keys (-want +got):\n%s", diff)
	}
}

func TestGeneratorBlamesTheUploadWhenItStopsTheRenderer(t *testing.T) {
	f := newGenFixture(t)
	f.blobs.FailFirstFunc = func(string) error { return s3Down(t) }
	// Enough rows that the renderer blocks on the pipe until the upload fails.
	f.orders.OpenDocumentFunc = func(fn func(report.Document) error) error {
		return fn(report.Document{Type: report.TypeOrderHistory, RowCount: 100_000, Orders: func(yield func(report.OrderRow, error) bool) {
			for i := range 100_000 {
				if !yield(report.OrderRow{OrderID: fmt.Sprintf("ord_%d", i), Currency: "EUR", PlacedAt: time.Unix(0, 0)}, nil) {
					return
				}
			}
		}})
	}
	checkWaits(t, f.run(t, "rep_1"))
}

// withMinPosition makes StartReport return a report that asks for position pos.
func (f *genFixture) withMinPosition(pos int64) {
	f.store.StartReportFunc = func(id string) (domain.Report, bool, error) {
		r := runningReport(id)
		r.MinPosition = &pos
		return r, true, nil
	}
}

func TestGeneratorWaitsWhileTheReadModelIsBehind(t *testing.T) {
	f := newGenFixture(t)
	f.withMinPosition(42)
	f.orders.OpenDocumentFunc = func(func(report.Document) error) error { return report.ErrBehind }
	f.gen.WaitForData = 24 * time.Hour
	err := f.run(t, "rep_1")
	if !errors.Is(err, errNotYet) || IsFailure(err) {
		t.Fatalf("run while the read model is behind min_position: %v, want errNotYet, not a failure", err)
	}
	if f.store.called("FailReport") != 0 || f.store.called("ReleaseAttempt") != 1 {
		t.Errorf("FailReport %d, ReleaseAttempt %d; want 0 and 1", f.store.called("FailReport"), f.store.called("ReleaseAttempt"))
	}
}

func TestGeneratorFailsDataNotReadyAfterWaitForData(t *testing.T) {
	f := newGenFixture(t)
	f.withMinPosition(42)
	f.orders.OpenDocumentFunc = func(func(report.Document) error) error { return report.ErrBehind }
	f.clock.now = runningReport("rep_1").CreatedAt.Add(f.gen.WaitForData + time.Second)
	var code string
	f.store.FailReportFunc = func(id, c, _ string, _ *domain.NewDelivery) (string, error) {
		code = c
		return "msg_" + id, nil
	}
	err := f.run(t, "rep_1")
	if !errors.Is(err, asynq.SkipRetry) {
		t.Errorf("a report past WaitForData: %v, want it not retried", err)
	}
	if code != CodeDataNotReady {
		t.Errorf("failed with code %q, want %s", code, CodeDataNotReady)
	}
	if n := len(f.queue.queued); n != 1 {
		t.Errorf("%d webhooks queued for the failure, want 1", n)
	}
}

func TestGeneratorRetriesARealFailureWhileRetriesAreLeft(t *testing.T) {
	f := newGenFixture(t)
	f.orders.OpenDocumentFunc = func(fn func(report.Document) error) error {
		return fn(emptyDocument(errors.New("row decode: bad currency")))
	}
	b, _ := json.Marshal(ReportPayload{ReportID: "rep_1", ClientID: "cli_1"})
	p, _ := decode[ReportPayload](asynq.NewTask(TypeGenerateReport, b))
	err := f.gen.generate(t.Context(), p, true)
	if err == nil || !IsFailure(err) || errors.Is(err, asynq.SkipRetry) {
		t.Fatalf("a render failure with retries left: %v, want a counted failure that asynq retries", err)
	}
	if f.store.called("FailReport") != 0 {
		t.Errorf("FailReport called %d times with retries left, want 0", f.store.called("FailReport"))
	}
	// The last retry records the failure and stops.
	err = f.gen.generate(t.Context(), p, false)
	if !errors.Is(err, asynq.SkipRetry) || f.store.called("FailReport") != 1 {
		t.Errorf("the last retry: %v, FailReport %d; want SkipRetry and 1", err, f.store.called("FailReport"))
	}
}

func TestGeneratorFoldsAnAsOfReportFromTheLog(t *testing.T) {
	asOf := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	f := newGenFixture(t)
	f.store.StartReportFunc = func(id string) (domain.Report, bool, error) {
		r := runningReport(id)
		r.AsOf = &asOf
		return r, true, nil
	}
	if err := f.run(t, "rep_1"); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]time.Time{asOf}, f.orders.asOf); diff != "" {
		t.Errorf("OpenDocumentAsOf calls (-want +got):\n%s", diff)
	}
}

// TestReportRunningIsAnnouncedOnce: the first run announces report.running
// and queues its deliveries; the outcome's event is then sequence 2. A run
// of a report already announced announces nothing.
func TestReportRunningIsAnnouncedOnce(t *testing.T) {
	f := newGenFixture(t)
	f.store.AnnounceRunningFunc = func(r domain.Report) ([]string, error) {
		if r.Status != domain.StatusRunning {
			t.Errorf("announced a report in status %s", r.Status)
		}
		return []string{"msg_running"}, nil
	}
	var body []byte
	f.store.SucceedReportFunc = func(id string, _ domain.Result, d *domain.NewDelivery) (string, error) {
		body = d.Body
		return "msg_done", nil
	}
	if err := f.run(t, "rep_1"); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"msg_running", "msg_done"}, f.queue.queued); diff != "" {
		t.Errorf("queued (-want +got):\n%s", diff)
	}
	var ev struct {
		Data struct {
			Sequence int `json:"sequence"`
		} `json:"data"`
	}
	if err := json.Unmarshal(body, &ev); err != nil || ev.Data.Sequence != 2 {
		t.Errorf("report.succeeded's data.sequence = %d (%v), want 2", ev.Data.Sequence, err)
	}

	f2 := newGenFixture(t)
	f2.store.StartReportFunc = func(id string) (domain.Report, bool, error) {
		r := runningReport(id)
		r.RunningAnnounced = true
		return r, true, nil
	}
	if err := f2.run(t, "rep_2"); err != nil {
		t.Fatal(err)
	}
	if n := f2.store.called("AnnounceRunning"); n != 0 {
		t.Errorf("AnnounceRunning called %d times for a report already announced", n)
	}
}
