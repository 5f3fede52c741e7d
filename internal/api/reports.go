package api

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gorilla/mux"

	"github.com/reportd/reportd/internal/domain"
	"github.com/reportd/reportd/internal/ids"
	"github.com/reportd/reportd/internal/report"
	"github.com/reportd/reportd/internal/webhook"
)

type createReportRequest struct {
	Type        report.Type     `json:"type"`
	Format      report.Format   `json:"format"`
	Params      report.Params   `json:"params"`
	WebhookURL  *string         `json:"webhook_url,omitempty"`
	MinPosition *int64          `json:"min_position,omitempty"`
	AsOf        *string         `json:"as_of,omitempty"`
	Metadata    json.RawMessage `json:"metadata,omitempty"`
}

// asOfSkew is how far in the future an as_of may be, for clocks that differ.
const asOfSkew = time.Minute

// parseAsOf checks a request's as_of: an RFC 3339 time from 1900 on and no
// later than now (give or take asOfSkew). Nil when none was sent.
func parseAsOf(raw *string, now time.Time) (*time.Time, *FieldError) {
	if raw == nil {
		return nil, nil
	}
	bad := func(msg string) (*time.Time, *FieldError) {
		return nil, &FieldError{Field: "as_of", Message: msg}
	}
	t, err := time.Parse(time.RFC3339Nano, *raw)
	switch {
	case err != nil:
		return bad("must be an RFC 3339 time, like 2026-03-01T12:00:00Z")
	case t.Year() < 1900:
		return bad("must be in 1900 or later")
	case t.After(now.Add(asOfSkew)):
		return bad("must not be in the future")
	}
	t = t.UTC()
	return &t, nil
}

const maxMetadata = 4 << 10

func (req createReportRequest) validate(s Settings) []FieldError {
	var errs []FieldError
	for _, fe := range report.ValidateRequest(req.Type, req.Format, req.Params, s.MaxReportRange) {
		errs = append(errs, FieldError{Field: fe.Field, Message: fe.Message})
	}
	if req.WebhookURL != nil {
		if err := webhook.ValidateURL(*req.WebhookURL, s.AllowPrivateWebhooks); err != nil {
			errs = append(errs, FieldError{Field: "webhook_url", Message: err.Error()})
		}
	}
	if req.MinPosition != nil && *req.MinPosition < 0 {
		errs = append(errs, FieldError{Field: "min_position", Message: "must be zero or more"})
	}
	if len(req.Metadata) > 0 {
		var obj map[string]any
		switch {
		case len(req.Metadata) > maxMetadata:
			errs = append(errs, FieldError{Field: "metadata", Message: fmt.Sprintf("must be at most %d bytes", maxMetadata)})
		case json.Unmarshal(req.Metadata, &obj) != nil || obj == nil:
			errs = append(errs, FieldError{Field: "metadata", Message: "must be a JSON object"})
		}
	}
	return errs
}

// maxIdempotencyKey bounds the Idempotency-Key header.
const maxIdempotencyKey = 255

// idempotencyKey reads and checks the Idempotency-Key header: absent means
// none; present, it must be 1 to 255 printable ASCII characters, sent once.
func idempotencyKey(r *http.Request) (string, error) {
	values, present := r.Header["Idempotency-Key"]
	if !present {
		return "", nil
	}
	bad := func(msg string) error { return invalid(FieldError{Field: "Idempotency-Key", Message: msg}) }
	switch key := values[0]; {
	case len(values) > 1:
		return "", bad("must be sent at most once")
	case key == "":
		return "", bad("must not be empty; leave the header out to send no key")
	case len(key) > maxIdempotencyKey:
		return "", bad(fmt.Sprintf("must be at most %d characters", maxIdempotencyKey))
	case strings.IndexFunc(key, func(c rune) bool { return c < 0x21 || c > 0x7e }) >= 0:
		return "", bad("must be printable ASCII without spaces")
	default:
		return key, nil
	}
}

// Id prefixes of the resources in paths and cursors.
const (
	reportIDPrefix   = "rep"
	deliveryIDPrefix = "msg"
)

// pathID returns the route's {id} and whether it has the shape ids.New
// makes. An id of any other shape (NUL, invalid UTF-8, too long) cannot
// exist, so the handler answers 404 without asking the store.
func pathID(r *http.Request, prefix string) (string, bool) {
	id := mux.Vars(r)["id"]
	return id, ids.HasPrefix(id, prefix)
}

// createdReport is the 202 body: the report plus when work should start.
type createdReport struct {
	domain.Resource

	EstimatedStartAt time.Time `json:"estimated_start_at"`
}

