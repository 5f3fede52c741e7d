package metrics_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/hibiken/asynq"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/reportd/reportd/internal/domain"
	"github.com/reportd/reportd/internal/metrics"
	"github.com/reportd/reportd/internal/report"
	"github.com/reportd/reportd/internal/webhook"
)

// series gathers the registry into "name{k=v,...}" → value, where a
// histogram gives its sample count under name_count.
func series(t *testing.T, g prometheus.Gatherer, prefix string) map[string]float64 {
	t.Helper()
	mfs, err := g.Gather()
	if err != nil {
		t.Fatalf("gather: %v", err)
	}
	out := map[string]float64{}
	for _, mf := range mfs {
		if !strings.HasPrefix(mf.GetName(), prefix) {
			continue
		}
		for _, m := range mf.GetMetric() {
			labels := make([]string, 0, len(m.GetLabel()))
			for _, l := range m.GetLabel() {
				labels = append(labels, l.GetName()+"="+l.GetValue())
			}
			sort.Strings(labels)
			key := "{" + strings.Join(labels, ",") + "}"
			switch mf.GetType() {
			case dto.MetricType_COUNTER:
				out[mf.GetName()+key] = m.GetCounter().GetValue()
			case dto.MetricType_GAUGE:
				out[mf.GetName()+key] = m.GetGauge().GetValue()
			case dto.MetricType_HISTOGRAM:
				out[mf.GetName()+"_count"+key] = float64(m.GetHistogram().GetSampleCount())
				out[mf.GetName()+"_sum"+key] = m.GetHistogram().GetSampleSum()
			default:
				t.Fatalf("unexpected metric type %s for %s", mf.GetType(), mf.GetName())
			}
		}
	}
	return out
}

func TestObserversRecord(t *testing.T) {
	m := metrics.New(nil)
	m.Observe("/v1/reports", "POST", 202, 30*time.Millisecond)
	m.Observe("/v1/reports", "POST", 202, 20*time.Millisecond)
	m.Observe("/v1/reports/{id}", "GET", 404, 10*time.Millisecond)
	m.ReportCreated(report.TypeOrderHistory, report.FormatPDF)
	m.ReportCreated(report.TypeOrderHistory, report.FormatPDF)
	m.ReportFinished(report.TypeOrderHistory, report.FormatPDF, domain.StatusSucceeded)
	m.ReportFinished(report.TypeMerchantSales, report.FormatCSV, domain.StatusFailed)
	m.RenderDone(report.TypeOrderHistory, report.FormatPDF, 1500*time.Millisecond)
	m.Uploaded(report.TypeOrderHistory, report.FormatPDF, 4096)
	m.AttemptDone("failed", 503)
	m.AttemptDone("failed", 0)
	m.AttemptDone("delivered", 204)
	m.Delivered(90 * time.Second)
	m.DeadLettered()
	m.EndpointHealthChanged(webhook.EndpointActive, webhook.EndpointPaused)
	m.EndpointHealthChanged(webhook.EndpointPaused, webhook.EndpointDisabled)

	want := map[string]float64{
		"reportd_http_requests_total{method=POST,route=/v1/reports,status=202}":          2,
		"reportd_http_requests_total{method=GET,route=/v1/reports/{id},status=404}":      1,
		"reportd_http_request_duration_seconds_count{method=POST,route=/v1/reports}":     2,
		"reportd_http_request_duration_seconds_sum{method=POST,route=/v1/reports}":       0.05,
		"reportd_http_request_duration_seconds_count{method=GET,route=/v1/reports/{id}}": 1,
		"reportd_http_request_duration_seconds_sum{method=GET,route=/v1/reports/{id}}":   0.01,

		"reportd_reports_total{format=pdf,status=queued,type=order_history}":    2,
		"reportd_reports_total{format=pdf,status=succeeded,type=order_history}": 1,
		"reportd_reports_total{format=csv,status=failed,type=merchant_sales}":   1,
		"reportd_render_duration_seconds_count{format=pdf,type=order_history}":  1,
		"reportd_render_duration_seconds_sum{format=pdf,type=order_history}":    1.5,
		"reportd_upload_bytes_count{format=pdf,type=order_history}":             1,
		"reportd_upload_bytes_sum{format=pdf,type=order_history}":               4096,

		// Every known outcome exists from the start, so ratios work at once.
		"reportd_webhook_attempts_total{outcome=2xx}":             1,
		"reportd_webhook_attempts_total{outcome=3xx}":             0,
		"reportd_webhook_attempts_total{outcome=4xx}":             0,
		"reportd_webhook_attempts_total{outcome=5xx}":             1,
		"reportd_webhook_attempts_total{outcome=timeout}":         0,
		"reportd_webhook_attempts_total{outcome=ssrf_blocked}":    0,
		"reportd_webhook_attempts_total{outcome=network_error}":   1,
		"reportd_webhook_delivery_latency_seconds_count{}":        1,
		"reportd_webhook_delivery_latency_seconds_sum{}":          90,
		"reportd_webhook_dead_letters_total{}":                    1,
		"reportd_webhook_endpoint_transitions_total{to=active}":   0,
		"reportd_webhook_endpoint_transitions_total{to=paused}":   1,
		"reportd_webhook_endpoint_transitions_total{to=disabled}": 1,
	}
	got := series(t, m.Registry(), "reportd_")
	// Float sums of durations are not exact.
	approx := cmp.Comparer(func(a, b float64) bool { return a == b || (a-b < 1e-9 && b-a < 1e-9) })
	if diff := cmp.Diff(want, got, approx); diff != "" {
		t.Errorf("metrics mismatch (-want +got):\n%s", diff)
	}
}

