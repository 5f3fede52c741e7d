package app

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/reportd/reportd/internal/api"
	"github.com/reportd/reportd/internal/config"
	"github.com/reportd/reportd/internal/metrics"
	"github.com/reportd/reportd/internal/natsingest"
)

// natsSource is a connection to the order-event stream (EVENTS_NATS_URL).
type natsSource struct {
	cfg config.EventsNATS
	nc  *nats.Conn
	js  jetstream.JetStream
}

// connectNATS connects when EVENTS_NATS_URL is set; nil otherwise. An
// unreachable server is not an error: the connection keeps trying.
func connectNATS(cfg config.EventsNATS, name string, logger *slog.Logger) (*natsSource, error) {
	if !cfg.Enabled() {
		return nil, nil //nolint:nilnil // off is not an error
	}
	nc, err := natsingest.Connect(cfg, name, logger)
	if err != nil {
		return nil, err
	}
	js, err := jetstream.New(nc)
	if err != nil {
		nc.Close()
		return nil, fmt.Errorf("open jetstream on EVENTS_NATS_URL: %w", err)
	}
	return &natsSource{cfg: cfg, nc: nc, js: js}, nil
}

func (s *natsSource) Close() {
	if s != nil {
		s.nc.Close()
	}
}

// ingester consumes the stream into the log, with metrics on m.
func (s *natsSource) ingester(svc *Services, m *metrics.Metrics, logger *slog.Logger) *natsingest.Ingester {
	obs := m.WatchNATSIngestion(func(ctx context.Context) (metrics.NATSConsumerLag, error) {
		l, err := natsingest.ConsumerLag(ctx, s.js, s.cfg)
		return metrics.NATSConsumerLag{Stream: l.Stream, Consumer: l.Consumer, Pending: l.Pending, AckPending: l.AckPending}, err
	})
	return &natsingest.Ingester{JS: s.js, Events: svc.ReadModel, Clients: svc.Store, Observer: obs, Logger: logger, Config: s.cfg}
}

// IngestionStatus is the consumer's backlog for GET /v1/projections. A
// server that does not answer makes the entry "unavailable", not the
// endpoint fail.
func (s *natsSource) IngestionStatus(ctx context.Context) []api.IngestionStatus {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	st := api.IngestionStatus{Source: "nats", Stream: s.cfg.Stream, Consumer: s.cfg.Consumer, Subject: s.cfg.Subject, Status: "ok"}
	l, err := natsingest.ConsumerLag(ctx, s.js, s.cfg)
	if err != nil {
		st.Status = "unavailable"
	}
	st.PendingMessages, st.AckPendingMessages = l.Pending, l.AckPending
	return []api.IngestionStatus{st}
}