func handleCreateReport(d Deps, queue *latencyCache) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := r.Context()
		principal := principalFrom(ctx)
		var req createReportRequest
		if err := decodeJSON(w, r, &req); err != nil {
			writeError(w, r, d.Logger, err)
			return
		}
		errs := req.validate(d.Settings)
		asOf, asOfErr := parseAsOf(req.AsOf, d.Now())
		if asOfErr != nil {
			errs = append(errs, *asOfErr)
		}
		if len(errs) > 0 {
			writeProblem(w, invalid(errs...))
			return
		}
		keyValue, err := idempotencyKey(r)
		if err != nil {
			writeError(w, r, d.Logger, err)
			return
		}
		latency, err := queue.get(ctx)
		if err != nil {
			writeError(w, r, d.Logger, fmt.Errorf("check report queue: %w: %w", domain.ErrUnavailable, err))
			return
		}

		var canonical []byte
		if keyValue != "" {
			canonical, _ = json.Marshal(req) // re-encoded, so spacing and key order don't matter
		}
		key, done := claimIdempotencyKey(w, r, d, principal.ClientID, keyValue, canonical)
		if done {
			return
		}

		rep, err := createReport(ctx, d, principal, req, asOf, key, latency)
		if err != nil {
			if key != nil {
				if rerr := d.Idempotency.ReleaseKey(context.WithoutCancel(ctx), *key); rerr != nil {
					d.Logger.WarnContext(ctx, "release idempotency key", "err", rerr)
				}
			}
			writeError(w, r, d.Logger, err)
			return
		}
		if d.ReportMetrics != nil {
			d.ReportMetrics.ReportCreated(rep.Type, rep.Format)
		}
		// The committed row is the whole promise: the workers' dispatcher
		// queues it (a transactional outbox), so no Redis round trip here.
		body, _ := json.Marshal(createdReport{Resource: rep.ToResource("", time.Time{}), EstimatedStartAt: rep.CreatedAt.Add(latency)})
		w.Header().Set("Location", "/v1/reports/"+rep.ID)
		writeRaw(w, http.StatusAccepted, body)
	})
}

func createReport(ctx context.Context, d Deps, principal domain.Principal, req createReportRequest, asOf *time.Time, key *domain.IdempotencyKey, latency time.Duration) (domain.Report, error) {
	client := principal.Client
	hook := "" // the store falls back to the client's current default URL
	if req.WebhookURL != nil {
		hook = *req.WebhookURL
	}
	limit := d.Settings.MaxInFlight
	if client.MaxInFlight >= 0 {
		limit = client.MaxInFlight
	}
	nr := domain.NewReport{
		ID: ids.New("rep"), ClientID: principal.ClientID, Type: req.Type, Format: req.Format, Params: req.Params,
		Metadata: req.Metadata, WebhookURL: hook, MinPosition: req.MinPosition, AsOf: asOf, RequestID: RequestID(ctx),
	}
	return d.Reports.CreateReport(ctx, nr, limit, key, func(rep domain.Report) (int, []byte, error) {
		body, err := json.Marshal(createdReport{Resource: rep.ToResource("", time.Time{}), EstimatedStartAt: rep.CreatedAt.Add(latency)})
		return http.StatusAccepted, body, err
	})
}

// claimIdempotencyKey claims an Idempotency-Key for this request. done means
// the answer has been written: the replay of the first answer, or the error
// (422 for a reused key, 409 while another request holds it). A nil key
// means the request carried none.
func claimIdempotencyKey(w http.ResponseWriter, r *http.Request, d Deps, clientID, value string, request []byte) (key *domain.IdempotencyKey, done bool) {
	if value == "" {
		return nil, false
	}
	fp := sha256.Sum256(request)
	key = &domain.IdempotencyKey{ClientID: clientID, Endpoint: r.Method + " " + r.URL.Path, Key: value, Fingerprint: fp[:]}
	stored, err := d.Idempotency.ClaimKey(r.Context(), *key)
	if err != nil {
		writeError(w, r, d.Logger, err)
		return nil, true
	}
	if stored != nil {
		w.Header().Set("Idempotent-Replayed", "true")
		replayLocation(w, stored.Body)
		writeRaw(w, stored.Status, stored.Body)
		return nil, true
	}
	return key, false
}

// replayLocation restores the Location header of a replayed 202.
func replayLocation(w http.ResponseWriter, body []byte) {
	var v struct {
		ID string `json:"id"`
	}
	if json.Unmarshal(body, &v) == nil && v.ID != "" {
		w.Header().Set("Location", "/v1/reports/"+v.ID)
	}
}

