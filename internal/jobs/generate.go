package jobs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/hibiken/asynq"

	"github.com/reportd/reportd/internal/ids"
	"github.com/reportd/reportd/internal/report"
	"github.com/reportd/reportd/internal/reports"
)

// ReportStore is what building a report needs from the system of record.
type ReportStore interface {
	StartReport(ctx context.Context, id string) (reports.Report, bool, error)
	SucceedReport(ctx context.Context, id string, res reports.Result, d *reports.NewDelivery) (string, error)
	FailReport(ctx context.Context, id, code, message string, d *reports.NewDelivery) (string, error)
	GetClient(ctx context.Context, id string) (reports.Client, error)
}

// OrderReader opens a report's data on the read model.
type OrderReader interface {
	// CaughtUp reports whether the projections have applied the whole log.
	CaughtUp(ctx context.Context) (bool, error)
	// OpenDocument fails with report.ErrBehind, without calling fn, when the
	// snapshot it reads is behind minPosition.
	OpenDocument(ctx context.Context, clientID string, t report.Type, p report.Params, minPosition int64, fn func(report.Document) error) error
}

// BlobStore stores rendered files.
type BlobStore interface {
	Put(ctx context.Context, key, contentType, disposition string, body io.Reader) (size int64, sha256 string, err error)
	Delete(ctx context.Context, key string) error
}

// DeliveryQueue queues a webhook delivery.
type DeliveryQueue interface {
	EnqueueDelivery(ctx context.Context, p DeliveryPayload) error
}

// Observer is told how report work went, for metrics. Any method may be a no-op.
type Observer interface {
	ReportFinished(t report.Type, f report.Format, status reports.Status)
	RenderDone(t report.Type, f report.Format, d time.Duration)
	Uploaded(t report.Type, f report.Format, size int64)
}

// Generator builds reports: wait for the read model, stream rows, render,
// upload, record, and queue the webhook.
type Generator struct {
	Store       ReportStore
	Orders      OrderReader
	Blobs       BlobStore
	Deliveries  DeliveryQueue
	Observer    Observer
	Logger      *slog.Logger
	Retention   time.Duration // how long files are kept
	WaitForData time.Duration // how long a report waits for min_position
	Now         func() time.Time
}

// Error codes a failed report carries.
const (
	CodeUnknownSubject = "unknown_subject"
	CodeDataNotReady   = "data_not_ready"
	CodeRenderFailed   = "render_failed"
	CodeInternal       = "internal_error"
)

// CodeAmountOutOfRange fails a report whose sums do not fit int64 minor
// units (report.ErrAmountOutOfRange): retrying cannot help.
const CodeAmountOutOfRange = "amount_out_of_range"

// errNotYet says the read model has not reached min_position; asynq retries
// it soon without counting a failure.
var errNotYet = errors.New("read model has not reached min_position yet")

// permanentError fails a report at once with a code the client sees.
type permanentError struct {
	code string
	err  error
}

func (e *permanentError) Error() string { return e.code + ": " + e.err.Error() }
func (e *permanentError) Unwrap() error { return e.err }

// ProcessTask implements asynq.Handler.
func (g *Generator) ProcessTask(ctx context.Context, t *asynq.Task) error {
	p, err := decode[ReportPayload](t)
	if err != nil {
		return err
	}
	log := g.Logger.With("report_id", p.ReportID, "client_id", p.ClientID, "request_id", p.RequestID)

	r, ok, err := g.Store.StartReport(ctx, p.ReportID)
	if errors.Is(err, reports.ErrNotFound) {
		log.WarnContext(ctx, "report task without a report row; dropping it")
		return fmt.Errorf("start report %s: %w: %w", p.ReportID, err, asynq.SkipRetry)
	}
	if err != nil {
		return fmt.Errorf("start report %s: %w", p.ReportID, err)
	}
	if !ok {
		log.InfoContext(ctx, "report already finished; nothing to do", "status", r.Status)
		return nil
	}

	err = g.build(ctx, r, p.RequestID, log)
	if err == nil || errors.Is(err, errNotYet) {
		return err
	}
	if ctx.Err() != nil {
		// Canceled (by the API or by shutdown) or timed out: let asynq decide;
		// a canceled report's row is already final, and StartReport will see it.
		return fmt.Errorf("build report %s: %w", r.ID, err)
	}
	var perm *permanentError
	retried, _ := asynq.GetRetryCount(ctx)
	maxRetry, _ := asynq.GetMaxRetry(ctx)
	if !errors.As(err, &perm) && retried < maxRetry {
		log.WarnContext(ctx, "report build failed; will retry", "err", err, "attempt", r.Attempts)
		return fmt.Errorf("build report %s: %w", r.ID, err)
	}
	code, msg := CodeInternal, "the report could not be built after several attempts"
	if perm != nil {
		code, msg = perm.code, perm.err.Error()
	}
	log.ErrorContext(ctx, "report failed", "code", code, "err", err)
	if ferr := g.fail(ctx, r, code, msg, p.RequestID); ferr != nil {
		return fmt.Errorf("record failure of report %s: %w", r.ID, ferr)
	}
	return fmt.Errorf("build report %s: %w: %w", r.ID, err, asynq.SkipRetry)
}

