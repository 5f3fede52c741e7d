package metrics

import (
	"context"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/reportd/reportd/internal/domain"
)

// DriftFunc reads the last `reportctl projections verify` of each
// projection: readmodel.Store.Drift, passed as a func so this package stays
// free of pgx.
type DriftFunc func(ctx context.Context) ([]domain.ProjectionDrift, error)

type driftCollector struct {
	drift DriftFunc
	up    upGauge

	rows, checked *prometheus.Desc
}

// WatchProjectionDrift adds the drift collector:
// reportd_projection_drift_rows and
// reportd_projection_verified_timestamp_seconds, by projection, from what
// the last verify recorded in Postgres (reportctl is a CLI; the worker is
// what Prometheus scrapes). A projection never verified has no series.
// Register it in one process only (the worker).
func (m *Metrics) WatchProjectionDrift(drift DriftFunc) {
	label := []string{"projection"}
	m.reg.MustRegister(&driftCollector{
		drift: drift,
		up:    newUpGauge("projection_drift", m.logger),
		rows: prometheus.NewDesc(namespace+"_projection_drift_rows",
			"Rows that differed between the live projection and a fresh fold of the log at its last verify; anything but 0 is a bug or a manual patch.", label, nil),
		checked: prometheus.NewDesc(namespace+"_projection_verified_timestamp_seconds",
			"When the projection was last verified (reportctl projections verify), in Unix seconds.", label, nil),
	})
}

func (c *driftCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.rows
	ch <- c.checked
	ch <- c.up.desc
}

func (c *driftCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), projectionTimeout)
	defer cancel()
	list, err := c.drift(ctx)
	for _, d := range list {
		ch <- prometheus.MustNewConstMetric(c.rows, prometheus.GaugeValue, float64(d.DriftRows), d.Name)
		ch <- prometheus.MustNewConstMetric(c.checked, prometheus.GaugeValue, d.CheckedAt, d.Name)
	}
	c.up.collect(ch, err)
}