func handleGetReport(d Deps) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := r.Context()
		wait, err := parseWait(r.URL.Query().Get("wait"), d.Settings.MaxWait)
		if err != nil {
			writeError(w, r, d.Logger, err)
			return
		}
		id, ok := pathID(r, reportIDPrefix)
		if !ok {
			writeProblem(w, errNotFound)
			return
		}
		rep, err := d.Reports.GetReport(ctx, principalFrom(ctx).ClientID, id)
		deadline := time.NewTimer(wait)
		defer deadline.Stop()
		poll := time.NewTicker(250 * time.Millisecond)
		defer poll.Stop()
	wait:
		for err == nil && !rep.Status.Finished() && wait > 0 {
			select {
			case <-ctx.Done():
				return
			case <-deadline.C:
				break wait
			case <-poll.C:
				rep, err = d.Reports.GetReport(ctx, principalFrom(ctx).ClientID, id)
			}
		}
		if err != nil {
			writeError(w, r, d.Logger, err)
			return
		}
		writeJSON(w, http.StatusOK, resource(ctx, d, rep))
	})
}

func parseWait(v string, maxWait time.Duration) (time.Duration, error) {
	if v == "" {
		return 0, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		if n, nerr := strconv.Atoi(v); nerr == nil {
			d, err = time.Duration(n)*time.Second, nil
		}
	}
	if err != nil || d < 0 || d > maxWait {
		return 0, invalid(FieldError{Field: "wait", Message: fmt.Sprintf("must be a duration such as 30s, at most %s", maxWait)})
	}
	return d, nil
}

// resource renders a report with a freshly minted download URL.
func resource(ctx context.Context, d Deps, rep domain.Report) domain.Resource {
	if rep.Status != domain.StatusSucceeded || rep.ObjectKey == "" {
		return rep.ToResource("", time.Time{})
	}
	url, expires, err := d.Files.PresignGet(ctx, rep.ObjectKey, d.Settings.PresignTTL)
	if err != nil {
		d.Logger.WarnContext(ctx, "presign download url", "report_id", rep.ID, "err", err)
		return rep.ToResource("", time.Time{})
	}
	return rep.ToResource(url, expires)
}

func handleDownload(d Deps) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := r.Context()
		id, ok := pathID(r, reportIDPrefix)
		if !ok {
			writeProblem(w, errNotFound)
			return
		}
		rep, err := d.Reports.GetReport(ctx, principalFrom(ctx).ClientID, id)
		if err != nil {
			writeError(w, r, d.Logger, err)
			return
		}
		switch rep.Status {
		case domain.StatusSucceeded:
		case domain.StatusExpired:
			writeProblem(w, problem(http.StatusGone, "report-expired", "Report expired", "The report's file was deleted at the end of its retention period."))
			return
		default:
			writeProblem(w, problem(http.StatusConflict, "report-not-ready", "Report not ready",
				fmt.Sprintf("The report is %s; only a succeeded report has a file.", rep.Status)))
			return
		}
		url, _, err := d.Files.PresignGet(ctx, rep.ObjectKey, d.Settings.PresignTTL)
		if err != nil {
			writeError(w, r, d.Logger, fmt.Errorf("presign %s: %w: %w", rep.ID, domain.ErrUnavailable, err))
			return
		}
		w.Header().Set("Cache-Control", "no-store")
		http.Redirect(w, r, url, http.StatusSeeOther)
	})
}

type listResponse[T any] struct {
	Object     string  `json:"object"`
	Data       []T     `json:"data"`
	HasMore    bool    `json:"has_more"`
	NextCursor *string `json:"next_cursor"`
}

// page builds one page of a cursor-paged list from rows fetched with
// limit+1: the extra row only tells that there is a next page, whose cursor
// is the last shown row's (created_at, id) as key returns them.
func page[Row, Out any](rows []Row, limit int, key func(Row) (time.Time, string), show func(Row) Out) listResponse[Out] {
	out := listResponse[Out]{Object: "list", Data: make([]Out, 0, min(len(rows), limit))}
	if len(rows) > limit {
		rows = rows[:limit]
		out.HasMore = true
		c := encodeCursor(key(rows[len(rows)-1]))
		out.NextCursor = &c
	}
	for _, r := range rows {
		out.Data = append(out.Data, show(r))
	}
	return out
}

