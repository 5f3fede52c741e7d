package testenv

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"

	"github.com/reportd/reportd"
	"github.com/reportd/reportd/internal/apikey"
	"github.com/reportd/reportd/internal/app"
	"github.com/reportd/reportd/internal/config"
	"github.com/reportd/reportd/internal/ids"
	"github.com/reportd/reportd/internal/pgtest"
	"github.com/reportd/reportd/internal/postgres"
	"github.com/reportd/reportd/internal/webhook"
)

// RedisAddr is the Redis server tests lease databases on: TEST_REDIS_ADDR,
// or the shared local one. A suite that runs many stacks at once (chaos)
// points it at a private server with more databases.
func RedisAddr() string {
	if a := os.Getenv("TEST_REDIS_ADDR"); a != "" {
		return a
	}
	return "127.0.0.1:6379"
}

// DevKeyEncryptionKey is the WEBHOOK_KEY_ENCRYPTION_KEY of tests and
// scripts/run-dev.sh: published, so for nothing but development.
const DevKeyEncryptionKey = "cmVwb3J0ZCBkZXYvdGVzdCBrZXk6IG5vdCBzZWNyZXQ="

// RedisURL leases a Redis database number (1 up to the server's
// `databases` less one) for the test, flushed before and after. Leases live
// in db 0, so test packages running in parallel never share a queue.
func RedisURL(tb testing.TB) string {
	tb.Helper()
	ctx := context.Background()
	redisAddr := RedisAddr()
	admin := redis.NewClient(&redis.Options{Addr: redisAddr})
	defer admin.Close()
	if err := admin.Ping(ctx).Err(); err != nil {
		tb.Fatalf("testenv: redis at %s: %v\nstart the local services with: scripts/dev-services.sh up", redisAddr, err)
	}
	dbs := redisDatabases(ctx, admin)
	deadline := time.Now().Add(2 * time.Minute)
	for {
		for db := 1; db < dbs; db++ {
			lease := fmt.Sprintf("reportd:test:lease:%d", db)
			ok, err := admin.SetNX(ctx, lease, tb.Name(), 10*time.Minute).Result()
			if err != nil {
				tb.Fatalf("testenv: lease redis db: %v", err)
			}
			if !ok {
				continue
			}
			flush := func() {
				c := redis.NewClient(&redis.Options{Addr: redisAddr, DB: db})
				defer c.Close()
				_ = c.FlushDB(context.Background()).Err()
			}
			flush()
			tb.Cleanup(func() {
				flush()
				c := redis.NewClient(&redis.Options{Addr: redisAddr})
				defer c.Close()
				c.Del(context.Background(), lease)
			})
			return fmt.Sprintf("redis://%s/%d", redisAddr, db)
		}
		if time.Now().After(deadline) {
			tb.Fatal("testenv: no free redis database for two minutes")
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// redisDatabases is the server's number of databases (16 unless configured).
func redisDatabases(ctx context.Context, admin *redis.Client) int {
	v, err := admin.ConfigGet(ctx, "databases").Result()
	if err != nil {
		return 16
	}
	n, err := strconv.Atoi(v["databases"])
	if err != nil || n < 2 {
		return 16
	}
	return n
}

// Env is one isolated reportd installation.
type Env struct {
	Vars map[string]string
	Cfg  config.Config
	// APIURL is set once StartAPI has run.
	APIURL string
	// WorkerMetricsURL is set once StartWorker has run.
	WorkerMetricsURL string
	Logs             *SafeBuffer
	// Worker holds the options StartWorker passes on (its own metrics
	// listener aside): set them before starting it.
	Worker app.WorkerOptions
}

// New prepares the environment; override variables before starting anything.
func New(tb testing.TB, overrides map[string]string) *Env {
	tb.Helper()
	vars := map[string]string{
		"DATABASE_URL":                   pgtest.NewURL(tb),
		"REDIS_URL":                      RedisURL(tb),
		"S3_ENDPOINT":                    envOr("S3_ENDPOINT", "http://127.0.0.1:7070"),
		"S3_BUCKET":                      "t-" + ids.Random(8),
		"AWS_ACCESS_KEY_ID":              envOr("AWS_ACCESS_KEY_ID", "reportd"),
		"AWS_SECRET_ACCESS_KEY":          envOr("AWS_SECRET_ACCESS_KEY", "reportd-secret-key"),
		"API_ADDR":                       "127.0.0.1:0",
		"WORKER_METRICS_ADDR":            "127.0.0.1:0",
		"WEBHOOK_ALLOW_PRIVATE_NETWORKS": "true",
		"WEBHOOK_RETRY_SCHEDULE":         "1s,1s,2s",
		"WEBHOOK_TIMEOUT":                "3s",
		// Seals signing keys at rest; base64 of "reportd dev/test key: not secret".
		"WEBHOOK_KEY_ENCRYPTION_KEY": DevKeyEncryptionKey,
		"SWEEP_INTERVAL":             "1s",
		"SHUTDOWN_TIMEOUT":           "10s",
		"LOG_LEVEL":                  "debug",
	}
	maps.Copy(vars, overrides)
	e := &Env{Vars: vars, Logs: &SafeBuffer{}}
	// Whatever a test sends, the API must never answer 500 or panic.
	tb.Cleanup(func() {
		logs := e.Logs.String()
		for _, bad := range []string{`"status":500`, `"msg":"handler panicked"`, `"msg":"internal error"`} {
			if strings.Contains(logs, bad) {
				tb.Errorf("the API logged %s during this test", bad)
			}
		}
	})
	cfg, err := config.Load(e.Getenv)
	if err != nil {
		tb.Fatalf("testenv: config: %v", err)
	}
	e.Cfg = cfg
	return e
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

// Getenv reads the environment's variables.
func (e *Env) Getenv(k string) string { return e.Vars[k] }

// Environ renders the variables for a child process.
func (e *Env) Environ() []string {
	out := os.Environ()
	for k, v := range e.Vars {
		out = append(out, k+"="+v)
	}
	return out
}

func (e *Env) logger() *slog.Logger {
	var w io.Writer = e.Logs
	if os.Getenv("REPORTD_TEST_LOGS") != "" {
		w = io.MultiWriter(e.Logs, os.Stderr)
	}
	return app.NewLogger(w, slog.LevelDebug)
}

// StartAPI runs the API in this process until the test ends.
func (e *Env) StartAPI(tb testing.TB) string {
	tb.Helper()
	var lc net.ListenConfig
	ln, err := lc.Listen(context.Background(), "tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	ready := make(chan struct{})
	go func() {
		done <- app.RunAPI(ctx, e.Cfg, e.logger(), ln, app.APIOptions{OpenAPI: reportd.OpenAPI, Ready: func(string) { close(ready) }})
	}()
	select {
	case <-ready:
	case err := <-done:
		cancel()
		tb.Fatalf("testenv: api did not start: %v", err)
	case <-time.After(30 * time.Second):
		cancel()
		tb.Fatal("testenv: api did not start within 30s")
	}
	tb.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			tb.Errorf("api: %v", err)
		}
	})
	e.APIURL = "http://" + ln.Addr().String()
	return e.APIURL
}

// StartWorker runs a worker in this process until the test ends or stop is called.
func (e *Env) StartWorker(tb testing.TB) (stop func()) {
	tb.Helper()
	var lc net.ListenConfig
	ln, err := lc.Listen(context.Background(), "tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	e.WorkerMetricsURL = "http://" + ln.Addr().String() + "/metrics"
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	opts := e.Worker
	opts.MetricsListener = ln
	go func() { done <- app.RunWorker(ctx, e.Cfg, e.logger(), opts) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				tb.Errorf("worker: %v", err)
			}
		})
	}
	tb.Cleanup(stop)
	return stop
}

