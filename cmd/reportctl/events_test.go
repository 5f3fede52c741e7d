package main

import (
	"bytes"
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/reportd/reportd/internal/orderevents"
)

// reportctl events parked lists a parked refund as JSON; events retry
// tries it again, and since the log cannot change, parks it again.
func TestEventsParkedAndRetry(t *testing.T) {
	ctx := context.Background()
	url, _, rm := newReadModelDB(t)
	at := time.Date(2026, 2, 1, 0, 0, 0, 0, time.UTC)
	events := []orderevents.Event{
		{EventID: "e1", OrderID: "ord_1", Sequence: 1, Type: orderevents.TypeOrderPlaced, OccurredAt: at,
			Data: json.RawMessage(`{"customer_id":"cus_1","merchant_id":"mer_1","currency":"EUR","items":[{"sku":"a","qty":1,"unit_price_cents":100}],"total_cents":100}`)},
		{EventID: "e2", OrderID: "ord_1", Sequence: 2, Type: orderevents.TypeOrderRefunded, OccurredAt: at, Data: json.RawMessage(`{"amount_cents":101}`)},
	}
	if _, err := rm.Append(ctx, "cli_a", events); err != nil {
		t.Fatal(err)
	}
	if _, err := rm.ProjectOnce(ctx); err != nil {
		t.Fatal(err)
	}

	cmd := func(args ...string) []byte {
		t.Helper()
		var stdout, stderr bytes.Buffer
		getenv := func(k string) string {
			if k == "DATABASE_URL" {
				return url
			}
			return ""
		}
		if err := run(ctx, args, getenv, &stdout, &stderr); err != nil {
			t.Fatalf("reportctl %v: %v\n%s", args, err, stderr.String())
		}
		return stdout.Bytes()
	}

	type parked struct {
		Projection string `json:"projection"`
		ClientID   string `json:"client_id"`
		OrderID    string `json:"order_id"`
		Type       string `json:"type"`
		Sequence   int64  `json:"sequence"`
	}
	var list []struct {
		parked
		Error string `json:"error"`
	}
	if err := json.Unmarshal(cmd("events", "parked", "--order", "ord_1"), &list); err != nil {
		t.Fatal(err)
	}
	var got []parked
	for _, p := range list {
		got = append(got, p.parked)
		if p.Error == "" {
			t.Errorf("parked %s without an error", p.Projection)
		}
	}
	want := []parked{
		{"customer_order_history", "cli_a", "ord_1", "OrderRefunded", 2},
		{"merchant_daily_sales", "cli_a", "ord_1", "OrderRefunded", 2},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("events parked (-want +got):\n%s", diff)
	}

	var res struct {
		Retried, Applied, Parked int
		StillParked              []json.RawMessage `json:"still_parked"`
	}
	if err := json.Unmarshal(cmd("events", "retry", "--client", "cli_a"), &res); err != nil {
		t.Fatal(err)
	}
	if res.Retried != 2 || res.Applied != 0 || res.Parked != 2 || len(res.StillParked) != 2 {
		t.Errorf("events retry: %+v, want 2 retried, 2 parked again", res)
	}
	if out := cmd("events", "parked", "--client", "cli_other"); !bytes.Equal(bytes.TrimSpace(out), []byte("[]")) {
		t.Errorf("events parked of another client: %s, want []", out)
	}
}
