package config

import (
	"strings"
	"testing"
	"time"
)

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestDefaultsMatchLocalServices(t *testing.T) {
	c, err := Load(env(nil))
	if err != nil {
		t.Fatalf("Load with no environment: %v", err)
	}
	if c.ReadDatabaseURL != c.DatabaseURL || c.S3PublicURL != c.S3Endpoint {
		t.Errorf("READ_DATABASE_URL and S3_PUBLIC_ENDPOINT must default to their primaries: %+v", c)
	}
	if c.WebhookTimeout != 15*time.Second || c.ReportRetention != 30*24*time.Hour || c.WebhookAllowPrivate {
		t.Errorf("unexpected defaults: %+v", c)
	}
	if n := c.WebhookSchedule.MaxRetry(); n != 9 {
		t.Errorf("default schedule %s has %d retries, want 9 (10 attempts)", c.WebhookSchedule, n)
	}
}

func TestEveryBadValueIsNamed(t *testing.T) {
	_, err := Load(env(map[string]string{
		"WEBHOOK_TIMEOUT":                "soon",
		"MAX_IN_FLIGHT":                  "-1",
		"WORKER_CONCURRENCY":             "zero",
		"WEBHOOK_ALLOW_PRIVATE_NETWORKS": "maybe",
		"WEBHOOK_RETRY_SCHEDULE":         "1s,fast",
		"S3_ENDPOINT":                    "127.0.0.1:7070",
		"LOG_LEVEL":                      "chatty",
		"PRESIGN_TTL":                    "200h",
	}))
	if err == nil {
		t.Fatal("Load accepted bad values")
	}
	for _, name := range []string{"WEBHOOK_TIMEOUT", "MAX_IN_FLIGHT", "WORKER_CONCURRENCY", "WEBHOOK_ALLOW_PRIVATE_NETWORKS",
		"WEBHOOK_RETRY_SCHEDULE", "S3_ENDPOINT", "LOG_LEVEL", "PRESIGN_TTL"} {
		if !strings.Contains(err.Error(), name) {
			t.Errorf("the error does not name %s:\n%v", name, err)
		}
	}
}

func TestLogValueMasksSecrets(t *testing.T) {
	c, err := Load(env(map[string]string{
		"DATABASE_URL":          "postgres://app:pg-secret@db:5432/reportd",
		"REDIS_URL":             "redis://:redis-secret@cache:6379/0",
		"AWS_SECRET_ACCESS_KEY": "s3-secret",
		"OPERATOR_TOKEN":        "op-secret",
	}))
	if err != nil {
		t.Fatal(err)
	}
	logged := c.LogValue().String()
	for _, secret := range []string{"pg-secret", "redis-secret", "s3-secret", "op-secret"} {
		if strings.Contains(logged, secret) {
			t.Errorf("the logged config shows %q: %s", secret, logged)
		}
	}
}

func TestDependencyOutageMax(t *testing.T) {
	c, err := Load(env(nil))
	if err != nil {
		t.Fatal(err)
	}
	if c.DependencyOutageMax != time.Hour {
		t.Errorf("DEPENDENCY_OUTAGE_MAX defaults to %s, want 1h", c.DependencyOutageMax)
	}
	if c.SweepInterval > time.Minute {
		t.Errorf("SWEEP_INTERVAL defaults to %s; DESIGN.md promises at most 1 min", c.SweepInterval)
	}
	c, err = Load(env(map[string]string{"DEPENDENCY_OUTAGE_MAX": "90s"}))
	if err != nil || c.DependencyOutageMax != 90*time.Second {
		t.Errorf("DEPENDENCY_OUTAGE_MAX=90s: %s, %v", c.DependencyOutageMax, err)
	}
	for _, bad := range []string{"0s", "-1m", "forever"} {
		if _, err := Load(env(map[string]string{"DEPENDENCY_OUTAGE_MAX": bad})); err == nil || !strings.Contains(err.Error(), "DEPENDENCY_OUTAGE_MAX") {
			t.Errorf("DEPENDENCY_OUTAGE_MAX=%s: %v, want an error naming it", bad, err)
		}
	}
}

