package domain

import (
	"encoding/json"
	"errors"
	"time"

	"github.com/reportd/reportd/internal/report"
)

// Status is where a report is in its lifecycle.
type Status string

// The lifecycle: queued → running → succeeded | failed; queued or running →
// canceled; succeeded → expired once the file is deleted.
const (
	StatusQueued    Status = "queued"
	StatusRunning   Status = "running"
	StatusSucceeded Status = "succeeded"
	StatusFailed    Status = "failed"
	StatusCanceled  Status = "canceled"
	StatusExpired   Status = "expired"
)

// Finished reports whether no more work will happen on a report.
func (s Status) Finished() bool {
	return s != StatusQueued && s != StatusRunning
}

// Errors shared by the stores and their callers.
var (
	ErrNotFound = errors.New("not found")
	ErrConflict = errors.New("conflict with current state")
)

// Report is one report as the system of record holds it.
type Report struct {
	ID          string
	ClientID    string
	Type        report.Type
	Format      report.Format
	Params      report.Params
	Metadata    json.RawMessage
	WebhookURL  string
	MinPosition *int64
	// AsOf, when set, asks for the data as it stood at that instant, folded
	// from the event log by occurrence time.
	AsOf *time.Time

	Status       Status
	Attempts     int
	ErrorCode    string
	ErrorMessage string

	ObjectKey    string
	ContentType  string
	SizeBytes    int64
	SHA256       string
	Pages        int
	Rows         int
	DataPosition int64

	CreatedAt   time.Time
	StartedAt   *time.Time
	CompletedAt *time.Time
	ExpiresAt   *time.Time

	WebhookStatus   string // pending, delivered, failing, dead, none
	WebhookAttempts int

	ScheduleID   string     // the schedule whose fire created it, if any
	ScheduledFor *time.Time // that fire's time

	// Progress is how far the running build is; nil before its first
	// report. The resource shows it only while the report runs.
	Progress *Progress

	// RunningAnnounced says its report.running event exists, which decides
	// the later events' sequence (see EventSequence).
	RunningAnnounced bool

	// Run numbers the report's runs: StartReport takes the next, and only
	// the current one may finish the report (postgres.Store.SucceedReport).
	Run int64
}

// GeneratedAt is the time a report's file says it was generated: when its
// first attempt started (before any, when it was requested). It comes from
// the row, not the clock, so every attempt and every rebuild of one report
// at one data position renders the same bytes.
func (r Report) GeneratedAt() time.Time {
	if r.StartedAt != nil {
		return r.StartedAt.UTC()
	}
	return r.CreatedAt.UTC()
}

// Result is what a successful render produced.
type Result struct {
	ObjectKey    string
	ContentType  string
	SizeBytes    int64
	SHA256       string
	Pages        int
	Rows         int
	DataPosition int64
	ExpiresAt    time.Time
}

// Resource is the public JSON shape of a report (GET /v1/reports/{id} and
// the data of every webhook).
type Resource struct {
	ID          string          `json:"id"`
	Object      string          `json:"object"`
	Status      Status          `json:"status"`
	Type        report.Type     `json:"type"`
	Format      report.Format   `json:"format"`
	Params      report.Params   `json:"params"`
	Metadata    json.RawMessage `json:"metadata,omitempty"`
	MinPosition *int64          `json:"min_position,omitempty"`
	AsOf        *time.Time      `json:"as_of,omitempty"`
	Attempts    int             `json:"attempts"`
	CreatedAt   time.Time       `json:"created_at"`
	StartedAt   *time.Time      `json:"started_at"`
	CompletedAt *time.Time      `json:"completed_at"`
	Error       *ErrorBody      `json:"error"`
	Result      *ResultBody     `json:"result"`
	Webhook     WebhookBody     `json:"webhook"`
	// ScheduleID and ScheduledFor say which schedule fire made the report
	// (null for a report requested directly).
	ScheduleID   *string    `json:"schedule_id"`
	ScheduledFor *time.Time `json:"scheduled_for"`
	// Progress is set only while the report is running.
	Progress *Progress `json:"progress,omitempty"`
}

// ErrorBody says why a report failed.
type ErrorBody struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// ResultBody describes the stored file. URL is a presigned GET minted per
// request; webhooks leave it out (it would expire) and name Download instead.
type ResultBody struct {
	URL          string     `json:"url,omitempty"`
	ExpiresAt    *time.Time `json:"expires_at,omitempty"`
	Download     string     `json:"download"`
	SizeBytes    int64      `json:"size_bytes"`
	SHA256       string     `json:"sha256"`
	ContentType  string     `json:"content_type"`
	Pages        int        `json:"pages"`
	Rows         int        `json:"rows"`
	DataPosition int64      `json:"data_position"`
	AsOf         *time.Time `json:"as_of,omitempty"` // the request's as_of: the instant the data stood at
	RetainUntil  *time.Time `json:"retain_until,omitempty"`
}