func (g *Generator) build(ctx context.Context, r reports.Report, requestID string, log *slog.Logger) error {
	var minPosition int64
	if r.MinPosition != nil {
		minPosition = *r.MinPosition
	}
	client, err := g.Store.GetClient(ctx, r.ClientID)
	if err != nil {
		return fmt.Errorf("load client: %w", err)
	}

	key := ObjectKey(r)
	var res reports.Result
	err = g.Orders.OpenDocument(ctx, r.ClientID, r.Type, r.Params, minPosition, func(doc report.Document) error {
		doc.Header.ReportID = r.ID
		doc.Header.ClientName = client.Name
		doc.Header.GeneratedAt = r.GeneratedAt() // from the row: a rebuild renders the same bytes
		if doc.Header.Title == "" {
			doc.Header.Title = Title(r.Type)
		}
		started := g.Now()
		stats, size, sum, err := g.renderAndUpload(ctx, key, r.Format, doc)
		if err != nil {
			return err
		}
		if g.Observer != nil {
			g.Observer.RenderDone(r.Type, r.Format, g.Now().Sub(started))
			g.Observer.Uploaded(r.Type, r.Format, size)
		}
		res = reports.Result{
			ObjectKey: key, ContentType: r.Format.ContentType(), SizeBytes: size, SHA256: sum,
			Pages: stats.Pages, Rows: stats.Rows, DataPosition: doc.Header.DataPosition,
			ExpiresAt: g.Now().Add(g.Retention).UTC(),
		}
		return nil
	})
	if errors.Is(err, report.ErrBehind) {
		if g.Now().Sub(r.CreatedAt) < g.WaitForData {
			log.DebugContext(ctx, "waiting for the read model", "min_position", minPosition, "err", err)
			return errNotYet
		}
		return &permanentError{CodeDataNotReady, fmt.Errorf("the read model did not reach position %d within %s: %w", minPosition, g.WaitForData, err)}
	}
	if errors.Is(err, report.ErrUnknownSubject) {
		// A subject may be unknown only because its first events are not
		// projected yet: wait (bounded) until the read model has caught up.
		caughtUp, cerr := g.Orders.CaughtUp(ctx)
		if cerr == nil && !caughtUp && g.Now().Sub(r.CreatedAt) < g.WaitForData {
			log.DebugContext(ctx, "subject unknown while the read model lags; waiting")
			return errNotYet
		}
		return &permanentError{CodeUnknownSubject, err}
	}
	if errors.Is(err, report.ErrAmountOutOfRange) {
		return &permanentError{CodeAmountOutOfRange, err}
	}
	if err != nil {
		return err
	}

	r.Status = reports.StatusSucceeded
	now := g.Now().UTC()
	r.CompletedAt = &now
	r.ObjectKey, r.ContentType, r.SizeBytes, r.SHA256 = res.ObjectKey, res.ContentType, res.SizeBytes, res.SHA256
	r.Pages, r.Rows, r.DataPosition, r.ExpiresAt = res.Pages, res.Rows, res.DataPosition, &res.ExpiresAt
	delivery, err := g.newDelivery(r, reports.EventSucceeded)
	if err != nil {
		return err
	}
	deliveryID, err := g.Store.SucceedReport(ctx, r.ID, res, delivery)
	if errors.Is(err, reports.ErrConflict) {
		// Canceled while rendering: the file is not wanted.
		log.InfoContext(ctx, "report was canceled while it was built; discarding the file")
		if derr := g.Blobs.Delete(context.WithoutCancel(ctx), key); derr != nil {
			log.WarnContext(ctx, "delete file of canceled report", "err", derr)
		}
		return nil
	}
	if err != nil {
		return fmt.Errorf("record result: %w", err)
	}
	if g.Observer != nil {
		g.Observer.ReportFinished(r.Type, r.Format, reports.StatusSucceeded)
	}
	log.InfoContext(ctx, "report succeeded", "size_bytes", res.SizeBytes, "pages", res.Pages, "rows", res.Rows,
		"data_position", res.DataPosition, "delivery_id", deliveryID)
	return g.queueDelivery(ctx, deliveryID, r, requestID)
}

