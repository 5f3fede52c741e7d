package postgres_test

import (
	"context"
	"testing"

	"github.com/reportd/reportd/internal/domain"
	"github.com/reportd/reportd/internal/pgtest"
	"github.com/reportd/reportd/internal/postgres"
)

// TestCanceledReportHasNoWebhook: a canceled report never gets a delivery,
// so its webhook status says none, not a pending that never ends.
func TestCanceledReportHasNoWebhook(t *testing.T) {
	ctx := context.Background()
	store := postgres.NewStore(pgtest.New(t))
	client := newClient(t, store, "https://example.com/hook")
	for _, start := range []bool{false, true} {
		created, err := store.CreateReport(ctx, newReport(client), 0, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		if created.WebhookStatus != "pending" {
			t.Errorf("a new report with a webhook URL says %q, want pending", created.WebhookStatus)
		}
		if start {
			if _, _, err := store.StartReport(ctx, created.ID, ""); err != nil {
				t.Fatal(err)
			}
		}
		canceled, _, err := store.CancelReport(ctx, client, created.ID)
		if err != nil {
			t.Fatal(err)
		}
		got, err := store.GetReport(ctx, client, created.ID)
		if err != nil {
			t.Fatal(err)
		}
		for name, r := range map[string]domain.Report{"cancel answer": canceled, "GET": got} {
			if res := r.ToResource("", got.CreatedAt); res.Webhook.Status != "none" || res.Webhook.Attempts != 0 {
				t.Errorf("started %t, %s: webhook %+v, want none with 0 attempts", start, name, res.Webhook)
			}
		}
	}
}

// TestReleaseAttempt: a run that only waited gives its attempt back.
func TestReleaseAttempt(t *testing.T) {
	ctx := context.Background()
	store := postgres.NewStore(pgtest.New(t))
	client := newClient(t, store, "")
	created, err := store.CreateReport(ctx, newReport(client), 0, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		r, _, err := store.StartReport(ctx, created.ID, "")
		if err != nil {
			t.Fatal(err)
		}
		if err := store.ReleaseAttempt(ctx, created.ID, r.Run); err != nil {
			t.Fatal(err)
		}
	}
	r, _, err := store.StartReport(ctx, created.ID, "")
	if err != nil {
		t.Fatal(err)
	}
	if r.Attempts != 1 {
		t.Errorf("attempts = %d after three waiting runs and one build, want 1", r.Attempts)
	}
	if _, _, err := store.CancelReport(ctx, client, created.ID); err != nil {
		t.Fatal(err)
	}
	if err := store.ReleaseAttempt(ctx, created.ID, r.Run); err != nil {
		t.Fatal(err)
	}
	if got, _ := store.GetReport(ctx, client, created.ID); got.Attempts != 1 {
		t.Errorf("a finished report's attempts changed to %d", got.Attempts)
	}
}
