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
	RedisURL        string // REDIS_URL: redis://host:port/db, redis-sentinel://… or redis-cluster://…
	S3Endpoint      string // S3_ENDPOINT
	S3PublicURL     string // S3_PUBLIC_ENDPOINT: what clients reach; defaults to S3_ENDPOINT
	S3Bucket        string // S3_BUCKET
	S3Region        string // S3_REGION
	S3AccessKey     string // AWS_ACCESS_KEY_ID
	S3SecretKey     string // AWS_SECRET_ACCESS_KEY

	// RedisQueueShards (REDIS_QUEUE_SHARDS, default 1) spreads each task
	// queue over that many asynq queues, so a Redis Cluster puts them on
	// several masters (see jobs.Shards).
	RedisQueueShards int

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
	// Webhook endpoint health and fairness.
	WebhookBreakerFailures     int           // WEBHOOK_BREAKER_FAILURES: consecutive failures that pause an endpoint (default 10)
	WebhookDisableAfter        time.Duration // WEBHOOK_DISABLE_AFTER: continuous failure that disables it (default 120h, 5 days)
	WebhookEndpointConcurrency int           // WEBHOOK_ENDPOINT_CONCURRENCY: attempts in flight per endpoint, across workers (default 10)

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
	EventsNATS           EventsNATS    // EVENTS_NATS_*: order events from NATS JetStream

	// Projections split across worker processes (readmodel.ProjectorOptions).
	ProjectionPartitions int           // PROJECTION_PARTITIONS: partitions per projection, fixed once created (default 8)
	ProjectionLease      time.Duration // PROJECTION_LEASE: partition lease; a dead worker's partitions move within it (default 10s)

	// WorkerHeartbeatTimeout (WORKER_HEARTBEAT_TIMEOUT): a worker whose
	// heartbeat (renewed every second) is older has its running reports
	// queued again (jobs.Rescuer). Default 5s.
	WorkerHeartbeatTimeout time.Duration
}

// EventsNATS configures order-event ingestion from NATS JetStream. It is off
// unless EVENTS_NATS_URL is set.
type EventsNATS struct {
	URL        string        // EVENTS_NATS_URL: nats://[user:password@]host:4222; empty = off
	Subject    string        // EVENTS_NATS_SUBJECT: the subject filter consumed, default orders.events.>
	Stream     string        // EVENTS_NATS_STREAM: created (capturing Subject) if missing, default ORDER_EVENTS
	Consumer   string        // EVENTS_NATS_CONSUMER: the durable consumer's name, default reportd
	DLQSubject string        // EVENTS_NATS_DLQ_SUBJECT: where messages that can never be valid go, default orders.dlq (outside the default Subject)
	DLQStream  string        // EVENTS_NATS_DLQ_STREAM: created (capturing DLQSubject) if no stream does, default ORDER_EVENTS_DLQ
	Creds      string        // EVENTS_NATS_CREDS: a .creds file (JWT + nkey seed)
	NKey       string        // EVENTS_NATS_NKEY: an nkey seed file
	NakDelay   time.Duration // EVENTS_NATS_NAK_DELAY: redelivery delay after a transient failure, default 5s
	AckWait    time.Duration // EVENTS_NATS_ACK_WAIT: an unacked message (a dead worker's) is redelivered after this, default 30s
}

// Enabled reports whether NATS ingestion is configured.
func (n EventsNATS) Enabled() bool { return n.URL != "" }

