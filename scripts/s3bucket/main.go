// Command s3bucket creates the reportd bucket if it is missing, waiting for
// the S3 endpoint to answer first. It reads the same environment as the
// services (S3_ENDPOINT, S3_BUCKET, S3_REGION, AWS_ACCESS_KEY_ID,
// AWS_SECRET_ACCESS_KEY); scripts/dev-services.sh and docker-compose run it.
package main

import (
	"cmp"
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/reportd/reportd/internal/storage"
)

func main() {
	if err := run(context.Background(), os.Args[1:], os.Getenv, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "s3bucket:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, getenv func(string) string, stderr io.Writer) error {
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()

	fs := flag.NewFlagSet("s3bucket", flag.ContinueOnError)
	fs.SetOutput(stderr)
	wait := fs.Duration("wait", 60*time.Second, "how long to keep retrying while the endpoint does not answer")
	if err := fs.Parse(args); err != nil {
		return err
	}

	cfg := storage.Config{
		Endpoint:        cmp.Or(getenv("S3_ENDPOINT"), "http://127.0.0.1:7070"),
		Bucket:          cmp.Or(getenv("S3_BUCKET"), "reportd"),
		Region:          cmp.Or(getenv("S3_REGION"), storage.DefaultRegion),
		AccessKeyID:     cmp.Or(getenv("AWS_ACCESS_KEY_ID"), "reportd"),
		SecretAccessKey: cmp.Or(getenv("AWS_SECRET_ACCESS_KEY"), "reportd-secret-key"),
	}
	store, err := storage.New(ctx, cfg)
	if err != nil {
		return err
	}

	deadline := time.Now().Add(*wait)
	for {
		attemptCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
		err = store.EnsureBucket(attemptCtx)
		cancel()
		if err == nil {
			fmt.Fprintf(stderr, "s3bucket: bucket %s ready at %s\n", cfg.Bucket, cfg.Endpoint)
			return nil
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return fmt.Errorf("ensure bucket %s at %s (gave up after %s): %w", cfg.Bucket, cfg.Endpoint, *wait, err)
		}
		select {
		case <-ctx.Done():
		case <-time.After(time.Second):
		}
	}
}
