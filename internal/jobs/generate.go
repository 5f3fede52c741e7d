package jobs

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/hibiken/asynq"

	"github.com/reportd/reportd/internal/domain"
	"github.com/reportd/reportd/internal/ids"
	"github.com/reportd/reportd/internal/report"
)

// ReportStore is what building a report needs from the system of record.
type ReportStore interface {
	// StartReport starts a new run of the report on worker (r.Run numbers
	// it); ok is false when the report is already finished.
	StartReport(ctx context.Context, id, worker string) (domain.Report, bool, error)
	// SucceedReport and FailReport finish a report and write its event's
	// deliveries (one per target) in one transaction, returning their ids;
	// a run that is no longer the report's current one gets ErrConflict
	// (the fencing rule is on postgres.Store.SucceedReport).
	SucceedReport(ctx context.Context, id string, run int64, res domain.Result, ev *domain.NewDelivery) ([]string, error)
	FailReport(ctx context.Context, id string, run int64, code, message string, ev *domain.NewDelivery) ([]string, error)
	// AnnounceRunning writes report.running's deliveries, once per report.
	AnnounceRunning(ctx context.Context, r domain.Report) ([]string, error)
	// ReleaseAttempt takes back the attempt StartReport counted, for a run
	// that ended waiting (for the read model, or for a dependency).
	ReleaseAttempt(ctx context.Context, id string, run int64) error
	LoadReport(ctx context.Context, id string) (domain.Report, error)
	GetClient(ctx context.Context, id string) (domain.Client, error)
}

// OrderReader opens a report's data on the read model.
type OrderReader interface {
	// CaughtUp reports whether the projections have applied the whole log.
	CaughtUp(ctx context.Context) (bool, error)
	// OpenDocument fails with report.ErrBehind, without calling fn, when the
	// snapshot it reads is behind minPosition.
	OpenDocument(ctx context.Context, clientID string, t report.Type, p report.Params, minPosition int64, fn func(report.Document) error) error
	// OpenDocumentAsOf is OpenDocument with the data as it stood at asOf,
	// folded from the event log; minPosition is checked against the log.
	OpenDocumentAsOf(ctx context.Context, clientID string, t report.Type, p report.Params, asOf time.Time, minPosition int64, fn func(report.Document) error) error
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
	ReportFinished(t report.Type, f report.Format, status domain.Status)
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
	// OutageMax is how long a report waits out a dependency outage
	// (DEPENDENCY_OUTAGE_MAX) before it fails; 0 waits for ever.
	OutageMax time.Duration
	// Later, if set, retries a webhook's enqueue that failed for want of
	// Redis as soon as Redis answers, instead of leaving it to the sweeper.
	Later *RetryLater
	Now   func() time.Time
	// Progress, if set, records each build's progress (phase, rows, ETA)
	// at most once per ProgressInterval (0: progress.DefaultInterval, a
	// second).
	Progress         ProgressStore
	ProgressInterval time.Duration
	// RowHook, if set, runs on the renderer after each row with the rows
	// done so far: tests hold a build at a known row with it.
	RowHook func(reportID string, rowsDone int)
	// WorkerID names this process on the runs it starts (reports.run_by);
	// its heartbeat (Heartbeat) tells the rescuer it is alive.
	WorkerID string

	outages outageLog
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
	retried, _ := asynq.GetRetryCount(ctx)
	maxRetry, _ := asynq.GetMaxRetry(ctx)
	return g.generate(ctx, p, retried < maxRetry)
}