func TestAttemptOutcome(t *testing.T) {
	tests := []struct {
		outcome string
		code    int
		want    string
	}{
		{"delivered", 200, "2xx"},
		{"delivered", 204, "2xx"},
		{"failed", 302, "3xx"},
		{"failed", 400, "4xx"},
		{"failed", 429, "4xx"},
		{"gone", 410, "4xx"},
		{"failed", 500, "5xx"},
		{"failed", 503, "5xx"},
		{"failed", 0, "network_error"},
		{"timeout", 0, "timeout"},
		{"blocked", 0, "ssrf_blocked"},
		{"failed", 100, "other"},
		{"unknown", 0, "other"},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%s/%d", tt.outcome, tt.code), func(t *testing.T) {
			if diff := cmp.Diff(tt.want, metrics.AttemptOutcome(tt.outcome, tt.code)); diff != "" {
				t.Errorf("AttemptOutcome(%q, %d) (-want +got):\n%s", tt.outcome, tt.code, diff)
			}
		})
	}
}

// fakeInspector is a QueueInspector whose answers the test sets.
type fakeInspector struct {
	QueuesFunc       func() ([]string, error)
	GetQueueInfoFunc func(string) (*asynq.QueueInfo, error)
}

func (f fakeInspector) Queues() ([]string, error)                       { return f.QueuesFunc() }
func (f fakeInspector) GetQueueInfo(q string) (*asynq.QueueInfo, error) { return f.GetQueueInfoFunc(q) }

func TestQueueCollector(t *testing.T) {
	m := metrics.New(nil)
	m.WatchQueues(fakeInspector{
		QueuesFunc: func() ([]string, error) { return []string{"reports"}, nil },
		GetQueueInfoFunc: func(q string) (*asynq.QueueInfo, error) {
			return &asynq.QueueInfo{Queue: q, Pending: 3, Active: 1, Scheduled: 2, Retry: 4, Archived: 5, Completed: 6,
				Latency: 1500 * time.Millisecond, Paused: true, ProcessedTotal: 10, FailedTotal: 2}, nil
		},
	}, "reports", "webhooks")

	want := map[string]float64{
		"reportd_collector_up{collector=queues}":            1,
		"reportd_queue_size{queue=reports,state=pending}":   3,
		"reportd_queue_size{queue=reports,state=active}":    1,
		"reportd_queue_size{queue=reports,state=scheduled}": 2,
		"reportd_queue_size{queue=reports,state=retry}":     4,
		"reportd_queue_size{queue=reports,state=archived}":  5,
		"reportd_queue_size{queue=reports,state=completed}": 6,
		"reportd_queue_latency_seconds{queue=reports}":      1.5,
		"reportd_queue_paused{queue=reports}":               1,
		"reportd_queue_processed_total{queue=reports}":      10,
		"reportd_queue_failed_total{queue=reports}":         2,
		// Not in Redis yet: reported empty, never fetched.
		"reportd_queue_size{queue=webhooks,state=pending}":   0,
		"reportd_queue_size{queue=webhooks,state=active}":    0,
		"reportd_queue_size{queue=webhooks,state=scheduled}": 0,
		"reportd_queue_size{queue=webhooks,state=retry}":     0,
		"reportd_queue_size{queue=webhooks,state=archived}":  0,
		"reportd_queue_size{queue=webhooks,state=completed}": 0,
		"reportd_queue_latency_seconds{queue=webhooks}":      0,
		"reportd_queue_paused{queue=webhooks}":               0,
		"reportd_queue_processed_total{queue=webhooks}":      0,
		"reportd_queue_failed_total{queue=webhooks}":         0,
	}
	got := series(t, m.Registry(), "reportd_")
	for k := range got {
		if strings.HasPrefix(k, "reportd_webhook_") {
			delete(got, k) // pre-initialised outcomes, covered above
		}
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("queue metrics mismatch (-want +got):\n%s", diff)
	}
}

