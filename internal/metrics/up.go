package metrics

import (
	"log/slog"

	"github.com/prometheus/client_golang/prometheus"
)

// upGauge is reportd_collector_up for one scrape-time collector. A failing
// collector (Redis or Postgres down) drops its own series but not the
// scrape: this gauge says which one failed, and the error is logged.
type upGauge struct {
	name   string
	desc   *prometheus.Desc
	logger *slog.Logger
}

func newUpGauge(name string, logger *slog.Logger) upGauge {
	return upGauge{name: name, logger: logger, desc: prometheus.NewDesc(namespace+"_collector_up",
		"1 when a scrape-time collector (queues, projections) read its source, 0 when it failed.",
		nil, prometheus.Labels{"collector": name})}
}

func (u upGauge) collect(ch chan<- prometheus.Metric, err error) {
	up := 1.0
	if err != nil {
		up = 0
		u.logger.Warn("collect metrics", "collector", u.name, "err", err)
	}
	ch <- prometheus.MustNewConstMetric(u.desc, prometheus.GaugeValue, up)
}
