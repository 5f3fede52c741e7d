package metrics

import (
	"context"

	"github.com/prometheus/client_golang/prometheus"
)

// NATSConsumerLag is the NATS ingestion consumer's distance from its stream.
type NATSConsumerLag struct {
	Stream, Consumer string
	Pending          uint64 // matching messages not delivered yet
	AckPending       int    // delivered, not acked yet
}

// NATSConsumerFunc reads the consumer's lag; the app adapts natsingest to
// it, so this package stays free of the NATS client.
type NATSConsumerFunc func(ctx context.Context) (NATSConsumerLag, error)

// NATSIngestion counts ingested NATS messages by outcome (natsingest.Observer).
type NATSIngestion struct {
	messages *prometheus.CounterVec
}

// NATSMessage counts one settled message.
func (n *NATSIngestion) NATSMessage(outcome string) { n.messages.WithLabelValues(outcome).Inc() }

// WatchNATSIngestion adds the NATS ingestion metrics:
// reportd_nats_consumer_pending_messages and
// reportd_nats_consumer_ack_pending_messages (gauges read from the server at
// scrape time, by stream and consumer) and reportd_nats_messages_total by
// outcome. Register it in the process that consumes (the worker).
func (m *Metrics) WatchNATSIngestion(lag NATSConsumerFunc) *NATSIngestion {
	label := []string{"stream", "consumer"}
	n := &NATSIngestion{messages: prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: namespace, Name: "nats_messages_total",
		Help: "Order-event messages from NATS by outcome: accepted, duplicate, dead_lettered, retried.",
	}, []string{"outcome"})}
	for _, o := range []string{"accepted", "duplicate", "dead_lettered", "retried"} {
		n.messages.WithLabelValues(o)
	}
	m.reg.MustRegister(n.messages, &natsCollector{
		lag: lag,
		up:  newUpGauge("nats_consumer", m.logger),
		pending: prometheus.NewDesc(namespace+"_nats_consumer_pending_messages",
			"Messages on the NATS ingestion subject that the durable consumer has not been delivered yet.", label, nil),
		ackPending: prometheus.NewDesc(namespace+"_nats_consumer_ack_pending_messages",
			"Messages delivered to the NATS ingestion consumer and not acked yet (in hand or awaiting redelivery).", label, nil),
	})
	return n
}

type natsCollector struct {
	lag                 NATSConsumerFunc
	up                  upGauge
	pending, ackPending *prometheus.Desc
}

func (c *natsCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.pending
	ch <- c.ackPending
	ch <- c.up.desc
}

func (c *natsCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), projectionTimeout)
	defer cancel()
	l, err := c.lag(ctx)
	if err == nil {
		ch <- prometheus.MustNewConstMetric(c.pending, prometheus.GaugeValue, float64(l.Pending), l.Stream, l.Consumer)
		ch <- prometheus.MustNewConstMetric(c.ackPending, prometheus.GaugeValue, float64(l.AckPending), l.Stream, l.Consumer)
	}
	c.up.collect(ch, err)
}