// A broken source must not break the scrape: its series go, collector_up
// says so, and everything else is still served.
func TestCollectorsFailSoftly(t *testing.T) {
	m := metrics.New(nil)
	m.WatchQueues(fakeInspector{
		QueuesFunc:       func() ([]string, error) { return nil, errors.New("redis: connection refused") },
		GetQueueInfoFunc: func(string) (*asynq.QueueInfo, error) { t.Error("GetQueueInfo called"); return nil, nil }, //nolint:nilnil // never meant to run: calling it fails the test
	}, "reports")
	m.WatchProjections(func(context.Context) ([]domain.ProjectionStatus, error) {
		return nil, errors.New("postgres: connection refused")
	})
	m.DeadLettered()

	got := series(t, m.Registry(), "reportd_collector_up")
	want := map[string]float64{
		"reportd_collector_up{collector=queues}":      0,
		"reportd_collector_up{collector=projections}": 0,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("collector_up mismatch (-want +got):\n%s", diff)
	}

	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	body := rec.Body.String()
	if rec.Code != http.StatusOK {
		t.Fatalf("GET /metrics = %d, want 200; body:\n%s", rec.Code, body)
	}
	for _, s := range []string{"reportd_webhook_dead_letters_total 1", `reportd_collector_up{collector="queues"} 0`} {
		if !strings.Contains(body, s) {
			t.Errorf("GET /metrics lacks %q", s)
		}
	}
}

func TestProjectionCollector(t *testing.T) {
	m := metrics.New(nil)
	m.WatchProjections(func(ctx context.Context) ([]domain.ProjectionStatus, error) {
		if _, ok := ctx.Deadline(); !ok {
			t.Error("projection status called without a deadline")
		}
		return []domain.ProjectionStatus{
			{Name: "orders", LagEvents: 12, LagSeconds: 3.5, HeldEvents: 2},
			{Name: "sales", LagEvents: 0, LagSeconds: 0, HeldEvents: 0},
		}, nil
	})
	want := map[string]float64{
		"reportd_collector_up{collector=projections}":       1,
		"reportd_projection_lag_events{projection=orders}":  12,
		"reportd_projection_lag_seconds{projection=orders}": 3.5,
		"reportd_projection_held_events{projection=orders}": 2,
		"reportd_projection_lag_events{projection=sales}":   0,
		"reportd_projection_lag_seconds{projection=sales}":  0,
		"reportd_projection_held_events{projection=sales}":  0,
	}
	got := series(t, m.Registry(), "reportd_")
	for k := range got {
		if strings.HasPrefix(k, "reportd_webhook_") {
			delete(got, k)
		}
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("projection metrics mismatch (-want +got):\n%s", diff)
	}
}

func TestHandlerServesRuntimeMetrics(t *testing.T) {
	srv := httptest.NewServer(metrics.New(nil).Handler())
	defer srv.Close()
	res, err := http.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	if res.StatusCode != http.StatusOK {
		t.Fatalf("GET /metrics = %d", res.StatusCode)
	}
	for _, s := range []string{"go_goroutines", "process_cpu_seconds_total", "reportd_webhook_attempts_total"} {
		if !strings.Contains(string(body), s) {
			t.Errorf("GET /metrics lacks %s", s)
		}
	}
}

func TestNATSIngestionMetrics(t *testing.T) {
	m := metrics.New(nil)
	fail := false
	obs := m.WatchNATSIngestion(func(context.Context) (metrics.NATSConsumerLag, error) {
		if fail {
			return metrics.NATSConsumerLag{}, errors.New("nats down")
		}
		return metrics.NATSConsumerLag{Stream: "S", Consumer: "c", Pending: 7, AckPending: 2}, nil
	})
	obs.NATSMessage("accepted")
	got := series(t, m.Registry(), "reportd_nats")
	want := map[string]float64{
		"reportd_nats_consumer_pending_messages{consumer=c,stream=S}":     7,
		"reportd_nats_consumer_ack_pending_messages{consumer=c,stream=S}": 2,
		"reportd_nats_messages_total{outcome=accepted}":                   1,
		"reportd_nats_messages_total{outcome=duplicate}":                  0,
		"reportd_nats_messages_total{outcome=dead_lettered}":              0,
		"reportd_nats_messages_total{outcome=retried}":                    0,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("NATS series (-want +got):\n%s", diff)
	}
	fail = true
	if up := series(t, m.Registry(), "reportd_collector_up"); up["reportd_collector_up{collector=nats_consumer}"] != 0 {
		t.Errorf("collector_up with NATS down: %v", up)
	}
}
