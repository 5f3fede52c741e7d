package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"

	"github.com/reportd/reportd/internal/apikey"
	"github.com/reportd/reportd/internal/postgres"
	"github.com/reportd/reportd/internal/webhook"
)

const (
	adminURL  = "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"
	redisAddr = "127.0.0.1:6379"
)

// install is one isolated reportd: its own database, Redis database, bucket
// and client, and the api and worker processes started on it.
type install struct {
	name    string
	vars    map[string]string
	pool    *pgxpool.Pool
	apiURL  string
	client  client
	procs   []*exec.Cmd
	cleanup []func()
	logDir  string
}

type client struct{ ID, APIKey, Secret string }

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func freeAddr(ctx context.Context) (string, error) {
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// newInstall creates the database, leases a Redis database the way
// internal/testenv does (so it never collides with running tests) and
// creates a client with no in-flight limit to speak of.
func newInstall(ctx context.Context, name, webhookURL, logDir, dbParams string, extra map[string]string) (*install, error) {
	in := &install{name: name, logDir: logDir}
	ok := false
	defer func() {
		if !ok {
			in.close()
		}
	}()
	admin, err := pgx.Connect(ctx, adminURL)
	if err != nil {
		return nil, fmt.Errorf("connect to %s (start the services with scripts/dev-services.sh up): %w", adminURL, err)
	}
	db := "reportd_bench_" + randomHex(6)
	_, err = admin.Exec(ctx, "CREATE DATABASE "+db)
	admin.Close(ctx)
	if err != nil {
		return nil, fmt.Errorf("create database %s: %w", db, err)
	}
	in.cleanup = append(in.cleanup, func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if c, err := pgx.Connect(ctx, adminURL); err == nil {
			_, _ = c.Exec(ctx, "DROP DATABASE IF EXISTS "+db+" WITH (FORCE)")
			c.Close(ctx)
		}
	})
	dbURL := "postgres://postgres@127.0.0.1:5432/" + db + "?sslmode=disable"
	if in.pool, err = postgres.Connect(ctx, dbURL); err != nil {
		return nil, err
	}
	if err := postgres.Migrate(ctx, in.pool, slog.New(slog.DiscardHandler)); err != nil {
		return nil, err
	}
	redisDB, err := leaseRedis(ctx, name)
	if err != nil {
		return nil, err
	}
	in.cleanup = append(in.cleanup, func() { releaseRedis(redisDB) })

	apiAddr, err := freeAddr(ctx)
	if err != nil {
		return nil, err
	}
	metricsAddr, err := freeAddr(ctx)
	if err != nil {
		return nil, err
	}
	in.vars = map[string]string{
		"DATABASE_URL":                   dbURL + dbParams,
		"REDIS_URL":                      fmt.Sprintf("redis://%s/%d", redisAddr, redisDB),
		"S3_ENDPOINT":                    "http://127.0.0.1:7070",
		"S3_BUCKET":                      "bench-" + randomHex(4),
		"API_ADDR":                       apiAddr,
		"WORKER_METRICS_ADDR":            metricsAddr,
		"WEBHOOK_ALLOW_PRIVATE_NETWORKS": "true",
		"MAX_IN_FLIGHT":                  "0",
		"LOG_LEVEL":                      "info",
		"SWEEP_INTERVAL":                 "5s",
	}
	maps.Copy(in.vars, extra)
	in.apiURL = "http://" + apiAddr

	if err := in.createClient(ctx, webhookURL); err != nil {
		return nil, err
	}
	ok = true
	return in, nil
}

// createClient creates the benchmark client, with no in-flight limit to
// speak of, in the install's database.
func (in *install) createClient(ctx context.Context, webhookURL string) error {
	key := apikey.New()
	secret, err := webhook.NewSecret()
	if err != nil {
		return err
	}
	in.client = client{ID: "cli_bench" + randomHex(4), APIKey: key.Plain, Secret: secret}
	if err := postgres.NewStore(in.pool).CreateClient(ctx, postgres.NewClient{
		ID: in.client.ID, Name: "Bench GmbH", WebhookURL: webhookURL, KeyID: key.ID, KeyHash: key.Hash,
		Scopes: []string{"reports", "events:write"}, Secret: secret,
	}); err != nil {
		return err
	}
	// MAX_IN_FLIGHT only lowers the client's own limit (default 100), so the
	// benchmark client's row is raised too.
	if _, err := in.pool.Exec(ctx, `UPDATE clients SET max_in_flight = 0 WHERE id = $1`, in.client.ID); err != nil {
		return err
	}
	return nil
}

