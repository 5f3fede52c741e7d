package metrics

import (
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/reportd/reportd/internal/domain"
	"github.com/reportd/reportd/internal/report"
	"github.com/reportd/reportd/internal/webhook"
)

const namespace = "reportd"

// Webhook attempt outcomes, the values of reportd_webhook_attempts_total's
// outcome label.
const (
	Outcome2xx          = "2xx"
	Outcome3xx          = "3xx" // redirects are not followed, so they fail
	Outcome4xx          = "4xx"
	Outcome5xx          = "5xx"
	OutcomeTimeout      = "timeout"
	OutcomeSSRFBlocked  = "ssrf_blocked"
	OutcomeNetworkError = "network_error"
	OutcomeOther        = "other"
)

// Metrics records reportd's metrics on its own registry. Its methods are safe
// for concurrent use.
type Metrics struct {
	reg    *prometheus.Registry
	logger *slog.Logger

	httpRequests    *prometheus.CounterVec
	httpDuration    *prometheus.HistogramVec
	reports         *prometheus.CounterVec
	renderDuration  *prometheus.HistogramVec
	uploadBytes     *prometheus.HistogramVec
	webhookAttempts *prometheus.CounterVec
	deliveryLatency prometheus.Histogram
	deadLetters     prometheus.Counter
	endpointHealth  *prometheus.CounterVec
}

// New builds the metrics on a fresh registry with the Go runtime and process
// collectors. A nil logger discards collector errors' logs.
func New(logger *slog.Logger) *Metrics {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	m := &Metrics{
		reg:    prometheus.NewRegistry(),
		logger: logger,
		httpRequests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Name: "http_requests_total",
			Help: "HTTP requests served, by route template, method and status code.",
		}, []string{"route", "method", "status"}),
		httpDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: namespace, Name: "http_request_duration_seconds",
			Help: "Time to serve an HTTP request, by route template and method; long polls (?wait=) reach 60 s.",
			// Up to the longest long poll.
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60},
		}, []string{"route", "method"}),
		reports: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Name: "reports_total",
			Help: "Reports by type, format and status: queued when created, then the status they finished in.",
		}, []string{"type", "format", "status"}),
		renderDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: namespace, Name: "render_duration_seconds",
			Help:    "Time to render a report and upload it (they are streamed together), by type and format.",
			Buckets: []float64{.05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800},
		}, []string{"type", "format"}),
		uploadBytes: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: namespace, Name: "upload_bytes",
			Help:    "Size of the uploaded report files, by type and format.",
			Buckets: prometheus.ExponentialBuckets(1024, 4, 10), // 1 KiB to 256 MiB
		}, []string{"type", "format"}),
		webhookAttempts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Name: "webhook_attempts_total",
			Help: "Webhook delivery attempts by outcome: 2xx, 3xx, 4xx, 5xx, timeout, ssrf_blocked, network_error.",
		}, []string{"outcome"}),
		deliveryLatency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: namespace, Name: "webhook_delivery_latency_seconds",
			Help: "Time from a delivery's creation to the receiver's 2xx, retries included.",
			// The default retry schedule spans about 3 days.
			Buckets: []float64{.1, .25, .5, 1, 2.5, 5, 10, 30, 60, 300, 900, 1800, 3600,
				2 * 3600, 5 * 3600, 12 * 3600, 24 * 3600, 2 * 24 * 3600, 4 * 24 * 3600},
		}),
		endpointHealth: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Name: "webhook_endpoint_transitions_total",
			Help: "Webhook endpoint health changes, by the status entered (paused, disabled, active).",
		}, []string{"to"}),
		deadLetters: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: namespace, Name: "webhook_dead_letters_total",
			Help: "Webhook deliveries that used up every attempt and are dead.",
		}),
	}
	// Known outcomes start at zero, so rates and ratios exist before the first attempt.
	for _, o := range []string{Outcome2xx, Outcome3xx, Outcome4xx, Outcome5xx, OutcomeTimeout, OutcomeSSRFBlocked, OutcomeNetworkError} {
		m.webhookAttempts.WithLabelValues(o)
	}
	// Every status exists from the start, so an alert on increase() sees the first move.
	for _, st := range []webhook.EndpointStatus{webhook.EndpointActive, webhook.EndpointPaused, webhook.EndpointDisabled} {
		m.endpointHealth.WithLabelValues(string(st))
	}
	m.reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		m.httpRequests, m.httpDuration, m.reports, m.renderDuration, m.uploadBytes,
		m.webhookAttempts, m.deliveryLatency, m.deadLetters, m.endpointHealth,
	)
	return m
}

