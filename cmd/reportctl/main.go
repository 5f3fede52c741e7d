// Command reportctl is the operator CLI: migrate, create clients, rotate
// keys and secrets, seed demo data, rebuild projections, list and retry
// parked order events, replay dead webhooks, and run a demo webhook receiver. Results go to stdout (JSON
// where there is one); logs and progress go to stderr.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
)

func main() {
	err := run(context.Background(), os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	if errors.Is(err, flag.ErrHelp) {
		os.Exit(2)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "reportctl:", err)
		os.Exit(1)
	}
}

const usage = `usage: reportctl <command> [flags]

commands:
  migrate                                   apply pending database migrations
  client create --name N [--webhook-url U] [--scopes reports,events:write] [--signing hmac|ed25519]
  client revoke-key --client ID             revoke every key of a client and mint a new one
  client set-webhook --client ID --url U    change (and re-enable) a client's webhook URL
  secret rotate --client ID [--grace 24h] [--signing hmac|ed25519]
                                            new signing key; old ones sign until the grace ends
  keys reencrypt                            seal every signing key under WEBHOOK_KEY_ENCRYPTION_KEY
  seed [--client ID] [--customers N] [--orders M]   demo orders through the event path
  projections rebuild [--swap-lock-timeout 2s] [--swap-attempts 30] [NAME]
                                            build a new version from the event log beside the live one, then swap it in
  projections verify [--max-rows 100] [NAME]   fold the log afresh and list rows that differ from the live
                                            projection; exits 1 on drift (reportd_projection_drift_rows)
  projections rollback [--swap-lock-timeout 2s] [--swap-attempts 30] NAME
                                            swap the version the last rebuild replaced back in
  projections status                        checkpoint, lag, held and parked events per projection
  events parked [--projection P] [--client ID] [--order ID]   events that failed to apply (JSON)
  events retry [--projection P] [--client ID] [--order ID]    un-park them and apply them again
  deliveries replay [--client ID] [--status dead] [--since RFC3339] [--until RFC3339] [--endpoint ep_…] [--limit N]
  endpoint enable --id ep_…
  webhook listen [--secret whsec_...|whpk_...] [--addr 127.0.0.1:9999]   demo receiver that verifies and prints
                                            (the secret may come from $REPORTD_WEBHOOK_SECRET instead)

Every command reads the same environment as the servers (DATABASE_URL, REDIS_URL, ...).
`

func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return flag.ErrHelp
	}
	c := &cli{getenv: getenv, stdout: stdout, stderr: stderr}
	cmd := args[0]
	if len(args) > 1 && !strings.HasPrefix(args[1], "-") && cmd != "migrate" && cmd != "seed" {
		cmd += " " + args[1]
		args = args[1:]
	}
	rest := args[1:]
	switch cmd {
	case "migrate":
		return c.migrate(ctx)
	case "client create":
		return c.clientCreate(ctx, rest)
	case "client revoke-key":
		return c.clientRevokeKey(ctx, rest)
	case "client set-webhook":
		return c.clientSetWebhook(ctx, rest)
	case "secret rotate":
		return c.secretRotate(ctx, rest)
	case "keys reencrypt":
		return c.keysReencrypt(ctx, rest)
	case "seed":
		return c.seed(ctx, rest)
	case "projections rebuild":
		return c.projectionsRebuild(ctx, rest)
	case "projections rollback":
		return c.projectionsRollback(ctx, rest)
	case "projections verify":
		return c.projectionsVerify(ctx, rest)
	case "projections status":
		return c.projectionsStatus(ctx)
	case "events parked":
		return c.eventsParked(ctx, rest)
	case "events retry":
		return c.eventsRetry(ctx, rest)
	case "deliveries replay":
		return c.deliveriesReplay(ctx, rest)
	case "endpoint enable":
		return c.endpointEnable(ctx, rest)
	case "webhook listen":
		return c.webhookListen(ctx, rest)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	}
	fmt.Fprint(stderr, usage)
	return fmt.Errorf("unknown command %q", cmd)
}

type cli struct {
	getenv         func(string) string
	stdout, stderr io.Writer
}

func (c *cli) printJSON(v any) error {
	enc := json.NewEncoder(c.stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func (c *cli) flags(name string) *flag.FlagSet {
	fs := flag.NewFlagSet("reportctl "+name, flag.ContinueOnError)
	fs.SetOutput(c.stderr)
	return fs
}
