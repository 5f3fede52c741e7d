package progress

import (
	"math"
	"time"

	"github.com/reportd/reportd/internal/domain"
)

// DefaultInterval is how often a build's progress is published at most.
const DefaultInterval = time.Second

// Tracker counts a build's rows and publishes its progress: at once when
// the phase changes, and otherwise at most once per interval. It is used by
// one goroutine at a time (the build, then the renderer it hands Row to).
type Tracker struct {
	now      func() time.Time
	interval time.Duration
	publish  func(domain.Progress)

	phase     string
	total     int64
	done      int64
	started   time.Time // when rows began; the rate is measured from here
	published time.Time // when the last report went out
}

// New returns a tracker that publishes through publish, reading the time
// from now, at most once per interval (DefaultInterval when 0).
func New(now func() time.Time, interval time.Duration, publish func(domain.Progress)) *Tracker {
	if interval <= 0 {
		interval = DefaultInterval
	}
	return &Tracker{now: now, interval: interval, publish: publish}
}

// Phase moves the build to a phase and publishes at once.
func (t *Tracker) Phase(phase string) {
	t.phase = phase
	t.emit(t.now())
}

// Start begins the rows: total is how many the snapshot holds. It moves to
// PhaseRendering and publishes at once.
func (t *Tracker) Start(total int) {
	t.total, t.done = int64(max(total, 0)), 0
	t.started = t.now()
	t.Phase(domain.PhaseRendering)
}

// clockEvery is how many rows pass between two looks at the clock: reading
// it for every row costs a cheap (CSV) row a tenth of its time.
const clockEvery = 32

// Row records that done rows are finished and, on every clockEvery-th row,
// publishes if the interval has passed since the last report. It is called
// once per row.
func (t *Tracker) Row(done int) {
	t.done = int64(done)
	if done%clockEvery != 0 {
		return
	}
	if now := t.now(); now.Sub(t.published) >= t.interval {
		t.emit(now)
	}
}

// Snapshot is the progress as of now.
func (t *Tracker) Snapshot() domain.Progress {
	return Compute(t.phase, t.done, t.total, t.now().Sub(t.started))
}

func (t *Tracker) emit(now time.Time) {
	t.published = now
	t.publish(Compute(t.phase, t.done, t.total, now.Sub(t.started)))
}

// Compute is the progress of done rows out of total after elapsed of
// rendering. Percent is floored and capped at 100 (the count and the rows
// come from one snapshot, but a count is a promise the renderer does not
// need to keep). The ETA extrapolates the rate so far, rounded up to whole
// seconds; it is nil until a row is done and some time has passed.
func Compute(phase string, done, total int64, elapsed time.Duration) domain.Progress {
	p := domain.Progress{Phase: phase, RowsDone: done, RowsTotal: total}
	if total > 0 {
		p.Percent = int(min(done*100/total, 100))
	}
	if phase == domain.PhaseUploading {
		// Every row is drawn (even of an empty report): what is left is
		// the upload's last part, which has no rate to go by.
		zero := int64(0)
		p.Percent, p.ETASeconds = 100, &zero
		return p
	}
	if done <= 0 || elapsed <= 0 || phase != domain.PhaseRendering {
		return p
	}
	// left × elapsed / done, rounded up to whole seconds. It is only shown,
	// never summed, so a float is fine; it cannot overflow where an int64
	// product of rows and milliseconds could.
	left := max(total-done, 0)
	eta := int64(min(math.Ceil(float64(left)*elapsed.Seconds()/float64(done)), math.MaxInt32))
	p.ETASeconds = &eta
	return p
}