// DB opens a pool on the environment's database, closed when the test ends.
func (e *Env) DB(tb testing.TB) *pgxpool.Pool {
	tb.Helper()
	pool, err := postgres.Connect(context.Background(), e.Cfg.DatabaseURL)
	if err != nil {
		tb.Fatalf("testenv: %v", err)
	}
	tb.Cleanup(pool.Close)
	return pool
}

// Client is a tenant created straight in the database, as reportctl does.
type Client struct {
	ID, APIKey, Secret string
}

// CreateClient makes a tenant with the given scopes and webhook URL.
func (e *Env) CreateClient(tb testing.TB, name, webhookURL string, scopes ...string) Client {
	tb.Helper()
	if len(scopes) == 0 {
		scopes = []string{"reports", "events:write"}
	}
	ctx := context.Background()
	pool := e.DB(tb)
	key := apikey.New()
	secret, err := webhook.NewSecret()
	if err != nil {
		tb.Fatal(err)
	}
	c := Client{ID: ids.New("cli"), APIKey: key.Plain, Secret: secret}
	if err := postgres.NewStore(pool).WithKeyring(e.Cfg.WebhookKeyring).CreateClient(ctx, postgres.NewClient{
		ID: c.ID, Name: name, WebhookURL: webhookURL, KeyID: key.ID, KeyHash: key.Hash, Scopes: scopes, Secret: secret,
	}); err != nil {
		tb.Fatal(err)
	}
	return c
}

// Do sends an authenticated JSON request to the API.
func (e *Env) Do(tb testing.TB, key, method, path, body string, headers ...string) *http.Response {
	tb.Helper()
	req, err := http.NewRequestWithContext(context.Background(), method, e.APIURL+path, strings.NewReader(body))
	if err != nil {
		tb.Fatal(err)
	}
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	// Every exchange is checked against openapi.yaml.
	resp, err := NewSpecValidator(tb).Client(tb, noRedirect).Do(req)
	if err != nil {
		tb.Fatalf("%s %s: %v", method, path, err)
	}
	return resp
}

var noRedirect = &http.Client{
	Timeout:       90 * time.Second,
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
}

// SafeBuffer collects logs from several goroutines.
type SafeBuffer struct {
	mu  sync.Mutex
	buf strings.Builder
}

func (b *SafeBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *SafeBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
