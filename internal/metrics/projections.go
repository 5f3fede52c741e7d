package metrics

import (
	"context"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/reportd/reportd/internal/domain"
)

// ProjectionFunc reads every projection's lag: readmodel.Store.Status, passed
// as a func so this package stays free of pgx.
type ProjectionFunc func(ctx context.Context) ([]domain.ProjectionStatus, error)

// projectionTimeout bounds one scrape's status query, well under
// Prometheus' default 10 s scrape timeout.
const projectionTimeout = 5 * time.Second

type projectionCollector struct {
	status ProjectionFunc
	up     upGauge

	lagEvents, lagSeconds, held  *prometheus.Desc
	partitionLag, partitionOwner *prometheus.Desc
}

// WatchProjections adds the projection collector:
// reportd_projection_lag_events, reportd_projection_lag_seconds and
// reportd_projection_held_events, by projection, and by partition
// reportd_projection_partition_lag_events and
// reportd_projection_partition_owner (1 per leased partition, labelled with
// the worker holding it; absent while free). Register it in one process
// only (the worker, which runs the projector).
func (m *Metrics) WatchProjections(status ProjectionFunc) {
	label := []string{"projection"}
	m.reg.MustRegister(&projectionCollector{
		status: status,
		up:     newUpGauge("projections", m.logger),
		lagEvents: prometheus.NewDesc(namespace+"_projection_lag_events",
			"Order events in the log that a projection has not consumed yet.", label, nil),
		lagSeconds: prometheus.NewDesc(namespace+"_projection_lag_seconds",
			"Age of the oldest order event a projection has not consumed; 0 when caught up.", label, nil),
		held: prometheus.NewDesc(namespace+"_projection_held_events",
			"Order events a projection consumed but holds until an earlier sequence arrives.", label, nil),
		partitionLag: prometheus.NewDesc(namespace+"_projection_partition_lag_events",
			"Order events of a projection partition's orders that it has not consumed yet.", []string{"projection", "partition"}, nil),
		partitionOwner: prometheus.NewDesc(namespace+"_projection_partition_owner",
			"1 for each leased projection partition, labelled with the worker holding the lease; absent while the partition is free.",
			[]string{"projection", "partition", "owner"}, nil),
	})
}

func (c *projectionCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.lagEvents
	ch <- c.lagSeconds
	ch <- c.held
	ch <- c.partitionLag
	ch <- c.partitionOwner
	ch <- c.up.desc
}

func (c *projectionCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), projectionTimeout)
	defer cancel()
	list, err := c.status(ctx)
	for _, p := range list {
		ch <- prometheus.MustNewConstMetric(c.lagEvents, prometheus.GaugeValue, float64(p.LagEvents), p.Name)
		ch <- prometheus.MustNewConstMetric(c.lagSeconds, prometheus.GaugeValue, p.LagSeconds, p.Name)
		ch <- prometheus.MustNewConstMetric(c.held, prometheus.GaugeValue, float64(p.HeldEvents), p.Name)
		for _, pt := range p.Partitions {
			part := strconv.Itoa(pt.Partition)
			ch <- prometheus.MustNewConstMetric(c.partitionLag, prometheus.GaugeValue, float64(pt.LagEvents), p.Name, part)
			if pt.Owner != "" {
				ch <- prometheus.MustNewConstMetric(c.partitionOwner, prometheus.GaugeValue, 1, p.Name, part, pt.Owner)
			}
		}
	}
	c.up.collect(ch, err)
}