// Registry is the registry every metric is on, for extra collectors.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// Handler serves the registry in the Prometheus exposition format. A
// collector that fails is logged and left out; the rest is still served.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{
		ErrorLog:          slog.NewLogLogger(m.logger.Handler(), slog.LevelError),
		ErrorHandling:     promhttp.ContinueOnError,
		Registry:          m.reg, // promhttp_metric_handler_errors_total
		EnableOpenMetrics: true,
	})
}

// Observe records one HTTP request (api.HTTPObserver). route must be a
// route template, never a raw path, to keep cardinality bounded.
func (m *Metrics) Observe(route, method string, status int, d time.Duration) {
	m.httpRequests.WithLabelValues(route, method, strconv.Itoa(status)).Inc()
	m.httpDuration.WithLabelValues(route, method).Observe(d.Seconds())
}

// ReportCreated counts a report the API accepted, as status "queued".
func (m *Metrics) ReportCreated(t report.Type, f report.Format) {
	m.reports.WithLabelValues(string(t), string(f), string(domain.StatusQueued)).Inc()
}

// ReportFinished counts a report that reached a final status (jobs.Observer).
func (m *Metrics) ReportFinished(t report.Type, f report.Format, status domain.Status) {
	m.reports.WithLabelValues(string(t), string(f), string(status)).Inc()
}

// RenderDone records the time to render and upload one report (jobs.Observer).
func (m *Metrics) RenderDone(t report.Type, f report.Format, d time.Duration) {
	m.renderDuration.WithLabelValues(string(t), string(f)).Observe(d.Seconds())
}

// Uploaded records the size of one uploaded report file.
func (m *Metrics) Uploaded(t report.Type, f report.Format, size int64) {
	m.uploadBytes.WithLabelValues(string(t), string(f)).Observe(float64(size))
}

// AttemptDone counts one webhook attempt (jobs.DeliveryObserver). outcome is
// a webhook.Outcome string; see [AttemptOutcome].
func (m *Metrics) AttemptDone(outcome string, statusCode int) {
	m.webhookAttempts.WithLabelValues(AttemptOutcome(outcome, statusCode)).Inc()
}

// Delivered records the time from a delivery's creation to its 2xx
// (jobs.DeliveryObserver).
func (m *Metrics) Delivered(sinceCreated time.Duration) {
	m.deliveryLatency.Observe(sinceCreated.Seconds())
}

// DeadLettered counts a delivery that used up its attempts (jobs.DeliveryObserver).
func (m *Metrics) DeadLettered() { m.deadLetters.Inc() }

// EndpointHealthChanged counts a webhook endpoint's move to a new status.
func (m *Metrics) EndpointHealthChanged(_, to webhook.EndpointStatus) {
	m.endpointHealth.WithLabelValues(string(to)).Inc()
}

// AttemptOutcome maps the webhook client's outcome (delivered, failed,
// timeout, gone, blocked) and the receiver's status code to the outcome
// label. Status classes come from the code whenever there is one, so an
// operator sees 4xx apart from 5xx; "failed" without a code is a network error.
func AttemptOutcome(outcome string, statusCode int) string {
	switch outcome {
	case "timeout":
		return OutcomeTimeout
	case "blocked":
		return OutcomeSSRFBlocked
	}
	switch {
	case statusCode >= 200 && statusCode < 300:
		return Outcome2xx
	case statusCode >= 300 && statusCode < 400:
		return Outcome3xx
	case statusCode >= 400 && statusCode < 500:
		return Outcome4xx
	case statusCode >= 500 && statusCode < 600:
		return Outcome5xx
	case statusCode == 0 && outcome == "failed":
		return OutcomeNetworkError
	case statusCode == 0 && outcome == "delivered":
		return Outcome2xx
	case statusCode == 0 && outcome == "gone":
		return Outcome4xx
	}
	return OutcomeOther
}
