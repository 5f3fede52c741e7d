package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"sync"
	"time"

	"github.com/hibiken/asynq"
	"golang.org/x/sync/semaphore"

	"github.com/reportd/reportd/internal/config"
	"github.com/reportd/reportd/internal/domain"
	"github.com/reportd/reportd/internal/ids"
	"github.com/reportd/reportd/internal/jobs"
	"github.com/reportd/reportd/internal/metrics"
	"github.com/reportd/reportd/internal/schedule"
	"github.com/reportd/reportd/internal/webhook"
)

// WorkerOptions carry what does not come from the environment.
type WorkerOptions struct {
	// MetricsListener serves /metrics; nil listens on WORKER_METRICS_ADDR.
	MetricsListener net.Listener
	// ProgressInterval is how often a build's progress is written at most
	// (0: a second); RowHook runs after each rendered row. Both are for
	// tests that watch a build run (jobs.Generator).
	ProgressInterval time.Duration
	RowHook          func(reportID string, rowsDone int)
}

// RunWorker processes report and webhook tasks, runs the projector and the
// sweepers, and serves worker metrics until ctx ends. On shutdown asynq
// waits up to SHUTDOWN_TIMEOUT for active tasks, then hands unfinished ones
// back to the queue.
func RunWorker(ctx context.Context, cfg config.Config, logger *slog.Logger, opts WorkerOptions) error {
	logger.InfoContext(ctx, "worker starting", "config", cfg)
	svc, err := Connect(ctx, cfg, logger)
	if err != nil {
		return err
	}
	defer svc.Close()
	// A PROJECTION_PARTITIONS that disagrees with the partitions in the
	// database fails start-up rather than projecting nothing.
	if err := svc.ReadModel.PreparePartitions(ctx); err != nil {
		return fmt.Errorf("prepare projection partitions: %w", err)
	}

	sender := webhook.NewClient(webhook.ClientConfig{
		Timeout: cfg.WebhookTimeout, AllowPrivateNetworks: cfg.WebhookAllowPrivate, UserAgent: "reportd-webhooks/1",
	})
	servePprof(ctx, cfg.PprofAddr, logger)
	m := metrics.New(logger)
	// Queue and projection gauges come from the worker only, so the API does
	// not report the same series again.
	shards := jobs.Shards(cfg.RedisQueueShards)
	m.WatchQueues(asynq.NewInspectorFromRedisClient(svc.Redis), append(shards.All(jobs.QueueReports), shards.All(jobs.QueueWebhooks)...)...)
	m.WatchProjections(svc.ReadModel.Status)
	m.WatchProjectionDrift(svc.ReadModel.Drift)
	natsSrc, err := connectNATS(cfg.EventsNATS, "reportd-worker", logger)
	if err != nil {
		return err
	}
	defer natsSrc.Close() // runs after the ingester has stopped (wg.Wait)
	// The heartbeat beats before the task servers start, so no run is ever
	// recorded on a worker the rescuer has not seen.
	workerID := "wrk_" + ids.Random(12)
	host, _ := os.Hostname() // as asynq names its server: its active tasks are found by it
	heartbeat := &jobs.Heartbeat{Store: svc.Store, WorkerID: workerID, Process: domain.ProcessAddr{Host: host, PID: os.Getpid()},
		Interval: time.Second, Logger: logger}
	if err := heartbeat.Beat(ctx); err != nil {
		return fmt.Errorf("first worker heartbeat: %w", err)
	}
	gen := &jobs.Generator{
		Store: svc.Store, Orders: svc.ReadModel, Blobs: svc.Files, Deliveries: svc.Enqueuer,
		Observer: m, Logger: logger, Retention: cfg.ReportRetention, WaitForData: cfg.ReadYourWritesMax, Now: time.Now,
		OutageMax: cfg.DependencyOutageMax, Later: svc.Later,
		Progress: svc.Store, ProgressInterval: opts.ProgressInterval, RowHook: opts.RowHook,
		WorkerID: workerID,
	}
	del := &jobs.Deliverer{
		Store: svc.Store, Retries: svc.Enqueuer, Sender: sender, OnTheWire: semaphore.NewWeighted(int64(cfg.WebhookConcurrency)), Schedule: cfg.WebhookSchedule, Observer: m, Logger: logger, Now: time.Now,
		OutageMax: cfg.DependencyOutageMax,
		Endpoints: svc.Store, Wake: svc.Enqueuer, EndpointObserver: m, Lease: cfg.WebhookTimeout + 15*time.Second,
		Breaker: webhook.BreakerPolicy{
			Failures: cfg.WebhookBreakerFailures, DisableAfter: cfg.WebhookDisableAfter,
			Probes: cfg.WebhookSchedule, Concurrency: cfg.WebhookEndpointConcurrency,
		},
	}
	// Two task servers: rendering is CPU-bound and deliveries wait on other
	// people's servers (up to WEBHOOK_TIMEOUT each), so each gets its own
	// concurrency and slow receivers can never starve report builds.
	mux := jobs.NewServeMux(logger, gen, del)
	// Each serves every shard of its queue, all with the same weight.
	newServer := func(base string, concurrency int) *asynq.Server {
		queues := map[string]int{}
		for _, q := range shards.All(base) {
			queues[q] = 1
		}
		return asynq.NewServerFromRedisClient(svc.Redis, asynq.Config{
			Concurrency: concurrency,
			Queues:      queues,
			// Idle queues are polled this often; the 1s default adds up to a
			// second to every report and every webhook.
			TaskCheckInterval: 200 * time.Millisecond,
			RetryDelayFunc:    jobs.RetryDelay,
			IsFailure:         jobs.IsFailure,
			ErrorHandler:      jobs.ErrorHandler(logger),
			Logger:            jobs.SlogAdapter{Logger: logger},
			ShutdownTimeout:   cfg.ShutdownTimeout,
			BaseContext:       func() context.Context { return context.WithoutCancel(ctx) },

			// Retries become due only when this check moves them back to
			// pending; at the 5s default a report waiting for min_position
			// (retried after 0.5-1s) waited 5s per try.
			DelayedTaskCheckInterval: 500 * time.Millisecond,
		})
	}
	servers := []*asynq.Server{
		newServer(jobs.QueueReports, cfg.WorkerConcurrency),
		newServer(jobs.QueueWebhooks, cfg.WebhookConcurrency),
	}
	shutdown := func() {
		var wg sync.WaitGroup
		for _, srv := range servers {
			wg.Go(srv.Shutdown) // each waits up to ShutdownTimeout, then requeues what is still active
		}
		wg.Wait()
	}
	for i, srv := range servers {
		if err := srv.Start(mux); err != nil {
			for _, started := range servers[:i] {
				started.Shutdown()
			}
			return fmt.Errorf("start task server: %w", err)
		}
	}

	metricsLn := opts.MetricsListener
	if metricsLn == nil {
		var lc net.ListenConfig
		if metricsLn, err = lc.Listen(ctx, "tcp", cfg.WorkerMetricsAddr); err != nil {
			shutdown()
			return fmt.Errorf("listen on WORKER_METRICS_ADDR %s: %w", cfg.WorkerMetricsAddr, err)
		}
	}
	metricsSrv := &http.Server{Handler: workerMux(m.Handler()), ReadHeaderTimeout: 5 * time.Second}

	bg, stopBG := context.WithCancel(ctx)
	var wg sync.WaitGroup
	// The heartbeat outlives the task servers: it is removed only after
	// shutdown() has handed back what was still running.
	beatCtx, stopBeat := context.WithCancel(context.WithoutCancel(ctx))
	beatDone := make(chan struct{})
	go func() { defer close(beatDone); heartbeat.Run(beatCtx) }()
	defer func() { stopBeat(); <-beatDone }()
	rescuer := &jobs.Rescuer{Store: svc.Store, Queue: svc.Enqueuer, WorkerID: workerID, Logger: logger,
		Interval: time.Second, Timeout: cfg.WorkerHeartbeatTimeout, Now: time.Now, Tasks: svc.Enqueuer}
	wg.Go(func() { rescuer.Run(bg) })
	wg.Go(func() {
		if err := metricsSrv.Serve(metricsLn); err != nil && !errors.Is(err, http.ErrServerClosed) {
			logger.ErrorContext(ctx, "serve worker metrics", "err", err)
		}
	})
	wg.Go(func() {
		if err := svc.ReadModel.RunProjector(bg); err != nil && !errors.Is(err, context.Canceled) {
			logger.ErrorContext(ctx, "projector stopped", "err", err)
		}
	})
	sweeper := &jobs.Sweeper{
		Store: svc.Store, Queue: svc.Enqueuer, Blobs: svc.Files, Leader: svc.Store.NewLeadership("reportd-sweeper"),
		Logger: logger, Interval: cfg.SweepInterval, StaleAfter: 2 * cfg.SweepInterval,
		// Redis that comes back empty is noticed within a second and swept at once.
		Epoch: &jobs.Epoch{Counter: epochCounter{svc.Redis}}, EpochInterval: time.Second,
	}
	wg.Go(func() { sweeper.Run(bg) })
	wg.Go(func() { svc.Later.Run(bg) })
	// New reports' NOTIFY wakes the dispatcher; the poll is its safety net.
	// Reports whose enqueue meets a Redis outage wait in svc.Later, not the outbox.
	wake := make(chan struct{}, 1)
	wg.Go(func() { svc.Store.WatchOutbox(bg, logger, wake) })
	reportQueue := jobs.LaterReports{Queue: svc.Enqueuer, Later: svc.Later}
	dispatcher := &jobs.Dispatcher{Store: svc.Store, Queue: reportQueue, Logger: logger, Wake: wake, Interval: time.Second}
	wg.Go(func() { dispatcher.Run(bg) })
	// Report schedules: every worker runs the loop; row locks keep one fire
	// to one report. A changed schedule's NOTIFY wakes it.
	scheduleWake := make(chan struct{}, 1)
	wg.Go(func() { svc.Store.WatchSchedules(bg, logger, scheduleWake) })
	scheduler := &schedule.Runner{Store: svc.Store, Logger: logger, Now: time.Now, MaxRange: cfg.ReportMaxRange, Wake: scheduleWake}
	wg.Go(func() { scheduler.Run(bg) })
	// Order events from NATS JetStream, when EVENTS_NATS_URL is set.
	if natsSrc != nil {
		ingester := natsSrc.ingester(svc, m, logger)
		wg.Go(func() {
			if err := ingester.Run(bg); err != nil && !errors.Is(err, context.Canceled) {
				logger.ErrorContext(ctx, "nats ingestion stopped", "err", err)
			}
		})
	}
	logger.InfoContext(ctx, "worker running", "report_concurrency", cfg.WorkerConcurrency,
		"webhook_concurrency", cfg.WebhookConcurrency, "metrics_addr", metricsLn.Addr().String())

	<-ctx.Done()
	logger.InfoContext(ctx, "worker shutting down; finishing active tasks", "timeout", cfg.ShutdownTimeout)
	shutdown()
	stopBG()
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = metricsSrv.Shutdown(sctx)
	wg.Wait()
	logger.InfoContext(ctx, "worker stopped")
	return nil
}

func workerMux(metrics http.Handler) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", metrics)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"status":"ok"}` + "\n"))
	})
	return mux
}
