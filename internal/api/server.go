package api

import (
	"context"
	"log/slog"
	"net/http"
	"time"

	"github.com/reportd/reportd/internal/domain"
	"github.com/reportd/reportd/internal/orderevents"
	"github.com/reportd/reportd/internal/report"
)

// ReportStore holds the reports.
type ReportStore interface {
	CreateReport(ctx context.Context, r domain.NewReport, maxInFlight int, key *domain.IdempotencyKey,
		respond func(domain.Report) (int, []byte, error)) (domain.Report, error)
	GetReport(ctx context.Context, clientID, id string) (domain.Report, error)
	ListReports(ctx context.Context, clientID string, f domain.ListFilter) ([]domain.Report, error)
	// CancelReport also writes the report.canceled deliveries, returning their ids.
	CancelReport(ctx context.Context, clientID, id string) (domain.Report, []string, error)
}

// IdempotencyStore keeps Idempotency-Key claims and their first answers.
type IdempotencyStore interface {
	ClaimKey(ctx context.Context, k domain.IdempotencyKey) (*domain.StoredResponse, error)
	CompleteKey(ctx context.Context, k domain.IdempotencyKey, status int, body []byte) error
	ReleaseKey(ctx context.Context, k domain.IdempotencyKey) error
}

// DeliveryStore holds webhook deliveries and their attempts.
type DeliveryStore interface {
	ReportDeliveries(ctx context.Context, clientID, reportID string) ([]domain.Delivery, error)
	ListDeliveries(ctx context.Context, clientID string, f domain.DeliveryFilter) ([]domain.Delivery, error)
	Redeliver(ctx context.Context, clientID, id string) (domain.Delivery, error)
	ReplayDeliveries(ctx context.Context, clientID string, f domain.ReplayFilter) ([]domain.WorkRef, error)
}

// Pinger is a dependency /readyz checks.
type Pinger interface {
	Ping(ctx context.Context) error
}

// Queue carries work to the workers.
type Queue interface {
	Ping(ctx context.Context) error
	// Redeliver queues one delivery again.
	Redeliver(ctx context.Context, delivery domain.WorkRef) error
	// Replay queues replayed deliveries: dead letters several to a task,
	// failing ones by running their waiting task now. progress may be nil.
	Replay(ctx context.Context, deliveries []domain.WorkRef, dead bool, requestID string, progress func(queued int)) error
	CancelReport(ctx context.Context, reportID string) error
	QueueLatency(ctx context.Context) (time.Duration, error)
}

// Files mints download links for stored reports.
type Files interface {
	Ping(ctx context.Context) error
	PresignGet(ctx context.Context, key string, ttl time.Duration) (url string, expires time.Time, err error)
}

// IngestionStatus is the backlog of an event source other than the HTTP
// API (the NATS JetStream consumer), shown beside the projections.
type IngestionStatus struct {
	Source             string `json:"source"` // "nats"
	Stream             string `json:"stream"`
	Consumer           string `json:"consumer"`
	Subject            string `json:"subject"`
	Status             string `json:"status"`           // ok, or unavailable when the server did not answer
	PendingMessages    uint64 `json:"pending_messages"` // not delivered to the consumer yet
	AckPendingMessages int    `json:"ack_pending_messages"`
}

// Ingestion reports the event sources' backlogs.
type Ingestion interface {
	IngestionStatus(ctx context.Context) []IngestionStatus
}

// Events is the order-event log and its projections.
type Events interface {
	// Append fails with an error wrapping domain.ErrSequenceConflict (a
	// *domain.SequenceConflictError when the store knows the event) when an
	// event reuses an order's sequence under another event id.
	Append(ctx context.Context, clientID string, events []orderevents.Event) (domain.AppendResult, error)
	Projections(ctx context.Context) ([]domain.ProjectionStatus, error)
}

// Settings are the API's knobs.
type Settings struct {
	MaxReportRange       time.Duration // the longest from..to period
	AllowPrivateWebhooks bool          // dev/test: loopback and private webhook URLs, plain http
	MaxInFlight          int           // unfinished reports per client without a limit of its own; 0 = none
	KeyCacheTTL          time.Duration // how long a resolved API key is reused; 0 = 5s
	MaxWait              time.Duration // the longest ?wait= long poll
	PresignTTL           time.Duration // lifetime of a download URL
	OpenAPI              []byte        // served at /openapi.yaml

	MinScheduleInterval time.Duration // the shortest @every a schedule may use
	MaxSchedules        int           // schedules per client; 0 = no limit
}

// ReportObserver counts reports the API creates and cancels, for metrics.
type ReportObserver interface {
	ReportCreated(t report.Type, f report.Format)
	ReportFinished(t report.Type, f report.Format, status domain.Status)
}

// Deps is everything the API needs. Metrics and Monitoring may be nil. One
// Postgres store usually fills Keys, Reports, Idempotency, Deliveries and
// Database.
type Deps struct {
	Logger        *slog.Logger
	Keys          KeyStore
	Reports       ReportStore
	Idempotency   IdempotencyStore
	Deliveries    DeliveryStore
	WebhookKeys   WebhookKeyStore
	Endpoints     EndpointStore // may be nil in unit tests: no /v1/webhook-endpoints
	Database      Pinger
	Queue         Queue
	Files         Files
	Events        Events
	Schedules     ScheduleStore
	Ingestion     Ingestion // may be nil: no source but the API
	Orders        Orders
	Observer      HTTPObserver
	ReportMetrics ReportObserver // may be nil
	Metrics       http.Handler   // served at /metrics
	Monitoring    http.Handler   // served at /monitoring/, already guarded
	Settings      Settings
	Now           func() time.Time
}

// NewServer builds the API's handler.
func NewServer(d Deps) http.Handler {
	if d.Now == nil {
		d.Now = time.Now
	}
	if d.Settings.MaxWait == 0 {
		d.Settings.MaxWait = 60 * time.Second
	}
	return withRequestID(routes(d, newLatencyCache(d.Queue, d.Now)))
}
