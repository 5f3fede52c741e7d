package jobs

import (
	"context"
	"fmt"
	"log/slog"
	"runtime/debug"
	"time"

	"github.com/hibiken/asynq"
)

// NewServeMux routes each task type to its handler, wrapped in logging and
// panic recovery.
func NewServeMux(logger *slog.Logger, gen *Generator, del *Deliverer) *asynq.ServeMux {
	mux := asynq.NewServeMux()
	mux.Use(recoverPanics(logger), logTasks(logger))
	mux.Handle(TypeGenerateReport, gen)
	mux.Handle(TypeDeliverWebhook, del)
	mux.HandleFunc(TypeDeliverBatch, del.ProcessBatch)
	return mux
}

func logTasks(logger *slog.Logger) asynq.MiddlewareFunc {
	return func(next asynq.Handler) asynq.Handler {
		return asynq.HandlerFunc(func(ctx context.Context, t *asynq.Task) error {
			id, _ := asynq.GetTaskID(ctx)
			retried, _ := asynq.GetRetryCount(ctx)
			start := time.Now()
			err := next.ProcessTask(ctx, t)
			level := slog.LevelDebug
			if err != nil {
				level = slog.LevelWarn
			}
			logger.Log(ctx, level, "task done", "task_type", t.Type(), "task_id", id, "retried", retried,
				"duration_ms", time.Since(start).Milliseconds(), "err", err)
			return err
		})
	}
}

// recoverPanics turns a handler panic into a retryable error with a stack
// trace in the log, so one bad task cannot take the worker down.
func recoverPanics(logger *slog.Logger) asynq.MiddlewareFunc {
	return func(next asynq.Handler) asynq.Handler {
		return asynq.HandlerFunc(func(ctx context.Context, t *asynq.Task) (err error) {
			defer func() {
				if v := recover(); v != nil {
					logger.ErrorContext(ctx, "task panicked", "task_type", t.Type(), "panic", fmt.Sprint(v), "stack", string(debug.Stack()))
					err = fmt.Errorf("task %s panicked: %v", t.Type(), v)
				}
			}()
			return next.ProcessTask(ctx, t)
		})
	}
}

// ErrorHandler logs a task's final failure loudly, and earlier ones quietly.
func ErrorHandler(logger *slog.Logger) asynq.ErrorHandlerFunc {
	return func(ctx context.Context, t *asynq.Task, err error) {
		retried, _ := asynq.GetRetryCount(ctx)
		maxRetry, _ := asynq.GetMaxRetry(ctx)
		id, _ := asynq.GetTaskID(ctx)
		if retried >= maxRetry {
			logger.ErrorContext(ctx, "task exhausted its retries", "task_type", t.Type(), "task_id", id, "err", err)
		}
	}
}

// SlogAdapter lets asynq log through slog. Its methods implement asynq.Logger.
type SlogAdapter struct{ Logger *slog.Logger }

// Debug logs at debug level.
func (a SlogAdapter) Debug(args ...any) { a.Logger.Debug(fmt.Sprint(args...), "component", "asynq") }

// Info logs at info level.
func (a SlogAdapter) Info(args ...any) { a.Logger.Info(fmt.Sprint(args...), "component", "asynq") }

// Warn logs at warn level.
func (a SlogAdapter) Warn(args ...any) { a.Logger.Warn(fmt.Sprint(args...), "component", "asynq") }

// Error logs at error level.
func (a SlogAdapter) Error(args ...any) { a.Logger.Error(fmt.Sprint(args...), "component", "asynq") }

// Fatal logs at error level; asynq calls it for conditions it cannot recover from.
func (a SlogAdapter) Fatal(args ...any) {
	a.Logger.Error(fmt.Sprint(args...), "component", "asynq", "fatal", true)
}
