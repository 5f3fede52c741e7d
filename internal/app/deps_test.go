package app

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"testing"
	"time"
)

func TestNewLoggerWritesDurationsAsStrings(t *testing.T) {
	var buf bytes.Buffer
	NewLogger(&buf, slog.LevelInfo).Info("started", "duration", 1500*time.Millisecond,
		slog.Group("config", slog.Duration("sweep_interval", time.Minute)))
	var line struct {
		Duration string `json:"duration"`
		Config   struct {
			SweepInterval string `json:"sweep_interval"`
		} `json:"config"`
	}
	if err := json.Unmarshal(buf.Bytes(), &line); err != nil {
		t.Fatalf("decode %s: %v", buf.Bytes(), err)
	}
	if line.Duration != "1.5s" || line.Config.SweepInterval != "1m0s" {
		t.Fatalf("durations logged as %q and %q, want 1.5s and 1m0s: %s", line.Duration, line.Config.SweepInterval, buf.Bytes())
	}
}
