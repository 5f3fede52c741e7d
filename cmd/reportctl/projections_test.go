package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/reportd/reportd/internal/orderevents"
	"github.com/reportd/reportd/internal/readmodel"
)

// projections verify exits 0 when the live projection is a fresh fold of
// the log and fails with the differing rows after a manual patch; rebuild
// repairs it and reports progress with a rate and an ETA on stderr.
func TestProjectionsVerifyAndRebuild(t *testing.T) {
	ctx := context.Background()
	url, pool, rm := newReadModelDB(t)
	at := time.Date(2026, 2, 1, 0, 0, 0, 0, time.UTC)
	var events []orderevents.Event
	for _, id := range []string{"ord_1", "ord_2", "ord_3"} {
		events = append(events, orderevents.Event{EventID: "e_" + id, OrderID: id, Sequence: 1, Type: orderevents.TypeOrderPlaced, OccurredAt: at,
			Data: json.RawMessage(`{"customer_id":"cus_1","merchant_id":"mer_1","currency":"EUR","items":[{"sku":"a","qty":1,"unit_price_cents":100}],"total_cents":100}`)})
	}
	if _, err := rm.Append(ctx, "cli_a", events); err != nil {
		t.Fatal(err)
	}
	if _, err := rm.ProjectOnce(ctx); err != nil {
		t.Fatal(err)
	}
	cmd := func(args ...string) (string, string, error) {
		t.Helper()
		var stdout, stderr bytes.Buffer
		getenv := func(k string) string {
			if k == "DATABASE_URL" {
				return url
			}
			return ""
		}
		err := run(ctx, args, getenv, &stdout, &stderr)
		return stdout.String(), stderr.String(), err
	}
	type result struct {
		Projections []struct {
			Projection string `json:"projection"`
			DriftRows  int64  `json:"drift_rows"`
			Rows       []struct {
				Table string `json:"table"`
				Side  string `json:"side"`
			} `json:"rows"`
		} `json:"projections"`
	}
	verify := func(args ...string) (map[string]int64, []string, error) {
		t.Helper()
		out, stderr, err := cmd(append([]string{"projections", "verify"}, args...)...)
		var r result
		if jerr := json.Unmarshal([]byte(out), &r); jerr != nil {
			t.Fatalf("verify printed %q (%v): %v\n%s", out, err, jerr, stderr)
		}
		drift := map[string]int64{}
		var rows []string
		for _, p := range r.Projections {
			drift[p.Projection] = p.DriftRows
			for _, row := range p.Rows {
				rows = append(rows, row.Table+"/"+row.Side)
			}
		}
		return drift, rows, err
	}

	drift, _, err := verify()
	if err != nil {
		t.Fatalf("verify without drift: %v", err)
	}
	if diff := cmp.Diff(map[string]int64{"customer_order_history": 0, "merchant_daily_sales": 0}, drift); diff != "" {
		t.Errorf("drift (-want +got):\n%s", diff)
	}

	if _, err := pool.Exec(ctx, "UPDATE merchant_daily_sales SET gross_cents = 1"); err != nil {
		t.Fatal(err)
	}
	drift, rows, err := verify("merchant_daily_sales")
	if !errors.Is(err, readmodel.ErrDrift) {
		t.Fatalf("verify after a patch: %v, want ErrDrift (exit 1)", err)
	}
	if diff := cmp.Diff(map[string]int64{"merchant_daily_sales": 2}, drift); diff != "" {
		t.Errorf("drift (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"merchant_daily_sales/live", "merchant_daily_sales/rebuilt"}, rows); diff != "" {
		t.Errorf("rows (-want +got):\n%s", diff)
	}

	if _, _, err := cmd("projections", "rebuild", "--swap-attempts", "0", "merchant_daily_sales"); err == nil || !strings.Contains(err.Error(), "--swap-attempts") {
		t.Errorf("rebuild with --swap-attempts 0: %v, want it refused", err)
	}
	_, stderr, err := cmd("projections", "rebuild", "--swap-lock-timeout", "5s", "--swap-attempts", "3", "merchant_daily_sales")
	if err != nil {
		t.Fatalf("rebuild: %v\n%s", err, stderr)
	}
	if !strings.Contains(stderr, "rebuild: 3/3 events (100.0%)") {
		t.Errorf("rebuild progress on stderr: %q, want a line for 3/3 events", stderr)
	}
	if _, _, err := verify("merchant_daily_sales"); err != nil {
		t.Errorf("verify after rebuild: %v", err)
	}
	if _, stderr, err := cmd("projections", "rollback", "--swap-lock-timeout", "500ms", "merchant_daily_sales"); err != nil {
		t.Fatalf("rollback: %v\n%s", err, stderr)
	}
	if _, _, err := verify("merchant_daily_sales"); !errors.Is(err, readmodel.ErrDrift) {
		t.Errorf("verify after rolling back to the patched version: %v, want ErrDrift", err)
	}
	if _, _, err := cmd("projections", "rollback"); err == nil {
		t.Error("rollback without a name succeeded")
	}
	if _, _, err := cmd("projections", "verify", "--max-rows", "-1"); err == nil {
		t.Error("verify --max-rows -1 succeeded")
	}
}

func TestProgressText(t *testing.T) {
	tests := []struct {
		done, total, ran int64
		took             time.Duration
		want             string
	}{
		{0, 1000, 0, 0, "rebuild: 0/1000 events (0.0%)"},
		{250, 1000, 250, time.Second, "rebuild: 250/1000 events (25.0%), 250 events/s, ETA 3s"},
		{600, 1000, 100, time.Second, "rebuild: 600/1000 events (60.0%), 100 events/s, ETA 4s"}, // resumed at 500
		{1000, 1000, 1000, 2 * time.Second, "rebuild: 1000/1000 events (100.0%), 500 events/s, ETA 0s"},
		{0, 0, 0, time.Second, "rebuild: 0/0 events (100.0%)"},
	}
	for _, tt := range tests {
		if diff := cmp.Diff(tt.want, progressText("rebuild", tt.done, tt.total, tt.ran, tt.took)); diff != "" {
			t.Errorf("progressText(%d, %d, %d, %s) (-want +got):\n%s", tt.done, tt.total, tt.ran, tt.took, diff)
		}
	}
}