// Load reads the environment through getenv and validates every value. An
// error names each bad variable.
func Load(getenv func(string) string) (Config, error) {
	p := parser{getenv: getenv}
	c := Config{
		DatabaseURL:       p.str("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/reportd?sslmode=disable"),
		RedisURL:          p.str("REDIS_URL", "redis://127.0.0.1:6379/0"),
		RedisQueueShards:  p.integer("REDIS_QUEUE_SHARDS", 1),
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

		WebhookBreakerFailures:     p.integer("WEBHOOK_BREAKER_FAILURES", 10),
		WebhookDisableAfter:        p.duration("WEBHOOK_DISABLE_AFTER", 5*24*time.Hour),
		WebhookEndpointConcurrency: p.integer("WEBHOOK_ENDPOINT_CONCURRENCY", 10),

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

		ProjectionPartitions: p.integer("PROJECTION_PARTITIONS", 8),
		ProjectionLease:      p.duration("PROJECTION_LEASE", 10*time.Second),

		WorkerHeartbeatTimeout: p.duration("WORKER_HEARTBEAT_TIMEOUT", 5*time.Second),
	}
	c.EventsNATS = loadEventsNATS(&p)
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
	// Every worker polls every shard, so far more than a cluster's masters only costs.
	if c.RedisQueueShards < 1 || c.RedisQueueShards > 64 {
		p.fail("REDIS_QUEUE_SHARDS", "must be 1 to 64")
	}
	if c.MaxInFlight < 0 {
		p.fail("MAX_IN_FLIGHT", "must be 0 (no limit) or more")
	}
	for name, v := range map[string]int{"REPORT_MAX_ATTEMPTS": c.ReportMaxAttempts, "WORKER_CONCURRENCY": c.WorkerConcurrency,
		"WEBHOOK_CONCURRENCY": c.WebhookConcurrency, "WEBHOOK_BREAKER_FAILURES": c.WebhookBreakerFailures,
		"WEBHOOK_ENDPOINT_CONCURRENCY": c.WebhookEndpointConcurrency} {
		if v < 1 {
			p.fail(name, "must be at least 1")
		}
	}
	for name, v := range map[string]time.Duration{"WEBHOOK_TIMEOUT": c.WebhookTimeout, "REPORT_RETENTION": c.ReportRetention,
		"PRESIGN_TTL": c.PresignTTL, "SHUTDOWN_TIMEOUT": c.ShutdownTimeout, "SWEEP_INTERVAL": c.SweepInterval,
		"REPORT_MAX_RANGE": c.ReportMaxRange, "READ_YOUR_WRITES_TIMEOUT": c.ReadYourWritesMax,
		"DEPENDENCY_OUTAGE_MAX": c.DependencyOutageMax, "WEBHOOK_DISABLE_AFTER": c.WebhookDisableAfter} {
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
	// More partitions than workers lets workers be added; each costs one
	// checkpoint write per pass and one filtered read of the log's tail.
	if c.ProjectionPartitions < 1 || c.ProjectionPartitions > 256 {
		p.fail("PROJECTION_PARTITIONS", "must be 1 to 256")
	}
	if c.ProjectionLease < time.Second {
		p.fail("PROJECTION_LEASE", "must be at least 1s")
	}
	// Heartbeats are renewed every second: a shorter timeout would rescue
	// the runs of workers that are merely a beat late.
	if c.WorkerHeartbeatTimeout < 3*time.Second {
		p.fail("WORKER_HEARTBEAT_TIMEOUT", "must be at least 3s")
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
		slog.Int("redis_queue_shards", c.RedisQueueShards),
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
		slog.Int("webhook_breaker_failures", c.WebhookBreakerFailures),
		slog.Duration("webhook_disable_after", c.WebhookDisableAfter),
		slog.Int("webhook_endpoint_concurrency", c.WebhookEndpointConcurrency),
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
		slog.Int("projection_partitions", c.ProjectionPartitions),
		slog.Duration("projection_lease", c.ProjectionLease),
		slog.Group("events_nats",
			slog.String("url", maskURL(c.EventsNATS.URL)),
			slog.String("subject", c.EventsNATS.Subject),
			slog.String("stream", c.EventsNATS.Stream),
			slog.String("consumer", c.EventsNATS.Consumer),
			slog.String("dlq_subject", c.EventsNATS.DLQSubject),
			slog.String("dlq_stream", c.EventsNATS.DLQStream),
			slog.String("creds", c.EventsNATS.Creds),
			slog.String("nkey", c.EventsNATS.NKey),
			slog.Duration("nak_delay", c.EventsNATS.NakDelay),
			slog.Duration("ack_wait", c.EventsNATS.AckWait)),
	)
}

// loadEventsNATS reads the EVENTS_NATS_* block. Names and subjects are
// checked here, so a typo fails at start-up and not on the first message.
func loadEventsNATS(p *parser) EventsNATS {
	n := EventsNATS{
		URL:        p.str("EVENTS_NATS_URL", ""),
		Subject:    p.str("EVENTS_NATS_SUBJECT", "orders.events.>"),
		Stream:     p.str("EVENTS_NATS_STREAM", "ORDER_EVENTS"),
		Consumer:   p.str("EVENTS_NATS_CONSUMER", "reportd"),
		DLQSubject: p.str("EVENTS_NATS_DLQ_SUBJECT", "orders.dlq"),
		DLQStream:  p.str("EVENTS_NATS_DLQ_STREAM", "ORDER_EVENTS_DLQ"),
		Creds:      p.str("EVENTS_NATS_CREDS", ""),
		NKey:       p.str("EVENTS_NATS_NKEY", ""),
		NakDelay:   p.duration("EVENTS_NATS_NAK_DELAY", 5*time.Second),
		AckWait:    p.duration("EVENTS_NATS_ACK_WAIT", 30*time.Second),
	}
	if n.URL != "" {
		if u, err := url.Parse(n.URL); err != nil || (u.Scheme != "nats" && u.Scheme != "tls") || u.Host == "" {
			p.fail("EVENTS_NATS_URL", "must be a nats:// or tls:// URL")
		}
	}
	if !validSubject(n.Subject, true) {
		p.fail("EVENTS_NATS_SUBJECT", fmt.Sprintf("%q is not a NATS subject (dot-separated tokens; * and a final > allowed)", n.Subject))
	}
	switch {
	case !validSubject(n.DLQSubject, false):
		p.fail("EVENTS_NATS_DLQ_SUBJECT", fmt.Sprintf("%q is not a NATS subject without wildcards", n.DLQSubject))
	case SubjectMatches(n.Subject, n.DLQSubject):
		// Dead letters on the consumed subject would be consumed again.
		p.fail("EVENTS_NATS_DLQ_SUBJECT", fmt.Sprintf("%q is inside EVENTS_NATS_SUBJECT %q; it must be outside it", n.DLQSubject, n.Subject))
	}
	for name, v := range map[string]string{"EVENTS_NATS_STREAM": n.Stream, "EVENTS_NATS_CONSUMER": n.Consumer, "EVENTS_NATS_DLQ_STREAM": n.DLQStream} {
		// JetStream names become subject tokens and file names.
		if v == "" || len(v) > 64 || strings.ContainsAny(v, ". *>/\\\t\r\n") {
			p.fail(name, fmt.Sprintf("%q must be 1 to 64 characters without . * > / \\ or white space", v))
		}
	}
	if n.Creds != "" && n.NKey != "" {
		p.fail("EVENTS_NATS_NKEY", "set EVENTS_NATS_CREDS or EVENTS_NATS_NKEY, not both")
	}
	if n.NakDelay <= 0 {
		p.fail("EVENTS_NATS_NAK_DELAY", "must be positive")
	}
	if n.AckWait < time.Second {
		p.fail("EVENTS_NATS_ACK_WAIT", "must be at least 1s")
	}
	return n
}

// validSubject checks a NATS subject: non-empty dot-separated tokens without
// white space; with wildcards, a token may be * and the last may be >.
func validSubject(s string, wildcards bool) bool {
	if s == "" || strings.ContainsAny(s, " \t\r\n") {
		return false
	}
	tokens := strings.Split(s, ".")
	for i, t := range tokens {
		switch {
		case t == "":
			return false
		case t == "*" || (t == ">" && i == len(tokens)-1):
			if !wildcards {
				return false
			}
		case strings.ContainsAny(t, "*>"):
			return false
		}
	}
	return true
}

// SubjectMatches reports whether the literal subject falls under filter,
// with NATS wildcards: * is one token, a final > is one or more.
func SubjectMatches(filter, subject string) bool {
	f, s := strings.Split(filter, "."), strings.Split(subject, ".")
	for i, t := range f {
		switch {
		case t == ">":
			return len(s) > i
		case i >= len(s):
			return false
		case t != "*" && t != s[i]:
			return false
		}
	}
	return len(f) == len(s)
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
