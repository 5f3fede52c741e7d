package config

import (
	"cmp"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/reportd/reportd/internal/keyring"
	"github.com/reportd/reportd/internal/webhook"
)

// Config holds every setting. Defaults match the local dev services that
// scripts/dev-services.sh starts.
type Config struct {
	DatabaseURL     string // DATABASE_URL: the primary, for writes
	ReadDatabaseURL string // READ_DATABASE_URL: read-model queries; defaults to DATABASE_URL
	RedisURL        string // REDIS_URL: redis://host:port/db, or redis-sentinel://…
	S3Endpoint      string // S3_ENDPOINT
	S3PublicURL     string // S3_PUBLIC_ENDPOINT: what clients reach; defaults to S3_ENDPOINT
	S3Bucket        string // S3_BUCKET
	S3Region        string // S3_REGION
	S3AccessKey     string // AWS_ACCESS_KEY_ID
	S3SecretKey     string // AWS_SECRET_ACCESS_KEY

	APIAddr           string // API_ADDR
	WorkerMetricsAddr string // WORKER_METRICS_ADDR
	OperatorToken     string // OPERATOR_TOKEN: guards /monitoring/; empty disables it
	PprofAddr         string // PPROF_ADDR: serves net/http/pprof there when set (keep it on loopback)
	MonitoringWrite   bool   // MONITORING_READ_WRITE: let asynqmon change tasks

	WebhookSchedule     webhook.Schedule // WEBHOOK_RETRY_SCHEDULE
	WebhookTimeout      time.Duration    // WEBHOOK_TIMEOUT
	WebhookAllowPrivate bool             // WEBHOOK_ALLOW_PRIVATE_NETWORKS
	// WebhookKeyring seals webhook signing keys at rest. WEBHOOK_KEY_ENCRYPTION_KEY
	// (32 bytes, base64) seals and opens; WEBHOOK_KEY_ENCRYPTION_KEYS (comma-separated,
	// the keys it replaced) only open. nil when unset: no ed25519 signing.
	WebhookKeyring *keyring.Keyring

	ReportRetention    time.Duration // REPORT_RETENTION: objects are deleted after this
	ReportMaxRange     time.Duration // REPORT_MAX_RANGE: the longest from..to period
	ReportMaxAttempts  int           // REPORT_MAX_ATTEMPTS: transient render failures before failed
	ReadYourWritesMax  time.Duration // READ_YOUR_WRITES_TIMEOUT: how long a report waits for min_position
	PresignTTL         time.Duration // PRESIGN_TTL: lifetime of download URLs
	MaxInFlight        int           // MAX_IN_FLIGHT: unfinished reports per client unless the client has its own limit; 0 = none
	WorkerConcurrency  int           // WORKER_CONCURRENCY: reports built at once per worker
	WebhookConcurrency int           // WEBHOOK_CONCURRENCY: deliveries in flight at once per worker
	ShutdownTimeout    time.Duration // SHUTDOWN_TIMEOUT
	SweepInterval      time.Duration // SWEEP_INTERVAL
	LogLevel           slog.Level    // LOG_LEVEL

	// DEPENDENCY_OUTAGE_MAX: how long a report waits out an outage of S3,
	// Redis or Postgres, retrying at most 30 s apart, before it may fail.
	// Outages never count against REPORT_MAX_ATTEMPTS.
	DependencyOutageMax time.Duration
	// Report schedules.
	ScheduleMinInterval  time.Duration // SCHEDULE_MIN_INTERVAL: the shortest "@every" a schedule may use
	ScheduleMaxPerClient int           // SCHEDULE_MAX_PER_CLIENT: schedules per client; 0 = no limit
}

