package metrics

import (
	"errors"
	"slices"

	"github.com/hibiken/asynq"
	"github.com/prometheus/client_golang/prometheus"
)

// QueueInspector reads asynq's queues; *asynq.Inspector has these methods.
type QueueInspector interface {
	Queues() ([]string, error)
	GetQueueInfo(queue string) (*asynq.QueueInfo, error)
}

// queueCollector reads every queue's size and latency at scrape time.
type queueCollector struct {
	inspector QueueInspector
	always    []string // reported even before asynq has seen them
	up        upGauge

	size, latency, paused, processed, failed *prometheus.Desc
}

// WatchQueues adds the asynq queue collector: reportd_queue_size{queue,state},
// reportd_queue_latency_seconds{queue} (age of the oldest pending task),
// reportd_queue_paused, and asynq's processed/failed totals. Queues named in
// always are reported as empty until asynq knows them, so dashboards and
// alerts see them from the start. Register it in one process only (the worker).
func (m *Metrics) WatchQueues(inspector QueueInspector, always ...string) {
	label := []string{"queue"}
	m.reg.MustRegister(&queueCollector{
		inspector: inspector,
		always:    always,
		up:        newUpGauge("queues", m.logger),
		size: prometheus.NewDesc(namespace+"_queue_size",
			"Tasks in an asynq queue, by state (pending, active, scheduled, retry, archived, completed).",
			[]string{"queue", "state"}, nil),
		latency: prometheus.NewDesc(namespace+"_queue_latency_seconds",
			"Age of the oldest pending task in an asynq queue; 0 when nothing is pending.", label, nil),
		paused: prometheus.NewDesc(namespace+"_queue_paused",
			"1 when an asynq queue is paused.", label, nil),
		processed: prometheus.NewDesc(namespace+"_queue_processed_total",
			"Tasks an asynq queue has processed, successes and failures (asynq's own counter).", label, nil),
		failed: prometheus.NewDesc(namespace+"_queue_failed_total",
			"Task runs that failed in an asynq queue (asynq's own counter).", label, nil),
	})
}

func (c *queueCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.size, c.latency, c.paused, c.processed, c.failed, c.up.desc} {
		ch <- d
	}
}

func (c *queueCollector) Collect(ch chan<- prometheus.Metric) {
	err := c.collect(ch)
	c.up.collect(ch, err)
}

func (c *queueCollector) collect(ch chan<- prometheus.Metric) error {
	known, err := c.inspector.Queues()
	if err != nil {
		return err
	}
	names := slices.Clone(known)
	for _, q := range c.always {
		if !slices.Contains(names, q) {
			names = append(names, q)
		}
	}
	var errs []error
	for _, q := range names {
		info := &asynq.QueueInfo{Queue: q} // asynq has not seen it yet: empty
		if slices.Contains(known, q) {
			if info, err = c.inspector.GetQueueInfo(q); err != nil {
				errs = append(errs, err)
				continue
			}
		}
		for state, n := range map[string]int{
			"pending": info.Pending, "active": info.Active, "scheduled": info.Scheduled,
			"retry": info.Retry, "archived": info.Archived, "completed": info.Completed,
		} {
			ch <- prometheus.MustNewConstMetric(c.size, prometheus.GaugeValue, float64(n), q, state)
		}
		ch <- prometheus.MustNewConstMetric(c.latency, prometheus.GaugeValue, info.Latency.Seconds(), q)
		paused := 0.0
		if info.Paused {
			paused = 1
		}
		ch <- prometheus.MustNewConstMetric(c.paused, prometheus.GaugeValue, paused, q)
		ch <- prometheus.MustNewConstMetric(c.processed, prometheus.CounterValue, float64(info.ProcessedTotal), q)
		ch <- prometheus.MustNewConstMetric(c.failed, prometheus.CounterValue, float64(info.FailedTotal), q)
	}
	return errors.Join(errs...)
}
