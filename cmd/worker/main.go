// Command worker builds reports, delivers webhooks, runs the order-event
// projector and the sweepers.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/reportd/reportd/internal/app"
	"github.com/reportd/reportd/internal/config"
)

func main() {
	if err := run(context.Background(), os.Getenv, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "worker:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, getenv func(string) string, stderr io.Writer) error {
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	cfg, err := config.Load(getenv)
	if err != nil {
		return err
	}
	return app.RunWorker(ctx, cfg, app.NewLogger(stderr, cfg.LogLevel), app.WorkerOptions{})
}