func TestEventsNATSIsOffByDefaultAndChecked(t *testing.T) {
	c, err := Load(env(nil))
	if err != nil || c.EventsNATS.Enabled() || c.EventsNATS.Subject != "orders.events.>" || c.EventsNATS.DLQSubject != "orders.dlq" {
		t.Fatalf("defaults: %+v, %v", c.EventsNATS, err)
	}
	_, err = Load(env(map[string]string{
		"EVENTS_NATS_URL":         "http://127.0.0.1:4222",
		"EVENTS_NATS_SUBJECT":     "orders.>.x",
		"EVENTS_NATS_DLQ_SUBJECT": "orders.*",
		"EVENTS_NATS_CONSUMER":    "a.b",
		"EVENTS_NATS_NAK_DELAY":   "0s",
	}))
	for _, name := range []string{"EVENTS_NATS_URL", "EVENTS_NATS_SUBJECT", "EVENTS_NATS_DLQ_SUBJECT", "EVENTS_NATS_CONSUMER", "EVENTS_NATS_NAK_DELAY"} {
		if err == nil || !strings.Contains(err.Error(), name) {
			t.Errorf("error %v does not name %s", err, name)
		}
	}
	// The DLQ must not be consumed again.
	_, err = Load(env(map[string]string{"EVENTS_NATS_SUBJECT": "orders.>", "EVENTS_NATS_DLQ_SUBJECT": "orders.events.dlq"}))
	if err == nil || !strings.Contains(err.Error(), "EVENTS_NATS_DLQ_SUBJECT") {
		t.Errorf("a DLQ inside the consumed subject was accepted: %v", err)
	}
}

func TestSubjectMatches(t *testing.T) {
	for _, tc := range []struct {
		filter, subject string
		want            bool
	}{
		{"orders.events.>", "orders.events.dlq", true},
		{"orders.events.>", "orders.events", false},
		{"orders.events.>", "orders.dlq", false},
		{"orders.*.x", "orders.a.x", true},
		{"orders.*.x", "orders.a.y", false},
		{"orders.*", "orders.a.b", false},
		{"orders.events", "orders.events", true},
		{">", "a", true},
	} {
		if got := SubjectMatches(tc.filter, tc.subject); got != tc.want {
			t.Errorf("SubjectMatches(%q, %q) = %v, want %v", tc.filter, tc.subject, got, tc.want)
		}
	}
}

func TestRedisQueueShardsAndClusterURL(t *testing.T) {
	c, err := Load(env(map[string]string{
		"REDIS_URL":          "redis-cluster://:cluster-secret@h1:7000,h2:7001,h3:7002",
		"REDIS_QUEUE_SHARDS": "6",
	}))
	if err != nil {
		t.Fatal(err)
	}
	if c.RedisQueueShards != 6 {
		t.Errorf("REDIS_QUEUE_SHARDS = %d, want 6", c.RedisQueueShards)
	}
	if logged := c.LogValue().String(); strings.Contains(logged, "cluster-secret") {
		t.Errorf("the logged config shows the cluster password: %s", logged)
	}
	if d, _ := Load(env(nil)); d.RedisQueueShards != 1 {
		t.Errorf("REDIS_QUEUE_SHARDS defaults to %d, want 1", d.RedisQueueShards)
	}
	for _, bad := range []string{"0", "65", "x"} {
		if _, err := Load(env(map[string]string{"REDIS_QUEUE_SHARDS": bad})); err == nil || !strings.Contains(err.Error(), "REDIS_QUEUE_SHARDS") {
			t.Errorf("REDIS_QUEUE_SHARDS=%s: %v, want an error naming it", bad, err)
		}
	}
}
