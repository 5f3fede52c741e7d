package main

import (
	"fmt"
	"io"
	"time"
)

// progressLine prints "label: done/total events (pct), rate, ETA" to w, at
// most once per every, and always for the last step. A done that goes
// backwards starts a new run (the next projection of a rebuild of all).
type progressLine struct {
	w     io.Writer
	label string
	every time.Duration
	now   func() time.Time

	start, last time.Time
	from, prev  int64 // done at start; done at the last call
}

func newProgressLine(w io.Writer, label string) *progressLine {
	return &progressLine{w: w, label: label, every: 500 * time.Millisecond, now: time.Now}
}

func (p *progressLine) update(done, total int64) {
	now := p.now()
	if p.start.IsZero() || done < p.prev {
		p.start, p.from, p.last = now, done, time.Time{}
	}
	p.prev = done
	if done < total && now.Sub(p.last) < p.every {
		return
	}
	p.last = now
	fmt.Fprintln(p.w, progressText(p.label, done, total, done-p.from, now.Sub(p.start)))
}

// progressText is one progress line: counts, share, the rate of this run
// (events since it started, over its time) and the time left at that rate.
func progressText(label string, done, total, ran int64, took time.Duration) string {
	pct := 100.0
	if total > 0 {
		pct = float64(done) * 100 / float64(total)
	}
	line := fmt.Sprintf("%s: %d/%d events (%.1f%%)", label, done, total, pct)
	if ran <= 0 || took <= 0 {
		return line
	}
	rate := float64(ran) / took.Seconds()
	eta := time.Duration(float64(total-done) / rate * float64(time.Second)).Round(time.Second)
	return fmt.Sprintf("%s, %.0f events/s, ETA %s", line, rate, eta)
}