func leaseRedis(ctx context.Context, who string) (int, error) {
	admin := redis.NewClient(&redis.Options{Addr: redisAddr})
	defer admin.Close()
	deadline := time.Now().Add(2 * time.Minute)
	for time.Now().Before(deadline) {
		for db := 15; db >= 1; db-- {
			ok, err := admin.SetNX(ctx, fmt.Sprintf("reportd:test:lease:%d", db), "bench "+who, 30*time.Minute).Result()
			if err != nil {
				return 0, fmt.Errorf("lease a redis database at %s (start the services with scripts/dev-services.sh up): %w", redisAddr, err)
			}
			if ok {
				c := redis.NewClient(&redis.Options{Addr: redisAddr, DB: db})
				defer c.Close()
				return db, c.FlushDB(ctx).Err()
			}
		}
		time.Sleep(200 * time.Millisecond)
	}
	return 0, errors.New("lease a redis database: none free for two minutes")
}

func releaseRedis(db int) {
	ctx := context.Background()
	c := redis.NewClient(&redis.Options{Addr: redisAddr, DB: db})
	_ = c.FlushDB(ctx).Err()
	c.Close()
	admin := redis.NewClient(&redis.Options{Addr: redisAddr})
	admin.Del(ctx, fmt.Sprintf("reportd:test:lease:%d", db))
	admin.Close()
}

func (in *install) environ() []string {
	out := os.Environ()
	for k, v := range in.vars {
		out = append(out, k+"="+v)
	}
	return out
}

// start runs a binary until close, and waits for its /healthz.
func (in *install) start(ctx context.Context, bin, healthURL string, env ...string) error {
	name := filepath.Base(bin)
	logf, err := os.Create(filepath.Join(in.logDir, in.name+"-"+name+".log"))
	if err != nil {
		return err
	}
	// close stops the process (SIGINT, then kill), not ctx.
	cmd := exec.CommandContext(context.WithoutCancel(ctx), bin)
	cmd.Env = append(in.environ(), env...)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		logf.Close()
		return fmt.Errorf("start %s: %w", bin, err)
	}
	in.procs = append(in.procs, cmd)
	in.cleanup = append(in.cleanup, func() { logf.Close() })
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, healthURL, nil)
	if err != nil {
		return fmt.Errorf("build health check %s: %w", healthURL, err)
	}
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		if resp, err := http.DefaultClient.Do(req); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
	return fmt.Errorf("%s did not answer %s within 60s (log: %s)", name, healthURL, logf.Name())
}

// pprofAPI and pprofWorker, when set, are the PPROF_ADDR of the next api and
// worker started (-pprof-api, -pprof-worker: profiling a stage).
var pprofAPI, pprofWorker string

func (in *install) startAPI(ctx context.Context, bin string) error {
	return in.start(ctx, bin, in.apiURL+"/healthz", "PPROF_ADDR="+pprofAPI)
}

func (in *install) startWorker(ctx context.Context, bin string) error {
	return in.start(ctx, bin, "http://"+in.vars["WORKER_METRICS_ADDR"]+"/healthz", "PPROF_ADDR="+pprofWorker)
}

// close stops the processes and removes what the install created.
func (in *install) close() {
	in.stop()
	if in.pool != nil {
		in.pool.Close()
	}
	for _, f := range slices.Backward(in.cleanup) {
		f()
	}
	in.cleanup, in.pool = nil, nil // closing twice is harmless
}

// stop ends the api and worker processes (SIGINT, then kill), so that a
// ceiling measured afterwards has the machine to itself.
func (in *install) stop() {
	for _, cmd := range in.procs {
		_ = cmd.Process.Signal(os.Interrupt)
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(15 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
	}
	in.procs = nil
}
