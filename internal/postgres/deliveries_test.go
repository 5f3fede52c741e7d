package postgres_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/reportd/reportd/internal/domain"
	"github.com/reportd/reportd/internal/ids"
	"github.com/reportd/reportd/internal/pgtest"
	"github.com/reportd/reportd/internal/postgres"
)

// newDelivery makes a failed report of clientID with its report.failed delivery.
func newDelivery(t *testing.T, store *postgres.Store, clientID string) string {
	t.Helper()
	ctx := context.Background()
	rep, err := store.CreateReport(ctx, newReport(clientID), 0, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	created, err := store.FailReport(ctx, rep.ID, 0, "unknown_subject", "no such customer", &domain.NewDelivery{
		ID: ids.New("msg"), EventType: domain.EventFailed, URL: "https://hooks.example.com/x", Body: []byte(`{"type":"report.failed"}`),
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(created) != 1 {
		t.Fatalf("FailReport made %d deliveries, want 1 (the default target)", len(created))
	}
	return created[0]
}

// TestDeliveryBatches: a batch loads only its own client's deliveries, one
// statement records every attempt with its number, and a replayed dead
// letter stops counting as dead for the sweeper's archive pruning.
func TestDeliveryBatches(t *testing.T) {
	ctx := context.Background()
	store := postgres.NewStore(pgtest.New(t))
	a, b := newClient(t, store, ""), newClient(t, store, "")
	a1, a2, b1 := newDelivery(t, store, a), newDelivery(t, store, a), newDelivery(t, store, b)

	list, secrets, err := store.LoadDeliveriesToSend(ctx, a, []string{a1, b1, a2, "msg_missing"})
	if err != nil {
		t.Fatal(err)
	}
	got := make([]string, 0, len(list))
	for _, d := range list {
		got = append(got, d.ID)
	}
	if slices.Sort(got); !slices.Equal(got, sortedCopy(a1, a2)) {
		t.Fatalf("client A's batch loaded %v, want only its own %v", got, sortedCopy(a1, a2))
	}
	if len(secrets) != 1 || secrets[0] != "whsec_x" {
		t.Fatalf("secrets %v", secrets)
	}

	now := time.Now()
	err = store.RecordAttempts(ctx, []domain.AttemptOutcome{
		{DeliveryID: a1, Status: domain.DeliveryDelivered, Next: now,
			Attempt: domain.AttemptRecord{StartedAt: now, StatusCode: 204, Latency: 3 * time.Millisecond, Outcome: "delivered"}},
		{DeliveryID: a2, Status: domain.DeliveryDead, Next: now,
			Attempt: domain.AttemptRecord{StartedAt: now, Latency: time.Second, Outcome: "timeout", Error: "no response within 1s"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	deliveries, err := store.ReportDeliveries(ctx, a, reportOf(t, store, a, a1))
	if err != nil {
		t.Fatal(err)
	}
	d := deliveries[0]
	if d.Status != domain.DeliveryDelivered || d.Attempts != 1 || len(d.AttemptLog) != 1 || d.AttemptLog[0].Attempt != 1 ||
		d.AttemptLog[0].StatusCode == nil || *d.AttemptLog[0].StatusCode != 204 {
		t.Fatalf("recorded delivery %+v", d)
	}

	live, err := store.LiveDeliveries(ctx, []string{a1, a2, b1, "msg_missing"})
	if err != nil {
		t.Fatal(err)
	}
	if slices.Sort(live); !slices.Equal(live, sortedCopy(a1, b1, "msg_missing")) {
		t.Fatalf("live %v, want all but the dead %s", live, a2)
	}
	refs, err := store.ReplayDeliveries(ctx, a, domain.ReplayFilter{Status: domain.DeliveryDead, Limit: 10})
	if err != nil {
		t.Fatal(err)
	}
	if len(refs) != 1 || refs[0].ID != a2 || refs[0].ClientID != a || refs[0].ReportID == "" {
		t.Fatalf("replayed %+v, want %s", refs, a2)
	}
	if live, _ := store.LiveDeliveries(ctx, []string{a2}); len(live) != 1 {
		t.Fatalf("a replayed dead letter still counts as dead")
	}
}

func sortedCopy(s ...string) []string {
	slices.Sort(s)
	return s
}

// reportOf finds the report a delivery belongs to.
func reportOf(t *testing.T, store *postgres.Store, clientID, deliveryID string) string {
	t.Helper()
	list, err := store.ListDeliveries(context.Background(), clientID, domain.DeliveryFilter{Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range list {
		if d.ID == deliveryID {
			return d.ReportID
		}
	}
	t.Fatalf("delivery %s not found", deliveryID)
	return ""
}
