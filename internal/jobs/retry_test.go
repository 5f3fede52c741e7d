package jobs

import (
	"testing"
	"time"
)

// asynq moves a retry to pending once the Unix second it is due in has
// begun, so a delivery's delay is stretched to end on a whole second.
func TestNotEarlyEndsOnAWholeSecondNoSooner(t *testing.T) {
	base := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	tests := []struct {
		now  time.Time
		d    time.Duration
		want time.Duration
	}{
		{base.Add(600 * time.Millisecond), 2 * time.Second, 2400 * time.Millisecond}, // due 2.6 s → 3.0 s
		{base, 2 * time.Second, 2 * time.Second},                                     // already whole
		{base.Add(999 * time.Millisecond), time.Millisecond, time.Millisecond},       // due exactly 1.0 s
		{base.Add(100 * time.Millisecond), 0, 900 * time.Millisecond},
	}
	for _, tc := range tests {
		got := notEarly(tc.now, tc.d)
		if got != tc.want {
			t.Errorf("notEarly(%s, %s) = %s, want %s", tc.now.Format("05.000"), tc.d, got, tc.want)
		}
		if due := tc.now.Add(got); due.Truncate(time.Second) != due || got < tc.d {
			t.Errorf("notEarly(%s, %s) = %s: due %s is not a whole second at or after the delay", tc.now.Format("05.000"), tc.d, got, due)
		}
	}
}