// Load reads the environment through getenv and validates every value. An
// error names each bad variable.
func Load(getenv func(string) string) (Config, error) {
	p := parser{getenv: getenv}
	c := Config{
		DatabaseURL:       p.str("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/reportd?sslmode=disable"),
		RedisURL:          p.str("REDIS_URL", "redis://127.0.0.1:6379/0"),
		S3Endpoint:        p.str("S3_ENDPOINT", "http://127.0.0.1:7070"),
		S3Bucket:          p.str("S3_BUCKET", "reportd"),
		S3Region:          p.str("S3_REGION", "us-east-1"),
		S3AccessKey:       p.str("AWS_ACCESS_KEY_ID", "reportd"),
		S3SecretKey:       p.str("AWS_SECRET_ACCESS_KEY", "reportd-secret-key"),
		APIAddr:           p.str("API_ADDR", "127.0.0.1:8080"),
		WorkerMetricsAddr: p.str("WORKER_METRICS_ADDR", "127.0.0.1:9091"),
		OperatorToken:     p.str("OPERATOR_TOKEN", ""),
		PprofAddr:         p.str("PPROF_ADDR", ""),
		MonitoringWrite:   p.boolean("MONITORING_READ_WRITE", false),

		WebhookTimeout:      p.duration("WEBHOOK_TIMEOUT", 15*time.Second),
		WebhookAllowPrivate: p.boolean("WEBHOOK_ALLOW_PRIVATE_NETWORKS", false),

		ReportRetention:    p.duration("REPORT_RETENTION", 30*24*time.Hour),
		ReportMaxRange:     p.duration("REPORT_MAX_RANGE", 366*24*time.Hour*3),
		ReportMaxAttempts:  p.integer("REPORT_MAX_ATTEMPTS", 8),
		ReadYourWritesMax:  p.duration("READ_YOUR_WRITES_TIMEOUT", 2*time.Minute),
		PresignTTL:         p.duration("PRESIGN_TTL", 15*time.Minute),
		MaxInFlight:        p.integer("MAX_IN_FLIGHT", 100),
		WorkerConcurrency:  p.integer("WORKER_CONCURRENCY", 10),
		WebhookConcurrency: p.integer("WEBHOOK_CONCURRENCY", 50),
		ShutdownTimeout:    p.duration("SHUTDOWN_TIMEOUT", 30*time.Second),
		SweepInterval:      p.duration("SWEEP_INTERVAL", 30*time.Second),
		LogLevel:           p.level("LOG_LEVEL", slog.LevelInfo),

		DependencyOutageMax:  p.duration("DEPENDENCY_OUTAGE_MAX", time.Hour),
		ScheduleMinInterval:  p.duration("SCHEDULE_MIN_INTERVAL", time.Minute),
		ScheduleMaxPerClient: p.integer("SCHEDULE_MAX_PER_CLIENT", 100),
	}
	c.ReadDatabaseURL = cmp.Or(getenv("READ_DATABASE_URL"), c.DatabaseURL)
	c.S3PublicURL = cmp.Or(getenv("S3_PUBLIC_ENDPOINT"), c.S3Endpoint)

	c.WebhookSchedule = webhook.DefaultSchedule()
	if s := getenv("WEBHOOK_RETRY_SCHEDULE"); s != "" {
		sched, err := webhook.ParseSchedule(s)
		if err != nil {
			p.fail("WEBHOOK_RETRY_SCHEDULE", err.Error())
		}
		c.WebhookSchedule = sched
	}

	// Webhook signing-key encryption (see internal/keyring).
	var oldKEKs []string
	for k := range strings.SplitSeq(getenv("WEBHOOK_KEY_ENCRYPTION_KEYS"), ",") {
		if k = strings.TrimSpace(k); k != "" {
			oldKEKs = append(oldKEKs, k)
		}
	}
	if kr, err := keyring.Parse(getenv("WEBHOOK_KEY_ENCRYPTION_KEY"), oldKEKs); err != nil {
		p.fail("WEBHOOK_KEY_ENCRYPTION_KEY(S)", err.Error())
	} else {
		c.WebhookKeyring = kr
	}

	for name, v := range map[string]string{"DATABASE_URL": c.DatabaseURL, "READ_DATABASE_URL": c.ReadDatabaseURL, "REDIS_URL": c.RedisURL} {
		if _, err := url.Parse(v); err != nil || !strings.Contains(v, "://") {
			p.fail(name, "must be a URL")
		}
	}
	for name, v := range map[string]string{"S3_ENDPOINT": c.S3Endpoint, "S3_PUBLIC_ENDPOINT": c.S3PublicURL} {
		if u, err := url.Parse(v); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			p.fail(name, "must be an http(s) URL")
		}
	}
	if c.MaxInFlight < 0 {
		p.fail("MAX_IN_FLIGHT", "must be 0 (no limit) or more")
	}
	for name, v := range map[string]int{"REPORT_MAX_ATTEMPTS": c.ReportMaxAttempts, "WORKER_CONCURRENCY": c.WorkerConcurrency,
		"WEBHOOK_CONCURRENCY": c.WebhookConcurrency} {
		if v < 1 {
			p.fail(name, "must be at least 1")
		}
	}
	for name, v := range map[string]time.Duration{"WEBHOOK_TIMEOUT": c.WebhookTimeout, "REPORT_RETENTION": c.ReportRetention,
		"PRESIGN_TTL": c.PresignTTL, "SHUTDOWN_TIMEOUT": c.ShutdownTimeout, "SWEEP_INTERVAL": c.SweepInterval,
		"REPORT_MAX_RANGE": c.ReportMaxRange, "READ_YOUR_WRITES_TIMEOUT": c.ReadYourWritesMax,
		"DEPENDENCY_OUTAGE_MAX": c.DependencyOutageMax} {
		if v <= 0 {
			p.fail(name, "must be positive")
		}
	}
	if c.ScheduleMinInterval < time.Second {
		p.fail("SCHEDULE_MIN_INTERVAL", "must be at least 1s")
	}
	if c.ScheduleMaxPerClient < 0 {
		p.fail("SCHEDULE_MAX_PER_CLIENT", "must be 0 (no limit) or more")
	}
	if c.PresignTTL > 7*24*time.Hour {
		p.fail("PRESIGN_TTL", "must be at most 168h (the S3 limit)")
	}
	return c, errors.Join(p.errs...)
}

