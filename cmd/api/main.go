// Command api serves reportd's HTTP API.
package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"syscall"

	"github.com/reportd/reportd"
	"github.com/reportd/reportd/internal/app"
	"github.com/reportd/reportd/internal/config"
)

func main() {
	if err := run(context.Background(), os.Getenv, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "api:", err)
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
	logger := app.NewLogger(stderr, cfg.LogLevel)
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", cfg.APIAddr)
	if err != nil {
		return fmt.Errorf("listen on API_ADDR %s: %w", cfg.APIAddr, err)
	}
	return app.RunAPI(ctx, cfg, logger, ln, app.APIOptions{OpenAPI: reportd.OpenAPI})
}
