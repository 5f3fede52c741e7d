package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/reportd/reportd/internal/apikey"
	"github.com/reportd/reportd/internal/app"
	"github.com/reportd/reportd/internal/config"
	"github.com/reportd/reportd/internal/domain"
	"github.com/reportd/reportd/internal/ids"
	"github.com/reportd/reportd/internal/jobs"
	"github.com/reportd/reportd/internal/keyring"
	"github.com/reportd/reportd/internal/postgres"
	"github.com/reportd/reportd/internal/readmodel"
	"github.com/reportd/reportd/internal/redisurl"
	"github.com/reportd/reportd/internal/seed"
	"github.com/reportd/reportd/internal/webhook"

	"github.com/hibiken/asynq"
	"github.com/jackc/pgx/v5/pgxpool"
)

// database loads the config, connects to the primary and migrates.
func (c *cli) database(ctx context.Context) (config.Config, *pgxpool.Pool, *slog.Logger, error) {
	cfg, err := config.Load(c.getenv)
	if err != nil {
		return cfg, nil, nil, err
	}
	logger := app.NewLogger(c.stderr, cfg.LogLevel)
	pool, err := postgres.Connect(ctx, cfg.DatabaseURL)
	if err != nil {
		return cfg, nil, nil, fmt.Errorf("connect to DATABASE_URL: %w", err)
	}
	if err := postgres.Migrate(ctx, pool, logger); err != nil {
		pool.Close()
		return cfg, nil, nil, err
	}
	return cfg, pool, logger, nil
}

func (c *cli) migrate(ctx context.Context) error {
	_, pool, _, err := c.database(ctx)
	if err != nil {
		return err
	}
	pool.Close()
	return c.printJSON(map[string]string{"status": "migrated"})
}

var knownScopes = []string{"reports", "events:write"}

func parseScopes(s string) ([]string, error) {
	var scopes []string
	for sc := range strings.SplitSeq(s, ",") {
		sc = strings.TrimSpace(sc)
		if sc == "" {
			continue
		}
		if !slices.Contains(knownScopes, sc) {
			return nil, fmt.Errorf("unknown scope %q (known: %s)", sc, strings.Join(knownScopes, ", "))
		}
		if !slices.Contains(scopes, sc) {
			scopes = append(scopes, sc)
		}
	}
	if len(scopes) == 0 {
		return nil, errors.New("--scopes names no scope")
	}
	return scopes, nil
}

func (c *cli) clientCreate(ctx context.Context, args []string) error {
	fs := c.flags("client create")
	name := fs.String("name", "", "client name (required)")
	hook := fs.String("webhook-url", "", "default webhook URL")
	scopeList := fs.String("scopes", "reports", "comma-separated scopes: reports, events:write")
	signing := fs.String("signing", webhook.SigningHMAC, "how webhooks are signed: hmac (v1, a shared secret) or ed25519 (v1a, a key pair)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if strings.TrimSpace(*name) == "" {
		return errors.New("client create: --name is required")
	}
	scopes, err := parseScopes(*scopeList)
	if err != nil {
		return fmt.Errorf("client create: %w", err)
	}
	if err := checkSigning(*signing); err != nil {
		return fmt.Errorf("client create: %w", err)
	}
	cfg, pool, _, err := c.database(ctx)
	if err != nil {
		return err
	}
	defer pool.Close()
	if err := c.checkKeyring(cfg, *signing); err != nil {
		return fmt.Errorf("client create: %w", err)
	}
	if *hook != "" {
		if err := validateWebhookURL(*hook, cfg.WebhookAllowPrivate); err != nil {
			return fmt.Errorf("client create: --webhook-url: %w", err)
		}
	}
	key := apikey.New()
	signingKey, shown, err := newSigningKey(*signing)
	if err != nil {
		return err
	}
	id := ids.New("cli")
	if err := postgres.NewStore(pool).WithKeyring(cfg.WebhookKeyring).CreateClient(ctx, postgres.NewClient{
		ID: id, Name: *name, WebhookURL: *hook, KeyID: key.ID, KeyHash: key.Hash, Scopes: scopes, Secret: signingKey,
	}); err != nil {
		return err
	}
	out := map[string]any{"client_id": id, "name": *name, "api_key": key.Plain, "scopes": scopes}
	maps.Copy(out, shown)
	return c.printJSON(out)
}