// renderAndUpload streams the renderer's output straight into the upload,
// so the file is never held whole in memory.
func (g *Generator) renderAndUpload(ctx context.Context, key string, f report.Format, doc report.Document) (report.Stats, int64, string, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	pr, pw := io.Pipe()
	type rendered struct {
		stats report.Stats
		err   error
	}
	done := make(chan rendered, 1)
	go func() {
		stats, err := report.Render(ctx, pw, f, doc)
		pw.CloseWithError(err) // nil closes cleanly
		done <- rendered{stats, err}
	}()
	disposition := fmt.Sprintf("attachment; filename=%q", report.Filename(doc, f))
	size, sum, upErr := g.Blobs.Put(ctx, key, f.ContentType(), disposition, pr)
	if upErr != nil {
		cancel()
		_ = pr.CloseWithError(upErr) // unblock the renderer; CloseWithError always returns nil
	}
	out := <-done
	if out.err != nil {
		if errors.Is(out.err, report.ErrUnknownSubject) {
			return out.stats, 0, "", out.err
		}
		return out.stats, 0, "", fmt.Errorf("render %s: %w", f, out.err)
	}
	if upErr != nil {
		return out.stats, 0, "", fmt.Errorf("upload %s: %w", key, upErr)
	}
	return out.stats, size, sum, nil
}

func (g *Generator) fail(ctx context.Context, r reports.Report, code, msg, requestID string) error {
	r.Status = reports.StatusFailed
	r.ErrorCode, r.ErrorMessage = code, msg
	now := g.Now().UTC()
	r.CompletedAt = &now
	delivery, err := g.newDelivery(r, reports.EventFailed)
	if err != nil {
		return err
	}
	ctx = context.WithoutCancel(ctx)
	deliveryID, err := g.Store.FailReport(ctx, r.ID, code, msg, delivery)
	if errors.Is(err, reports.ErrConflict) {
		return nil // already finished (canceled)
	}
	if err != nil {
		return err
	}
	if g.Observer != nil {
		g.Observer.ReportFinished(r.Type, r.Format, reports.StatusFailed)
	}
	return g.queueDelivery(ctx, deliveryID, r, requestID)
}

// newDelivery freezes the webhook body now, so every retry and replay sends
// the same bytes under the same webhook-id.
func (g *Generator) newDelivery(r reports.Report, event string) (*reports.NewDelivery, error) {
	if r.WebhookURL == "" {
		return nil, nil //nolint:nilnil // no URL, no delivery: not an error
	}
	r.WebhookStatus = "pending"
	body, err := json.Marshal(reports.Event{Type: event, Timestamp: g.Now().UTC(), Data: r.ToResource("", time.Time{})})
	if err != nil {
		return nil, fmt.Errorf("encode webhook body: %w", err)
	}
	return &reports.NewDelivery{ID: ids.New("msg"), EventType: event, URL: r.WebhookURL, Body: body}, nil
}

func (g *Generator) queueDelivery(ctx context.Context, deliveryID string, r reports.Report, requestID string) error {
	if deliveryID == "" {
		return nil
	}
	err := g.Deliveries.EnqueueDelivery(ctx, DeliveryPayload{DeliveryID: deliveryID, ReportID: r.ID, ClientID: r.ClientID, RequestID: requestID})
	if err != nil {
		// The row is written; the sweeper will queue it. The report itself is done.
		g.Logger.WarnContext(ctx, "queue webhook delivery; the sweeper will retry", "delivery_id", deliveryID, "err", err)
	}
	return nil
}

// ObjectKey is where a report's file lives: deterministic, so a retried
// upload overwrites instead of leaking a second object.
func ObjectKey(r reports.Report) string {
	return fmt.Sprintf("reports/%s/%s.%s", r.ClientID, r.ID, r.Format)
}

// Title names a report type for people.
func Title(t report.Type) string {
	switch t {
	case report.TypeMerchantSales:
		return "Merchant sales"
	default:
		return "Order history"
	}
}