// LogValue masks secrets so the config can be logged at start-up.
func (c Config) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("database_url", maskURL(c.DatabaseURL)),
		slog.String("read_database_url", maskURL(c.ReadDatabaseURL)),
		slog.String("redis_url", maskURL(c.RedisURL)),
		slog.String("s3_endpoint", c.S3Endpoint),
		slog.String("s3_public_endpoint", c.S3PublicURL),
		slog.String("s3_bucket", c.S3Bucket),
		slog.String("s3_region", c.S3Region),
		slog.String("aws_access_key_id", c.S3AccessKey),
		slog.Bool("aws_secret_access_key_set", c.S3SecretKey != ""),
		slog.String("api_addr", c.APIAddr),
		slog.String("worker_metrics_addr", c.WorkerMetricsAddr),
		slog.Bool("operator_token_set", c.OperatorToken != ""),
		slog.String("pprof_addr", c.PprofAddr),
		slog.Bool("monitoring_read_write", c.MonitoringWrite),
		slog.Any("webhook_retry_schedule", c.WebhookSchedule),
		slog.Duration("webhook_timeout", c.WebhookTimeout),
		slog.Bool("webhook_allow_private_networks", c.WebhookAllowPrivate),
		// Only the key's id (a hash), never the key.
		slog.String("webhook_key_encryption_key_id", c.WebhookKeyring.CurrentID()),
		slog.Int("webhook_key_encryption_old_keys", c.WebhookKeyring.OldKeys()),
		slog.Duration("report_retention", c.ReportRetention),
		slog.Duration("report_max_range", c.ReportMaxRange),
		slog.Int("report_max_attempts", c.ReportMaxAttempts),
		slog.Duration("presign_ttl", c.PresignTTL),
		slog.Int("max_in_flight", c.MaxInFlight),
		slog.Int("worker_concurrency", c.WorkerConcurrency),
		slog.Int("webhook_concurrency", c.WebhookConcurrency),
		slog.Duration("shutdown_timeout", c.ShutdownTimeout),
		slog.String("log_level", c.LogLevel.String()),
		slog.Duration("dependency_outage_max", c.DependencyOutageMax),
		slog.Duration("schedule_min_interval", c.ScheduleMinInterval),
		slog.Int("schedule_max_per_client", c.ScheduleMaxPerClient),
	)
}

func maskURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparseable)"
	}
	return u.Redacted()
}

// parser collects every bad value instead of stopping at the first.
type parser struct {
	getenv func(string) string
	errs   []error
}

func (p *parser) fail(name, msg string) {
	p.errs = append(p.errs, fmt.Errorf("config %s: %s", name, msg))
}

func (p *parser) str(name, def string) string { return cmp.Or(p.getenv(name), def) }

func (p *parser) duration(name string, def time.Duration) time.Duration {
	v := p.getenv(name)
	if v == "" {
		return def
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		p.fail(name, fmt.Sprintf("%q is not a duration such as 30s or 15m", v))
		return def
	}
	return d
}

func (p *parser) integer(name string, def int) int {
	v := p.getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		p.fail(name, fmt.Sprintf("%q is not a whole number", v))
		return def
	}
	return n
}

func (p *parser) boolean(name string, def bool) bool {
	v := p.getenv(name)
	if v == "" {
		return def
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		p.fail(name, fmt.Sprintf("%q is not true or false", v))
		return def
	}
	return b
}

func (p *parser) level(name string, def slog.Level) slog.Level {
	v := p.getenv(name)
	if v == "" {
		return def
	}
	var l slog.Level
	if err := l.UnmarshalText([]byte(v)); err != nil {
		p.fail(name, fmt.Sprintf("%q is not debug, info, warn or error", v))
		return def
	}
	return l
}