// generate runs one attempt at a report; retriesLeft says whether asynq
// will run it again after a failure, so that the last one records it.
func (g *Generator) generate(ctx context.Context, p ReportPayload, retriesLeft bool) error {
	log := g.Logger.With("report_id", p.ReportID, "client_id", p.ClientID, "request_id", p.RequestID)

	r, ok, err := g.Store.StartReport(ctx, p.ReportID, g.WorkerID)
	if errors.Is(err, domain.ErrNotFound) {
		log.WarnContext(ctx, "report task without a report row; dropping it")
		return fmt.Errorf("start report %s: %w: %w", p.ReportID, err, asynq.SkipRetry)
	}
	if err != nil {
		err = fmt.Errorf("start report %s: %w", p.ReportID, err)
		if g.outage(ctx, err) {
			return g.waitForDependency(ctx, p.ReportID, err, log)
		}
		return err
	}
	if !ok {
		log.InfoContext(ctx, "report already finished; nothing to do", "status", r.Status)
		return nil
	}
	if !r.RunningAnnounced {
		// Once per report, not per attempt: the row remembers it.
		announced, err := g.Store.AnnounceRunning(ctx, r)
		if err != nil {
			g.releaseAttempt(ctx, r, log)
			err = fmt.Errorf("announce report %s running: %w", r.ID, err)
			if g.outage(ctx, err) {
				return g.waitForDependency(ctx, p.ReportID, err, log)
			}
			return err
		}
		r.RunningAnnounced = true
		g.queueDeliveries(ctx, announced, r, p.RequestID)
	}

	err = g.build(ctx, r, p.RequestID, log)
	if err == nil {
		g.outages.clear(r.ID)
		return nil
	}
	if errors.Is(err, errNotYet) {
		g.releaseAttempt(ctx, r, log)
		return err
	}
	if ctx.Err() != nil {
		// Canceled (by the API or by shutdown) or timed out: let asynq decide;
		// a canceled report's row is already final, and StartReport will see it.
		return fmt.Errorf("build report %s: %w", r.ID, err)
	}
	var perm *permanentError
	if g.outage(ctx, err) {
		elapsed := g.outages.seen(r.ID, g.Now())
		if g.OutageMax <= 0 || elapsed < g.OutageMax {
			g.releaseAttempt(ctx, r, log)
			return g.waitFor(ctx, r.ID, err, elapsed, log)
		}
		perm = &permanentError{CodeInternal, fmt.Errorf("a dependency was unavailable for %s, longer than %s: %w",
			elapsed.Round(time.Second), g.OutageMax, err)}
	}
	g.outages.clear(r.ID)
	if perm == nil && !errors.As(err, &perm) && retriesLeft {
		log.WarnContext(ctx, "report build failed; will retry", "err", err, "attempt", r.Attempts)
		return fmt.Errorf("build report %s: %w", r.ID, err)
	}
	code, msg := CodeInternal, "the report could not be built after several attempts"
	if perm != nil {
		code, msg = perm.code, perm.err.Error()
	}
	log.ErrorContext(ctx, "report failed", "code", code, "err", err)
	if ferr := g.fail(ctx, r, code, msg, p.RequestID); ferr != nil {
		ferr = fmt.Errorf("record failure of report %s: %w", r.ID, ferr)
		if Unavailable(ferr) {
			// Postgres is away: the failure is recorded on a later run.
			return g.waitForDependency(ctx, r.ID, ferr, log)
		}
		return ferr
	}
	return fmt.Errorf("build report %s: %w: %w", r.ID, err, asynq.SkipRetry)
}

// outage reports whether a run's error means a dependency was away rather
// than that the report cannot be built: see [dependencyOutage].
func (g *Generator) outage(ctx context.Context, err error) bool { return dependencyOutage(ctx, err) }

// waitForDependency ends a run that met an outage before it could count an
// attempt: asynq tries again after a capped backoff without counting a
// failure, however long the outage lasts. (A task already on its last
// retry is archived by asynq whatever IsFailure says; its row stays
// unfinished and the sweeper queues it again.)
func (g *Generator) waitForDependency(ctx context.Context, id string, err error, log *slog.Logger) error {
	return g.waitFor(ctx, id, err, g.outages.seen(id, g.Now()), log)
}

func (g *Generator) waitFor(ctx context.Context, id string, err error, elapsed time.Duration, log *slog.Logger) error {
	delay := OutageBackoff(elapsed)
	log.WarnContext(ctx, "a dependency is unavailable; the report waits", "err", err,
		"outage_for", elapsed.Round(time.Millisecond).String(), "retry_in", delay.Round(time.Millisecond).String())
	return &waitError{delay: delay, err: fmt.Errorf("report %s waits for a dependency: %w", id, err)}
}

// releaseAttempt gives back the attempt StartReport counted, so attempts
// counts real builds only. If Postgres is what is away this fails, and the
// run stays counted.
func (g *Generator) releaseAttempt(ctx context.Context, r domain.Report, log *slog.Logger) {
	if err := g.Store.ReleaseAttempt(context.WithoutCancel(ctx), r.ID, r.Run); err != nil {
		log.DebugContext(ctx, "release the attempt of a waiting report", "err", err)
	}
}