// checkSigning validates a --signing value.
func checkSigning(s string) error {
	if s != webhook.SigningHMAC && s != webhook.SigningEd25519 {
		return fmt.Errorf("--signing must be %s or %s, not %q", webhook.SigningHMAC, webhook.SigningEd25519, s)
	}
	return nil
}

// checkKeyring fails early when ed25519 is asked for without a
// key-encryption key, and says on stderr when an HMAC secret is going to be
// stored unencrypted.
func (c *cli) checkKeyring(cfg config.Config, signing string) error {
	if cfg.WebhookKeyring != nil {
		return nil
	}
	if signing == webhook.SigningEd25519 {
		return fmt.Errorf("--signing ed25519: %w", keyring.ErrNoKey)
	}
	fmt.Fprintln(c.stderr, "reportctl: note: WEBHOOK_KEY_ENCRYPTION_KEY is not set, so the webhook secret is stored unencrypted "+
		"(set it, then run 'reportctl keys reencrypt')")
	return nil
}

// newSigningKey makes a signing key of the given scheme and returns it with
// what may be shown of it: an HMAC secret is shared with the client, so it is
// shown; of an ed25519 key only the public half is.
func newSigningKey(signing string) (key string, shown map[string]any, err error) {
	if signing == webhook.SigningEd25519 {
		private, public, err := webhook.NewSigningKey()
		if err != nil {
			return "", nil, err
		}
		pub, err := webhook.DecodePublicKey(public)
		if err != nil {
			return "", nil, err
		}
		return private, map[string]any{"signing": signing, "webhook_public_key": public, "webhook_key_id": webhook.KeyID(pub)}, nil
	}
	secret, err := webhook.NewSecret()
	if err != nil {
		return "", nil, err
	}
	return secret, map[string]any{"signing": signing, "webhook_secret": secret}, nil
}

func (c *cli) clientRevokeKey(ctx context.Context, args []string) error {
	fs := c.flags("client revoke-key")
	client := fs.String("client", "", "client id (required)")
	scopeList := fs.String("scopes", "reports", "scopes of the new key")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *client == "" {
		return errors.New("client revoke-key: --client is required")
	}
	scopes, err := parseScopes(*scopeList)
	if err != nil {
		return fmt.Errorf("client revoke-key: %w", err)
	}
	_, pool, _, err := c.database(ctx)
	if err != nil {
		return err
	}
	defer pool.Close()
	key := apikey.New()
	revoked, err := postgres.NewStore(pool).RotateKey(ctx, *client, key.ID, key.Hash, scopes)
	if err != nil {
		return err
	}
	return c.printJSON(map[string]any{"client_id": *client, "revoked_keys": revoked, "api_key": key.Plain, "scopes": scopes})
}

func (c *cli) clientSetWebhook(ctx context.Context, args []string) error {
	fs := c.flags("client set-webhook")
	client := fs.String("client", "", "client id (required)")
	url := fs.String("url", "", "new webhook URL (empty removes it)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *client == "" {
		return errors.New("client set-webhook: --client is required")
	}
	cfg, pool, _, err := c.database(ctx)
	if err != nil {
		return err
	}
	defer pool.Close()
	if *url != "" {
		if err := validateWebhookURL(*url, cfg.WebhookAllowPrivate); err != nil {
			return fmt.Errorf("client set-webhook: --url: %w", err)
		}
	}
	if err := postgres.NewStore(pool).SetWebhookURL(ctx, *client, *url); err != nil {
		return err
	}
	return c.printJSON(map[string]any{"client_id": *client, "webhook_url": *url})
}

