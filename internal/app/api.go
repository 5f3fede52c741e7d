package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/reportd/reportd/internal/api"
	"github.com/reportd/reportd/internal/config"
	"github.com/reportd/reportd/internal/metrics"
	"github.com/reportd/reportd/internal/monitoring"
)

// APIOptions carry what does not come from the environment.
type APIOptions struct {
	OpenAPI []byte // the spec served at /openapi.yaml
	// Ready, when set, receives the listening address once the API serves.
	Ready func(addr string)
}

// RunAPI serves the HTTP API on ln until ctx ends, then drains in-flight
// requests for up to SHUTDOWN_TIMEOUT.
func RunAPI(ctx context.Context, cfg config.Config, logger *slog.Logger, ln net.Listener, opts APIOptions) error {
	logger.InfoContext(ctx, "api starting", "config", cfg)
	svc, err := Connect(ctx, cfg, logger)
	if err != nil {
		return err
	}
	defer svc.Close()
	laterCtx, stopLater := context.WithCancel(ctx)
	defer stopLater()
	go svc.Later.Run(laterCtx) // redeliveries and replays that met a Redis outage

	servePprof(ctx, cfg.PprofAddr, logger)
	m := metrics.New(logger)
	mon, err := monitoring.New(monitoring.Options{
		RedisConnOpt: svc.RedisOpt, Token: cfg.OperatorToken, ReadOnly: !cfg.MonitoringWrite, Logger: logger,
	})
	if err != nil {
		return fmt.Errorf("configure monitoring: %w", err)
	}
	defer func() { _ = mon.Close() }()
	var dashboard http.Handler
	if mon != nil { // a nil *Handler in the interface would not be nil
		dashboard = mon
	}

	// NATS ingestion's backlog in GET /v1/projections.
	natsSrc, err := connectNATS(cfg.EventsNATS, "reportd-api", logger)
	if err != nil {
		return err
	}
	defer natsSrc.Close()
	var ingestion api.Ingestion
	if natsSrc != nil {
		ingestion = natsSrc
	}

	handler := api.NewServer(api.Deps{
		Logger:        logger,
		Observer:      m,
		ReportMetrics: m,
		Metrics:       m.Handler(),
		Monitoring:    dashboard,
		Keys:          svc.Store,
		Reports:       svc.Store,
		Idempotency:   svc.Store,
		Deliveries:    svc.Store,
		WebhookKeys:   svc.Store,
		Endpoints:     svc.Store,
		Database:      svc.Store,
		Queue:         queueAdapter{Enqueuer: svc.Enqueuer, redis: svc.Redis},
		Files:         svc.Files,
		Events:        eventsAdapter{rm: svc.ReadModel},
		Schedules:     svc.Store,
		Ingestion:     ingestion,
		Orders:        ordersAdapter{rm: svc.ReadModel},
		Settings: api.Settings{
			MaxReportRange:       cfg.ReportMaxRange,
			AllowPrivateWebhooks: cfg.WebhookAllowPrivate,
			MaxInFlight:          cfg.MaxInFlight,
			PresignTTL:           cfg.PresignTTL,
			OpenAPI:              opts.OpenAPI,
			MinScheduleInterval:  cfg.ScheduleMinInterval,
			MaxSchedules:         cfg.ScheduleMaxPerClient,
		},
	})
	srv := &http.Server{
		Handler:           handler,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       60 * time.Second,
		WriteTimeout:      90 * time.Second, // above the longest ?wait= long poll
		IdleTimeout:       120 * time.Second,
		BaseContext:       func(net.Listener) context.Context { return context.WithoutCancel(ctx) },
	}
	errs := make(chan error, 1)
	go func() { errs <- srv.Serve(ln) }()
	logger.InfoContext(ctx, "api listening", "addr", ln.Addr().String())
	if opts.Ready != nil {
		opts.Ready(ln.Addr().String())
	}

	select {
	case err := <-errs:
		return fmt.Errorf("serve api: %w", err)
	case <-ctx.Done():
	}
	logger.InfoContext(ctx, "api shutting down; draining requests", "timeout", cfg.ShutdownTimeout)
	sctx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		return fmt.Errorf("drain api: %w", err)
	}
	if err := <-errs; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serve api: %w", err)
	}
	logger.InfoContext(ctx, "api stopped")
	return nil
}
