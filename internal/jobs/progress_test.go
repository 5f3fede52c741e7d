package jobs

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/reportd/reportd/internal/domain"
	"github.com/reportd/reportd/internal/report"
)

// genProgress is a ProgressStore that records what it was sent.
type genProgress struct {
	mu              sync.Mutex
	SetProgressFunc func(p domain.Progress) error
	got             []domain.Progress
}

var _ ProgressStore = (*genProgress)(nil)

func (s *genProgress) SetProgress(_ context.Context, _ string, p domain.Progress) error {
	s.mu.Lock()
	s.got = append(s.got, p)
	s.mu.Unlock()
	if s.SetProgressFunc != nil {
		return s.SetProgressFunc(p)
	}
	return nil
}

// ordersDocument is an order history of n orders.
func ordersDocument(n int) report.Document {
	return report.Document{Type: report.TypeOrderHistory, RowCount: n, Orders: func(yield func(report.OrderRow, error) bool) {
		for i := range n {
			o := report.OrderRow{OrderID: "ord_" + string(rune('a'+i%26)), Currency: "EUR", TotalCents: 100,
				PlacedAt: time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)}
			if !yield(o, nil) {
				return
			}
		}
	}}
}

// TestGeneratorRecordsProgress: a build reports reading, then rendering
// with the row count, rows as the clock passes the interval, and
// uploading; the hook sees every row. (How often is the tracker's test:
// the writer here may skip values it is handed while one is written.)
func TestGeneratorRecordsProgress(t *testing.T) {
	f := newGenFixture(t)
	prog := &genProgress{}
	f.gen.Progress, f.gen.ProgressInterval = prog, time.Second
	f.orders.OpenDocumentFunc = func(fn func(report.Document) error) error { return fn(ordersDocument(40)) }
	var hooked []int
	f.gen.RowHook = func(id string, n int) {
		if id != "rep_1" {
			t.Errorf("hook for %s", id)
		}
		hooked = append(hooked, n)
		if n%10 == 0 {
			f.clock.advance(time.Second) // every tenth row takes a second
		}
	}
	if err := f.run(t, "rep_1"); err != nil {
		t.Fatal(err)
	}
	if len(hooked) != 40 || hooked[39] != 40 {
		t.Errorf("the hook saw rows %v, want 1..40", hooked)
	}
	// The writer keeps only the newest value while one is written, so a
	// value may be skipped, but the order holds and the last one is there.
	prog.mu.Lock()
	defer prog.mu.Unlock()
	if len(prog.got) == 0 {
		t.Fatal("no progress recorded")
	}
	// Any value but the last may be replaced before it is written (the
	// writer goroutine may not run at all until the end), so the phases
	// are checked for order, not for presence.
	last := prog.got[len(prog.got)-1]
	rank := map[string]int{domain.PhaseReading: 1, domain.PhaseRendering: 2, domain.PhaseUploading: 3}
	for i, p := range prog.got {
		if rank[p.Phase] == 0 {
			t.Errorf("progress %d has phase %q, want reading, rendering or uploading", i, p.Phase)
		}
		if i > 0 && rank[p.Phase] < rank[prog.got[i-1].Phase] {
			t.Errorf("phase %q after %q", p.Phase, prog.got[i-1].Phase)
		}
	}
	eta := int64(0)
	if diff := cmp.Diff(domain.Progress{Phase: domain.PhaseUploading, RowsDone: 40, RowsTotal: 40, Percent: 100, ETASeconds: &eta}, last); diff != "" {
		t.Errorf("last progress (-want +got):\n%s", diff)
	}
	prev := int64(-1)
	for _, p := range prog.got[1:] {
		if p.RowsDone < prev || p.Percent > 100 || p.RowsTotal != 40 {
			t.Errorf("progress %+v after %d rows", p, prev)
		}
		prev = p.RowsDone
	}
}

// TestGeneratorProgressWaitingForData: a report whose data is not there
// yet says so.
func TestGeneratorProgressWaitingForData(t *testing.T) {
	f := newGenFixture(t)
	prog := &genProgress{}
	f.gen.Progress, f.gen.WaitForData = prog, 2*time.Hour
	f.orders.OpenDocumentFunc = func(func(report.Document) error) error { return report.ErrBehind }
	if err := f.run(t, "rep_1"); err == nil {
		t.Fatal("a report behind its min_position finished")
	}
	prog.mu.Lock()
	defer prog.mu.Unlock()
	if n := len(prog.got); n == 0 || prog.got[n-1].Phase != domain.PhaseWaitingForData {
		t.Errorf("recorded %+v, want waiting_for_data last", prog.got)
	}
}