func (c *cli) secretRotate(ctx context.Context, args []string) error {
	fs := c.flags("secret rotate")
	client := fs.String("client", "", "client id (required)")
	grace := fs.Duration("grace", 24*time.Hour, "how long the old secrets keep signing")
	signing := fs.String("signing", "", "hmac or ed25519 (default: what the client signs with now)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *client == "" {
		return errors.New("secret rotate: --client is required")
	}
	if *grace < 0 {
		return errors.New("secret rotate: --grace must not be negative")
	}
	if *signing != "" {
		if err := checkSigning(*signing); err != nil {
			return fmt.Errorf("secret rotate: %w", err)
		}
	}
	cfg, pool, _, err := c.database(ctx)
	if err != nil {
		return err
	}
	defer pool.Close()
	store := postgres.NewStore(pool).WithKeyring(cfg.WebhookKeyring)
	if *signing == "" {
		if *signing, err = store.CurrentSigning(ctx, *client); err != nil {
			return err
		}
	}
	if err := c.checkKeyring(cfg, *signing); err != nil {
		return fmt.Errorf("secret rotate: %w", err)
	}
	secret, shown, err := newSigningKey(*signing)
	if err != nil {
		return err
	}
	if err := store.RotateSecret(ctx, *client, secret, *grace); err != nil {
		return err
	}
	out := map[string]any{"client_id": *client, "old_secrets_expire_at": time.Now().Add(*grace).UTC()}
	maps.Copy(out, shown)
	return c.printJSON(out)
}

func (c *cli) seed(ctx context.Context, args []string) error {
	fs := c.flags("seed")
	client := fs.String("client", "", "client id; default: the newest client named \"demo\"")
	customers := fs.Int("customers", 10, "customers to create")
	orders := fs.Int("orders", 5, "orders per customer")
	merchants := fs.Int("merchants", 0, "merchants (default: one per 4 customers, at least 3)")
	seedValue := fs.Int64("seed", 1, "random seed; the same seed gives the same data")
	from := fs.String("from", "2026-01-01", "first day of the orders")
	to := fs.String("to", "2026-03-31", "last day of the orders")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *customers < 1 || *orders < 1 || *merchants < 0 {
		return errors.New("seed: --customers and --orders must be at least 1")
	}
	fromDay, err1 := time.Parse(time.DateOnly, *from)
	toDay, err2 := time.Parse(time.DateOnly, *to)
	if err1 != nil || err2 != nil || toDay.Before(fromDay) {
		return errors.New("seed: --from and --to must be YYYY-MM-DD with from <= to")
	}
	_, pool, logger, err := c.database(ctx)
	if err != nil {
		return err
	}
	defer pool.Close()
	store := postgres.NewStore(pool)
	clientID := *client
	if clientID == "" {
		demo, err := store.FindClientByName(ctx, "demo")
		if errors.Is(err, domain.ErrNotFound) {
			return errors.New("seed: no client named \"demo\"; create one with 'reportctl client create --name demo' or pass --client")
		}
		if err != nil {
			return err
		}
		clientID = demo.ID
	} else if _, err := store.GetClient(ctx, clientID); err != nil {
		return fmt.Errorf("seed: %w", err)
	}
	sum, err := seed.Run(ctx, readmodel.NewStore(pool, pool, logger), clientID, seed.Options{
		Customers: *customers, OrdersPerCustomer: *orders, Merchants: *merchants, Seed: *seedValue,
		From: fromDay, To: toDay.Add(24*time.Hour - time.Second),
	}, c.stderr)
	if err != nil {
		return err
	}
	return c.printJSON(sum)
}

// swapFlags are the flags that bound a swap's wait for the live tables.
func swapFlags(fs *flag.FlagSet) func() (readmodel.SwapOptions, error) {
	timeout := fs.Duration("swap-lock-timeout", readmodel.DefaultSwapLockTimeout,
		"how long each try of the swap waits for the live tables (reports reading them finish first; new readers queue behind the swap meanwhile)")
	attempts := fs.Int("swap-attempts", readmodel.DefaultSwapAttempts,
		"tries of the swap before giving up, the new version catching up between them")
	return func() (readmodel.SwapOptions, error) {
		if *timeout < time.Millisecond || *attempts < 1 {
			return readmodel.SwapOptions{}, fmt.Errorf("--swap-lock-timeout must be at least 1ms and --swap-attempts at least 1, not %s and %d", *timeout, *attempts)
		}
		return readmodel.SwapOptions{LockTimeout: *timeout, Attempts: *attempts}, nil
	}
}