func handleListReports(d Deps) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := r.Context()
		q := r.URL.Query()
		var errs []FieldError
		f := domain.ListFilter{Status: domain.Status(q.Get("status")), Type: report.Type(q.Get("type"))}
		switch f.Status {
		case "", domain.StatusQueued, domain.StatusRunning, domain.StatusSucceeded, domain.StatusFailed, domain.StatusCanceled, domain.StatusExpired:
		default:
			errs = append(errs, FieldError{Field: "status", Message: "must be queued, running, succeeded, failed, canceled or expired"})
		}
		switch f.Type {
		case "", report.TypeOrderHistory, report.TypeMerchantSales:
		default:
			errs = append(errs, FieldError{Field: "type", Message: "must be order_history or merchant_sales"})
		}
		limit, lerr := parseLimit(q.Get("limit"))
		if lerr != nil {
			errs = append(errs, *lerr)
		}
		var cerr error
		f.AfterCreated, f.AfterID, cerr = decodeCursor(q.Get("cursor"), reportIDPrefix)
		if cerr != nil {
			errs = append(errs, FieldError{Field: "cursor", Message: "is not a cursor this API returned"})
		}
		if len(errs) > 0 {
			writeProblem(w, invalid(errs...))
			return
		}
		f.Limit = limit + 1 // one extra row tells whether there is a next page
		list, err := d.Reports.ListReports(ctx, principalFrom(ctx).ClientID, f)
		if err != nil {
			writeError(w, r, d.Logger, err)
			return
		}
		writeJSON(w, http.StatusOK, page(list, limit,
			func(r domain.Report) (time.Time, string) { return r.CreatedAt, r.ID },
			func(r domain.Report) domain.Resource { return r.ToResource("", time.Time{}) }))
	})
}

func parseLimit(v string) (int, *FieldError) {
	if v == "" {
		return 20, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > 100 {
		return 0, &FieldError{Field: "limit", Message: "must be a whole number from 1 to 100"}
	}
	return n, nil
}

// Cursors are opaque to clients: base64url of "unix-nanos:id".
func encodeCursor(t time.Time, id string) string {
	return base64.RawURLEncoding.EncodeToString([]byte(strconv.FormatInt(t.UnixNano(), 10) + ":" + id))
}

// maxCursor bounds the cursor parameter: a real one is under 70 characters.
const maxCursor = 128

// decodeCursor reads a cursor this API made for ids with prefix, and checks
// what it decodes to, so garbage, NUL or invalid UTF-8 inside a valid
// base64 never reaches the store.
func decodeCursor(c, prefix string) (time.Time, string, error) {
	if c == "" {
		return time.Time{}, "", nil
	}
	if len(c) > maxCursor {
		return time.Time{}, "", errors.New("cursor too long")
	}
	raw, err := base64.RawURLEncoding.DecodeString(c)
	if err != nil {
		return time.Time{}, "", fmt.Errorf("decode cursor: %w", err)
	}
	nanos, id, ok := strings.Cut(string(raw), ":")
	n, err := strconv.ParseInt(nanos, 10, 64)
	if !ok || err != nil || n < 0 || !ids.HasPrefix(id, prefix) {
		return time.Time{}, "", errors.New("malformed cursor")
	}
	return time.Unix(0, n).UTC(), id, nil
}

func handleCancelReport(d Deps) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := r.Context()
		id, ok := pathID(r, reportIDPrefix)
		if !ok {
			writeProblem(w, errNotFound)
			return
		}
		rep, deliveryIDs, err := d.Reports.CancelReport(ctx, principalFrom(ctx).ClientID, id)
		if errors.Is(err, domain.ErrConflict) {
			writeProblem(w, problem(http.StatusConflict, "report-finished", "Report already finished", "Only a queued or running report can be canceled."))
			return
		}
		if err != nil {
			writeError(w, r, d.Logger, err)
			return
		}
		if d.ReportMetrics != nil {
			d.ReportMetrics.ReportFinished(rep.Type, rep.Format, domain.StatusCanceled)
		}
		// The row says canceled, so a task that still runs will stop at its
		// next check even if this signal is lost.
		if err := d.Queue.CancelReport(ctx, rep.ID); err != nil {
			d.Logger.WarnContext(ctx, "cancel report task", "report_id", rep.ID, "err", err)
		}
		for _, del := range deliveryIDs {
			if err := d.Queue.Redeliver(ctx, domain.WorkRef{ID: del, ReportID: rep.ID, ClientID: rep.ClientID}); err != nil {
				d.Logger.WarnContext(ctx, "queue report.canceled delivery; the sweeper will retry", "delivery_id", del, "err", err)
			}
		}
		writeJSON(w, http.StatusOK, rep.ToResource("", time.Time{}))
	})
}

// latencyCache keeps the queue's health and latency for a second, so intake
// does not ask Redis on every request.
type latencyCache struct {
	queue Queue
	now   func() time.Time

	mu      sync.Mutex
	checked time.Time
	latency time.Duration
	err     error
}

func newLatencyCache(q Queue, now func() time.Time) *latencyCache {
	return &latencyCache{queue: q, now: now}
}

func (c *latencyCache) get(ctx context.Context) (time.Duration, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.now().Sub(c.checked) < time.Second {
		return c.latency, c.err
	}
	ctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	c.latency, c.err = c.queue.QueueLatency(ctx)
	c.checked = c.now()
	return c.latency, c.err
}
