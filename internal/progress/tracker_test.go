package progress

import (
	"math"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/reportd/reportd/internal/domain"
)

type clock struct{ now time.Time }

func (c *clock) Now() time.Time          { return c.now }
func (c *clock) advance(d time.Duration) { c.now = c.now.Add(d) }
func eta(s int64) *int64                 { return new(s) }
func at(phase string, done, total int64, percent int, etaS *int64) domain.Progress {
	return domain.Progress{Phase: phase, RowsDone: done, RowsTotal: total, Percent: percent, ETASeconds: etaS}
}

// TestTrackerThrottles: a phase change publishes at once; rows publish at
// most once per interval, whatever their number, with the newest count,
// looking at the clock on every clockEvery-th row only.
func TestTrackerThrottles(t *testing.T) {
	c := &clock{now: time.Date(2026, 4, 1, 10, 0, 0, 0, time.UTC)}
	var got []domain.Progress
	reads := 0
	now := func() time.Time { reads++; return c.Now() }
	tr := New(now, time.Second, func(p domain.Progress) { got = append(got, p) })

	tr.Phase(domain.PhaseReading)
	tr.Start(1000)
	reads = 0
	for i := 1; i <= 320; i++ { // 320 rows in 320 ms: no report
		c.advance(time.Millisecond)
		tr.Row(i)
	}
	if reads != 320/clockEvery {
		t.Errorf("320 rows read the clock %d times, want %d", reads, 320/clockEvery)
	}
	c.advance(680 * time.Millisecond) // a second since Start
	for i := 321; i <= 512; i++ {     // reported at 352, then the same instant: no report
		tr.Row(i)
	}
	c.advance(999 * time.Millisecond)
	tr.Row(544) // 999 ms since the last report: none
	c.advance(time.Millisecond)
	tr.Row(576)
	c.advance(5 * time.Second)
	tr.Row(577) // not a row that looks at the clock
	tr.Phase(domain.PhaseUploading)

	want := []domain.Progress{
		at(domain.PhaseReading, 0, 0, 0, nil),
		at(domain.PhaseRendering, 0, 1000, 0, nil),
		at(domain.PhaseRendering, 352, 1000, 35, eta(2)), // 648 left at 352/s: 1.84 s, rounded up
		at(domain.PhaseRendering, 576, 1000, 57, eta(2)), // 424 left at 288/s: 1.47 s
		at(domain.PhaseUploading, 577, 1000, 100, eta(0)),
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("published (-want +got):\n%s", diff)
	}
}

func TestCompute(t *testing.T) {
	tests := []struct {
		name        string
		phase       string
		done, total int64
		elapsed     time.Duration
		want        domain.Progress
	}{
		{"nothing done yet", domain.PhaseRendering, 0, 100, time.Second, at(domain.PhaseRendering, 0, 100, 0, nil)},
		{"no time passed", domain.PhaseRendering, 10, 100, 0, at(domain.PhaseRendering, 10, 100, 10, nil)},
		{"half in 10 s", domain.PhaseRendering, 50, 100, 10 * time.Second, at(domain.PhaseRendering, 50, 100, 50, eta(10))},
		{"floored percent", domain.PhaseRendering, 2, 3, time.Second, at(domain.PhaseRendering, 2, 3, 66, eta(1))},
		{"more rows than counted", domain.PhaseRendering, 120, 100, time.Second, at(domain.PhaseRendering, 120, 100, 100, eta(0))},
		{"an empty report", domain.PhaseRendering, 0, 0, time.Second, at(domain.PhaseRendering, 0, 0, 0, nil)},
		{"uploading an empty report", domain.PhaseUploading, 0, 0, time.Second, at(domain.PhaseUploading, 0, 0, 100, eta(0))},
		{"waiting has no ETA", domain.PhaseWaitingForData, 0, 0, time.Minute, at(domain.PhaseWaitingForData, 0, 0, 0, nil)},
		{"a huge report", domain.PhaseRendering, 1, 1 << 40, time.Millisecond, at(domain.PhaseRendering, 1, 1<<40, 0, eta(1_099_511_628))},
		{"an ETA beyond 68 years is capped", domain.PhaseRendering, 1, 1 << 62, time.Hour, at(domain.PhaseRendering, 1, 1<<62, 0, eta(math.MaxInt32))},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, Compute(tt.phase, tt.done, tt.total, tt.elapsed)); diff != "" {
				t.Errorf("Compute (-want +got):\n%s", diff)
			}
		})
	}
}