func (c *cli) projectionsRebuild(ctx context.Context, args []string) error {
	fs := c.flags("projections rebuild")
	swap := swapFlags(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	swapOpts, err := swap()
	if err != nil {
		return fmt.Errorf("projections rebuild: %w", err)
	}
	name := fs.Arg(0)
	cfg, pool, logger, err := c.database(ctx)
	if err != nil {
		return err
	}
	defer pool.Close()
	// The rebuilt projection gets PROJECTION_PARTITIONS partitions.
	rm := readmodel.NewStore(pool, pool, logger).WithProjector(readmodel.ProjectorOptions{Partitions: cfg.ProjectionPartitions}).
		WithSwap(swapOpts)
	start := time.Now()
	err = rm.Rebuild(ctx, name, newProgressLine(c.stderr, "rebuild").update)
	if err != nil {
		return err
	}
	status, err := rm.Status(ctx)
	if err != nil {
		return err
	}
	return c.printJSON(map[string]any{"rebuilt": name, "seconds": time.Since(start).Seconds(), "projections": withHeldOrders(status)})
}

// projectionsRollback swaps the version the last rebuild replaced back in,
// caught up with the log.
func (c *cli) projectionsRollback(ctx context.Context, args []string) error {
	fs := c.flags("projections rollback")
	swap := swapFlags(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return errors.New("projections rollback: name the projection (customer_order_history or merchant_daily_sales)")
	}
	swapOpts, err := swap()
	if err != nil {
		return fmt.Errorf("projections rollback: %w", err)
	}
	cfg, pool, logger, err := c.database(ctx)
	if err != nil {
		return err
	}
	defer pool.Close()
	rm := readmodel.NewStore(pool, pool, logger).WithProjector(readmodel.ProjectorOptions{Partitions: cfg.ProjectionPartitions}).
		WithSwap(swapOpts)
	if err := rm.Rollback(ctx, fs.Arg(0), newProgressLine(c.stderr, "rollback").update); err != nil {
		return err
	}
	status, err := rm.Status(ctx)
	if err != nil {
		return err
	}
	return c.printJSON(map[string]any{"rolled_back": fs.Arg(0), "projections": withHeldOrders(status)})
}

// projectionsVerify folds the log afresh beside the live projection and
// prints every row that differs (at most --max-rows of them, with the
// count); drift makes it fail, so a scheduled run can alert.
func (c *cli) projectionsVerify(ctx context.Context, args []string) error {
	fs := c.flags("projections verify")
	maxRows := fs.Int("max-rows", 100, "differing rows to print per projection (the count is always whole)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *maxRows < 0 {
		return fmt.Errorf("projections verify: --max-rows must be at least 0, not %d", *maxRows)
	}
	cfg, pool, logger, err := c.database(ctx)
	if err != nil {
		return err
	}
	defer pool.Close()
	rm := readmodel.NewStore(pool, pool, logger).WithProjector(readmodel.ProjectorOptions{Partitions: cfg.ProjectionPartitions})
	res, err := rm.Verify(ctx, fs.Arg(0), *maxRows, newProgressLine(c.stderr, "verify").update)
	if err != nil && !errors.Is(err, readmodel.ErrDrift) {
		return err
	}
	if perr := c.printJSON(map[string]any{"projections": res}); perr != nil {
		return perr
	}
	return err
}

func (c *cli) projectionsStatus(ctx context.Context) error {
	_, pool, logger, err := c.database(ctx)
	if err != nil {
		return err
	}
	defer pool.Close()
	status, err := readmodel.NewStore(pool, pool, logger).Status(ctx)
	if err != nil {
		return err
	}
	return c.printJSON(withHeldOrders(status))
}

// operatorStatus is a projection's status with held_orders, which operators
// see and the API does not publish.
type operatorStatus struct {
	domain.ProjectionStatus
	HeldOrders int64 `json:"held_orders"`
}

func withHeldOrders(list []domain.ProjectionStatus) []operatorStatus {
	out := make([]operatorStatus, len(list))
	for i, p := range list {
		out[i] = operatorStatus{ProjectionStatus: p, HeldOrders: p.HeldOrders}
	}
	return out
}

func (c *cli) deliveriesReplay(ctx context.Context, args []string) error {
	fs := c.flags("deliveries replay")
	client := fs.String("client", "", "only this client's deliveries (default: every client)")
	status := fs.String("status", "dead", "dead or failing")
	since := fs.String("since", "", "only deliveries created at or after this RFC 3339 time")
	until := fs.String("until", "", "only deliveries created before this RFC 3339 time")
	endpoint := fs.String("endpoint", "", "only deliveries to this webhook endpoint (ep_…)")
	limit := fs.Int("limit", 10000, "at most this many")
	if err := fs.Parse(args); err != nil {
		return err
	}
	var untilTime *time.Time
	if *until != "" {
		t, err := time.Parse(time.RFC3339, *until)
		if err != nil {
			return errors.New("deliveries replay: --until must be an RFC 3339 time")
		}
		untilTime = &t
	}
	if *status != string(domain.DeliveryDead) && *status != string(domain.DeliveryFailing) {
		return errors.New("deliveries replay: --status must be dead or failing")
	}
	var sinceTime time.Time
	if *since != "" {
		t, err := time.Parse(time.RFC3339, *since)
		if err != nil {
			return errors.New("deliveries replay: --since must be an RFC 3339 time")
		}
		sinceTime = t
	}
	cfg, pool, _, err := c.database(ctx)
	if err != nil {
		return err
	}
	defer pool.Close()
	opt, err := redisurl.Parse(cfg.RedisURL)
	if err != nil {
		return fmt.Errorf("parse REDIS_URL: %w", err)
	}
	client2 := asynq.NewClient(opt)
	defer client2.Close()
	inspector := asynq.NewInspector(opt)
	defer inspector.Close()
	enq := jobs.NewEnqueuer(client2, inspector, jobs.EnqueuerConfig{
		ReportMaxAttempts: cfg.ReportMaxAttempts, ReportTimeout: 30 * time.Minute,
		DeliveryMaxRetry: cfg.WebhookSchedule.MaxRetry(), DeliveryTimeout: cfg.WebhookTimeout + 30*time.Second,
		Shards: jobs.Shards(cfg.RedisQueueShards),
	})
	store := postgres.NewStore(pool)
	refs, err := store.ReplayDeliveries(ctx, *client, domain.ReplayFilter{
		Status: domain.DeliveryStatus(*status), Since: sinceTime, Until: untilTime, EndpointID: *endpoint, Limit: *limit,
	})
	if err != nil {
		return err
	}
	ids := make([]string, len(refs))
	for i, r := range refs {
		ids[i] = r.ID
	}
	queued, shown := 0, 0
	err = enq.Replay(ctx, refs, *status == string(domain.DeliveryDead), "", func(n int) {
		queued = n
		if n-shown >= 500 || n == len(refs) {
			fmt.Fprintf(c.stderr, "replay: %d/%d deliveries queued\n", n, len(refs))
			shown = n
		}
	})
	if err != nil {
		fmt.Fprintf(c.stderr, "replay: %v (the sweeper will queue the rest)\n", err)
	}
	return c.printJSON(map[string]any{"replayed": len(ids), "enqueue_failed": len(refs) - queued, "delivery_ids": ids})
}

// endpointEnable enables a paused or disabled webhook endpoint, with a
// clean health record; its dead letters are replayed with
// `deliveries replay --endpoint`.
func (c *cli) endpointEnable(ctx context.Context, args []string) error {
	fs := c.flags("endpoint enable")
	id := fs.String("id", "", "webhook endpoint id, ep_… (required)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *id == "" {
		return errors.New("endpoint enable: --id is required")
	}
	_, pool, _, err := c.database(ctx)
	if err != nil {
		return err
	}
	defer pool.Close()
	e, err := postgres.NewStore(pool).UpdateEndpoint(ctx, "", *id, domain.EndpointChange{Enable: true})
	if err != nil {
		return err
	}
	return c.printJSON(map[string]any{"id": e.ID, "client_id": e.ClientID, "status": e.Status})
}

// validateWebhookURL is webhook.ValidateURL with the way out an operator at a
// plain shell needs: the servers refuse http and private addresses unless
// the environment opts in, and so does reportctl, which reads the same one.
func validateWebhookURL(raw string, allowPrivate bool) error {
	err := webhook.ValidateURL(raw, allowPrivate)
	if err != nil && !allowPrivate {
		return fmt.Errorf("%w (http and private addresses are for development only: "+
			"set WEBHOOK_ALLOW_PRIVATE_NETWORKS=true here and for the api and worker to allow them)", err)
	}
	return err
}
