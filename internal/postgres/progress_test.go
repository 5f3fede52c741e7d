package postgres_test

import (
	"context"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/reportd/reportd/internal/domain"
	"github.com/reportd/reportd/internal/pgtest"
	"github.com/reportd/reportd/internal/postgres"
)

// TestReportProgress: progress is written only while the report runs, read
// back with the report, shown by the resource only while running, and a
// late write after the result changes nothing.
func TestReportProgress(t *testing.T) {
	ctx := context.Background()
	store := postgres.NewStore(pgtest.New(t))
	client := newClient(t, store, "")
	nr := newReport(client)
	if _, err := store.CreateReport(ctx, nr, 0, nil, nil); err != nil {
		t.Fatal(err)
	}
	eta := int64(12)
	p := domain.Progress{Phase: domain.PhaseRendering, RowsDone: 480, RowsTotal: 600, Percent: 80, ETASeconds: &eta}

	// Queued: not running, so nothing is written.
	if err := store.SetProgress(ctx, nr.ID, p); err != nil {
		t.Fatal(err)
	}
	if r, err := store.GetReport(ctx, client, nr.ID); err != nil || r.Progress != nil {
		t.Fatalf("queued report: progress %+v, err %v; want none", r.Progress, err)
	}

	started, ok, err := store.StartReport(ctx, nr.ID, "")
	if err != nil || !ok {
		t.Fatalf("start: %v %v", ok, err)
	}
	if err := store.SetProgress(ctx, nr.ID, p); err != nil {
		t.Fatal(err)
	}
	r, err := store.GetReport(ctx, client, nr.ID)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(&p, r.Progress); diff != "" {
		t.Errorf("stored progress (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(&p, r.ToResource("", r.CreatedAt).Progress); diff != "" {
		t.Errorf("resource progress while running (-want +got):\n%s", diff)
	}

	if _, err := store.SucceedReport(ctx, nr.ID, started.Run, domain.Result{ObjectKey: "k", ContentType: "application/pdf", Rows: 600}, nil); err != nil {
		t.Fatal(err)
	}
	late := p
	late.RowsDone = 600
	if err := store.SetProgress(ctx, nr.ID, late); err != nil {
		t.Fatal(err)
	}
	r, err = store.GetReport(ctx, client, nr.ID)
	if err != nil {
		t.Fatal(err)
	}
	if r.Progress == nil || r.Progress.RowsDone != 480 {
		t.Errorf("a write after the result changed progress to %+v", r.Progress)
	}
	if res := r.ToResource("", r.CreatedAt); res.Progress != nil {
		t.Errorf("a succeeded report's resource shows progress %+v", *res.Progress)
	}
}