// WebhookBody summarises the report's webhook deliveries.
type WebhookBody struct {
	Status   string `json:"status"`
	Attempts int    `json:"attempts"`
}

// ToResource builds the public shape. url and urlExpires may be empty.
func (r Report) ToResource(url string, urlExpires time.Time) Resource {
	res := Resource{
		ID: r.ID, Object: "report", Status: r.Status, Type: r.Type, Format: r.Format,
		Params: r.Params, Metadata: r.Metadata, MinPosition: r.MinPosition, AsOf: r.AsOf, Attempts: r.Attempts,
		CreatedAt: r.CreatedAt, StartedAt: r.StartedAt, CompletedAt: r.CompletedAt,
		Webhook: WebhookBody{Status: r.WebhookStatus, Attempts: r.WebhookAttempts},
	}
	if r.ScheduleID != "" {
		res.ScheduleID, res.ScheduledFor = &r.ScheduleID, r.ScheduledFor
	}
	if res.Webhook.Status == "" {
		res.Webhook.Status = "none"
	}
	if r.Status == StatusRunning && r.Progress != nil {
		p := *r.Progress
		res.Progress = &p
	}
	if r.ErrorCode != "" {
		res.Error = &ErrorBody{Code: r.ErrorCode, Message: r.ErrorMessage}
	}
	if r.Status == StatusSucceeded || r.Status == StatusExpired {
		res.Result = &ResultBody{
			Download:    "/v1/reports/" + r.ID + "/download",
			SizeBytes:   r.SizeBytes,
			SHA256:      r.SHA256,
			ContentType: r.ContentType, Pages: r.Pages, Rows: r.Rows, DataPosition: r.DataPosition,
			AsOf: r.AsOf, RetainUntil: r.ExpiresAt,
		}
		if url != "" {
			res.Result.URL = url
			res.Result.ExpiresAt = &urlExpires
		}
	}
	return res
}

// Event types a webhook announces.
const (
	EventSucceeded = "report.succeeded"
	EventFailed    = "report.failed"
	EventCanceled  = "report.canceled"
)

// Event is the webhook body: {"type","timestamp","data"}.
type Event struct {
	Type      string    `json:"type"`
	Timestamp time.Time `json:"timestamp"`
	Data      Resource  `json:"data"`
}

// DeliveryStatus is where a webhook delivery is.
type DeliveryStatus string

// Delivery statuses.
const (
	DeliveryPending   DeliveryStatus = "pending"   // not yet attempted
	DeliveryDelivered DeliveryStatus = "delivered" // a 2xx came back
	DeliveryFailing   DeliveryStatus = "failing"   // failed, more attempts scheduled
	DeliveryDead      DeliveryStatus = "dead"      // out of attempts; replayable
	DeliveryDisabled  DeliveryStatus = "disabled"  // the receiver answered 410
)

// Delivery is one webhook message for one report event. Its ID is the
// webhook-id and its Body never changes, so retries and replays are the
// same message.
type Delivery struct {
	ID             string         `json:"id"`
	ReportID       string         `json:"report_id"`
	ClientID       string         `json:"-"`
	EventType      string         `json:"event_type"`
	URL            string         `json:"url"`
	Body           []byte         `json:"-"`
	Status         DeliveryStatus `json:"status"`
	Attempts       int            `json:"attempts"`
	LastStatusCode *int           `json:"last_status_code"`
	LastError      string         `json:"last_error,omitempty"`
	NextAttemptAt  *time.Time     `json:"next_attempt_at"`
	CreatedAt      time.Time      `json:"created_at"`
	DeliveredAt    *time.Time     `json:"delivered_at"`
	DeadAt         *time.Time     `json:"dead_at"`
	// EndpointID is the endpoint it goes to; nil for the report's own URL.
	EndpointID *string   `json:"endpoint_id"`
	Sequence   int       `json:"sequence"`
	AttemptLog []Attempt `json:"attempt_log,omitempty"`
}

// Attempt is one recorded try of a delivery.
type Attempt struct {
	Attempt      int       `json:"attempt"`
	StartedAt    time.Time `json:"started_at"`
	StatusCode   *int      `json:"status_code"`
	LatencyMS    int       `json:"latency_ms"`
	Outcome      string    `json:"outcome"`
	Error        string    `json:"error,omitempty"`
	ResponseBody string    `json:"response_body,omitempty"`
}