func (g *Generator) build(ctx context.Context, r domain.Report, requestID string, log *slog.Logger) error {
	var minPosition int64
	if r.MinPosition != nil {
		minPosition = *r.MinPosition
	}
	client, err := g.Store.GetClient(ctx, r.ClientID)
	if err != nil {
		return fmt.Errorf("load client: %w", err)
	}

	track := g.startProgress(ctx, r.ID, log)
	defer track.close()
	track.phase(domain.PhaseReading)

	key := ObjectKey(r)
	var res domain.Result
	open := g.Orders.OpenDocument
	if r.AsOf != nil {
		open = func(ctx context.Context, clientID string, t report.Type, p report.Params, minPosition int64, fn func(report.Document) error) error {
			return g.Orders.OpenDocumentAsOf(ctx, clientID, t, p, *r.AsOf, minPosition, fn)
		}
	}
	err = open(ctx, r.ClientID, r.Type, r.Params, minPosition, func(doc report.Document) error {
		doc.Header.ReportID = r.ID
		doc.Header.ClientName = client.Name
		doc.Header.GeneratedAt = r.GeneratedAt() // from the row: a rebuild renders the same bytes
		if doc.Header.Title == "" {
			doc.Header.Title = Title(r.Type)
		}
		doc.Progress = track.start(doc.RowCount)
		started := g.Now()
		stats, size, sum, err := g.renderAndUpload(ctx, key, r.Format, doc, track)
		if err != nil {
			return err
		}
		if g.Observer != nil {
			g.Observer.RenderDone(r.Type, r.Format, g.Now().Sub(started))
			g.Observer.Uploaded(r.Type, r.Format, size)
		}
		res = domain.Result{
			ObjectKey: key, ContentType: r.Format.ContentType(), SizeBytes: size, SHA256: sum,
			Pages: stats.Pages, Rows: stats.Rows, DataPosition: doc.Header.DataPosition,
			ExpiresAt: g.Now().Add(g.Retention).UTC(),
		}
		return nil
	})
	if errors.Is(err, report.ErrBehind) {
		if g.Now().Sub(r.CreatedAt) < g.WaitForData {
			log.DebugContext(ctx, "waiting for the read model", "min_position", minPosition, "err", err)
			track.phase(domain.PhaseWaitingForData)
			return errNotYet
		}
		return &permanentError{CodeDataNotReady, fmt.Errorf("the read model did not reach position %d within %s: %w", minPosition, g.WaitForData, err)}
	}
	if errors.Is(err, report.ErrUnknownSubject) {
		// A subject may be unknown only because its first events are not
		// projected yet: wait (bounded) until the read model has caught up.
		// An as_of report reads the log itself, so it has nothing to wait for.
		caughtUp, cerr := g.Orders.CaughtUp(ctx)
		if r.AsOf == nil && cerr == nil && !caughtUp && g.Now().Sub(r.CreatedAt) < g.WaitForData {
			log.DebugContext(ctx, "subject unknown while the read model lags; waiting")
			track.phase(domain.PhaseWaitingForData)
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

	r.Status = domain.StatusSucceeded
	now := g.Now().UTC()
	r.CompletedAt = &now
	r.ObjectKey, r.ContentType, r.SizeBytes, r.SHA256 = res.ObjectKey, res.ContentType, res.SizeBytes, res.SHA256
	r.Pages, r.Rows, r.DataPosition, r.ExpiresAt = res.Pages, res.Rows, res.DataPosition, &res.ExpiresAt
	delivery, err := g.newDelivery(r, domain.EventSucceeded)
	if err != nil {
		return err
	}
	deliveryIDs, err := g.Store.SucceedReport(ctx, r.ID, r.Run, res, delivery)
	if errors.Is(err, domain.ErrConflict) {
		g.discard(ctx, r.ID, key, log)
		return nil
	}
	if err != nil {
		return fmt.Errorf("record result: %w", err)
	}
	if g.Observer != nil {
		g.Observer.ReportFinished(r.Type, r.Format, domain.StatusSucceeded)
	}
	log.InfoContext(ctx, "report succeeded", "size_bytes", res.SizeBytes, "pages", res.Pages, "rows", res.Rows,
		"data_position", res.DataPosition, "delivery_ids", deliveryIDs)
	g.queueDeliveries(ctx, deliveryIDs, r, requestID)
	return nil
}

// discard handles a build that may not record its result: the report was
// canceled, or a newer run of it (a rescue, a task queued again after
// Redis lost its data) holds it or finished first. Each run has its own
// key, so this run's file is nobody else's, unless the row records that
// very key (a result recorded whose commit this run did not see).
func (g *Generator) discard(ctx context.Context, id, key string, log *slog.Logger) {
	ctx = context.WithoutCancel(ctx)
	cur, err := g.Store.LoadReport(ctx, id)
	if err != nil {
		log.WarnContext(ctx, "load report to discard a run's file; keeping it", "err", err)
		return
	}
	if cur.ObjectKey == key {
		log.InfoContext(ctx, "this run's result is recorded; keeping its file")
		return
	}
	log.InfoContext(ctx, "report canceled or taken by another run while it was built; discarding this run's file",
		"status", cur.Status, "run", key)
	if err := g.Blobs.Delete(ctx, key); err != nil {
		log.WarnContext(ctx, "delete file of a discarded run", "err", err)
	}
}

// renderAndUpload streams the renderer's output straight into the upload,
// so the file is never held whole in memory.
func (g *Generator) renderAndUpload(ctx context.Context, key string, f report.Format, doc report.Document, track *buildProgress) (report.Stats, int64, string, error) {
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
		if err == nil {
			track.phase(domain.PhaseUploading) // the upload's last part and its commit are left
		}
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
	if upErr != nil && (errors.Is(out.err, upErr) || errors.Is(out.err, context.Canceled)) {
		// The renderer stopped because the upload failed: that is the cause.
		return out.stats, 0, "", fmt.Errorf("upload %s: %w", key, upErr)
	}
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

func (g *Generator) fail(ctx context.Context, r domain.Report, code, msg, requestID string) error {
	r.Status = domain.StatusFailed
	r.ErrorCode, r.ErrorMessage = code, msg
	now := g.Now().UTC()
	r.CompletedAt = &now
	delivery, err := g.newDelivery(r, domain.EventFailed)
	if err != nil {
		return err
	}
	ctx = context.WithoutCancel(ctx)
	deliveryIDs, err := g.Store.FailReport(ctx, r.ID, r.Run, code, msg, delivery)
	if errors.Is(err, domain.ErrConflict) {
		return nil // already finished (canceled), or a newer run has it
	}
	if err != nil {
		return err
	}
	if g.Observer != nil {
		g.Observer.ReportFinished(r.Type, r.Format, domain.StatusFailed)
	}
	g.queueDeliveries(ctx, deliveryIDs, r, requestID)
	return nil
}

// newDelivery freezes the event's body now, so every retry and replay to
// every target sends the same bytes; each target's delivery has its own
// webhook-id.
func (g *Generator) newDelivery(r domain.Report, event string) (*domain.NewDelivery, error) {
	ev, err := domain.NewEvent(r, event, ids.New("msg"), g.Now())
	if err != nil {
		return nil, err
	}
	return &ev, nil
}

// queueDeliveries queues each of a report event's deliveries. The rows are
// written and the report's step is done, so this never fails the run: a
// webhook whose enqueue fails is queued again here once Redis answers, or
// by the sweeper.
func (g *Generator) queueDeliveries(ctx context.Context, deliveryIDs []string, r domain.Report, requestID string) {
	for _, id := range deliveryIDs {
		g.queueDelivery(ctx, id, r, requestID)
	}
}

func (g *Generator) queueDelivery(ctx context.Context, deliveryID string, r domain.Report, requestID string) {
	p := DeliveryPayload{DeliveryID: deliveryID, ReportID: r.ID, ClientID: r.ClientID, RequestID: requestID}
	err := g.Deliveries.EnqueueDelivery(ctx, p)
	if err == nil {
		return
	}
	if g.Later != nil && Unavailable(err) &&
		g.Later.Add("delivery:"+deliveryID, func(ctx context.Context) error { return g.Deliveries.EnqueueDelivery(ctx, p) }) {
		g.Logger.WarnContext(ctx, "queue webhook delivery; will retry when Redis answers", "delivery_id", deliveryID, "err", err)
		return
	}
	g.Logger.WarnContext(ctx, "queue webhook delivery; the sweeper will retry", "delivery_id", deliveryID, "err", err)
}

// ObjectKey is where a run of a report puts its file. Each run has its own
// key, so a run fenced out by a newer one (see postgres.Store.SucceedReport)
// can neither overwrite nor delete the file the newer one recorded. The
// first run keeps the plain key.
func ObjectKey(r domain.Report) string {
	if r.Run <= 1 {
		return fmt.Sprintf("reports/%s/%s.%s", r.ClientID, r.ID, r.Format)
	}
	return fmt.Sprintf("reports/%s/%s.run%d.%s", r.ClientID, r.ID, r.Run, r.Format)
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
