package postgres_test

import (
	"context"
	"encoding/json"
	"errors"
	"sync"
	"testing"

	"github.com/reportd/reportd/internal/domain"
	"github.com/reportd/reportd/internal/ids"
	"github.com/reportd/reportd/internal/pgtest"
	"github.com/reportd/reportd/internal/postgres"
	"github.com/reportd/reportd/internal/report"
)

func newClient(t *testing.T, store *postgres.Store, webhookURL string) string {
	t.Helper()
	id := ids.New("cli")
	if err := store.CreateClient(context.Background(), postgres.NewClient{
		ID: id, Name: "Test", WebhookURL: webhookURL, KeyID: ids.Random(10), KeyHash: []byte(ids.Random(16)),
		Scopes: []string{"reports"}, Secret: "whsec_x",
	}); err != nil {
		t.Fatal(err)
	}
	return id
}

func newReport(clientID string) domain.NewReport {
	return domain.NewReport{ID: ids.New("rep"), ClientID: clientID, Type: report.TypeOrderHistory, Format: report.FormatPDF,
		Params: report.Params{CustomerID: "cus_1", From: "2026-01-01", To: "2026-01-31"}}
}

// TestConcurrentCreatesRespectTheQuota: inserts batched together count each
// other against the client's in-flight limit, and one process commits one
// batch at a time, so within a process the limit holds exactly. (Batches of
// several API processes can still race past it: the limit is soft.)
func TestConcurrentCreatesRespectTheQuota(t *testing.T) {
	store := postgres.NewStore(pgtest.New(t))
	limited, unlimited := newClient(t, store, ""), newClient(t, store, "")
	var wg sync.WaitGroup
	var mu sync.Mutex
	created := map[string]int{}
	for i := range 100 {
		client, limit := limited, 10
		if i%2 == 1 {
			client, limit = unlimited, 0
		}
		wg.Go(func() {
			_, err := store.CreateReport(context.Background(), newReport(client), limit, nil, nil)
			if err != nil && !errors.Is(err, domain.ErrQuotaExceeded) {
				t.Errorf("create: %v", err)
				return
			}
			if err == nil {
				mu.Lock()
				created[client]++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if n := created[unlimited]; n != 50 {
		t.Errorf("the unlimited client got %d reports, want all 50", n)
	}
	if n := created[limited]; n != 10 {
		t.Errorf("the client limited to 10 got %d reports, want 10", n)
	}
}

func TestCreateReportRoundTrip(t *testing.T) {
	store := postgres.NewStore(pgtest.New(t))
	client := newClient(t, store, "https://hooks.example.com/default")
	pos := int64(42)
	in := newReport(client)
	in.Metadata, in.MinPosition = json.RawMessage(`{"ref":"abc"}`), &pos
	got, err := store.CreateReport(context.Background(), in, 100, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got.ID != in.ID || got.Status != domain.StatusQueued || string(got.Metadata) != `{"ref": "abc"}` ||
		got.MinPosition == nil || *got.MinPosition != 42 || got.WebhookURL != "https://hooks.example.com/default" || got.Params != in.Params {
		t.Fatalf("created %+v from %+v", got, in)
	}
	bare, err := store.CreateReport(context.Background(), newReport(client), 100, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if bare.Metadata != nil || bare.MinPosition != nil {
		t.Fatalf("absent metadata and min_position came back as %s / %v", bare.Metadata, bare.MinPosition)
	}
}