// NewDelivery is a report event as it is frozen for delivery: ID is the
// default target's delivery id and URL its address ("" for none); every
// matching endpoint gets a delivery of its own.
type NewDelivery struct {
	ID        string
	EventType string
	URL       string
	Body      []byte
	Sequence  int
}

// AttemptRecord is one delivery try, as the worker saw it.
type AttemptRecord struct {
	StartedAt    time.Time
	StatusCode   int
	Latency      time.Duration
	Outcome      string
	Error        string
	ResponseBody string
}

// AttemptOutcome is one attempt and where it leaves its delivery: Next is
// when the following attempt is due (for failing).
type AttemptOutcome struct {
	DeliveryID string
	Attempt    AttemptRecord
	Status     DeliveryStatus
	Next       time.Time
}

// Client is the part of a tenant's settings that report work needs.
type Client struct {
	ID              string
	Name            string
	WebhookURL      string
	WebhookDisabled bool
	// MaxInFlight is the client's own limit of unfinished reports: -1 when
	// it has none (the service default applies), 0 for no limit.
	MaxInFlight int
}

// WorkRef points at a row whose task the sweeper may need to queue again.
type WorkRef struct {
	ID       string // report id or delivery id
	ReportID string
	ClientID string
}

// OrphanedRun is a running report whose worker's heartbeat has stopped:
// the rescuer queues it again.
type OrphanedRun struct {
	ID        string
	ClientID  string
	RequestID string
	Worker    string // run_by
	Run       int64  // run_seq
}

// ProcessAddr names a worker process: its host and pid.
type ProcessAddr struct {
	Host string
	PID  int
}

// QueuedReport is a new report the dispatcher hands to the queue.
type QueuedReport struct{ ID, ClientID, RequestID string }

// ExpiredFile is a stored report whose retention has ended. Format and
// Runs name the files its other runs may have left (each run writes its
// own; one crashed or fenced out after its upload leaves it behind).
type ExpiredFile struct {
	ID, ObjectKey, ClientID string
	Format                  report.Format
	Runs                    int64
}

// The vocabulary the stores and the API share.

// ErrQuotaExceeded means the client already has its limit of reports in flight.
var ErrQuotaExceeded = errors.New("too many reports in flight")

// NewReport is a report as the API accepted it.
type NewReport struct {
	ID          string
	ClientID    string
	Type        report.Type
	Format      report.Format
	Params      report.Params
	Metadata    json.RawMessage
	WebhookURL  string // empty: the client's default URL, unless a 410 disabled it
	MinPosition *int64
	AsOf        *time.Time // see Report.AsOf
	RequestID   string     // carried into the task's logs
	// ScheduleID and ScheduledFor are set for a schedule's fire; the pair is
	// unique, so a fire can never make two reports.
	ScheduleID   string
	ScheduledFor *time.Time
}

// ListFilter narrows and pages GET /v1/reports.
type ListFilter struct {
	Status Status
	Type   report.Type
	Limit  int
	// After is the (created_at, id) of the last row of the previous page.
	AfterCreated time.Time
	AfterID      string
}

// Idempotency-key outcomes the API turns into status codes.
var (
	ErrKeyReused   = errors.New("idempotency key reused with a different request")
	ErrKeyInFlight = errors.New("a request with this idempotency key is still in flight")
)

// IdempotencyKey identifies one claimed key.
type IdempotencyKey struct {
	ClientID    string
	Endpoint    string
	Key         string
	Fingerprint []byte
}

// StoredResponse is the first answer to a key, replayed to every repeat.
type StoredResponse struct {
	Status int
	Body   []byte
}

// Principal is what an API key resolves to: the key's scopes and hash, and
// the settings of the client it belongs to.
type Principal struct {
	ClientID string
	Scopes   []string
	Hash     []byte
	Client   Client
}

// DeliveryFilter narrows GET /v1/deliveries.
type DeliveryFilter struct {
	Status       DeliveryStatus
	EndpointID   string // "": every target
	Since        time.Time
	Limit        int
	AfterCreated time.Time
	AfterID      string
}

// ReplayFilter selects the deliveries a replay makes due again.
type ReplayFilter struct {
	Status     DeliveryStatus // dead or failing
	Since      time.Time      // created at or after
	Until      *time.Time     // created before; nil: no end
	EndpointID string         // "": every target
	Limit      int
}

// ErrUnavailable marks errors that mean Postgres could not be reached, so the
// API can answer 503 instead of 500.
var ErrUnavailable = errors.New("database unavailable")
