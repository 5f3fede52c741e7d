package webhook

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestDefaultSchedule(t *testing.T) {
	s := DefaultSchedule()
	if got, want := s.MaxRetry(), 9; got != want {
		t.Errorf("MaxRetry = %d, want %d (10 attempts)", got, want)
	}
	var total time.Duration
	for _, d := range s {
		total += d
	}
	// Attempts at 0, 5s, 5m, 30m, 2h, 5h, 10h, 14h, 20h, 24h: about 3 days.
	if want := 75*time.Hour + 35*time.Minute + 5*time.Second; total != want {
		t.Errorf("total = %s, want %s", total, want)
	}
	if got, want := s.String(), "5s,5m,30m,2h,5h,10h,14h,20h,24h"; got != want {
		t.Errorf("String = %q, want %q", got, want)
	}
	parsed, err := ParseSchedule(s.String())
	if err != nil {
		t.Fatalf("ParseSchedule(%q): %v", s.String(), err)
	}
	if diff := cmp.Diff(s, parsed); diff != "" {
		t.Errorf("String round trip (-want +got):\n%s", diff)
	}
}

func TestParseSchedule(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Schedule
	}{
		{"1s,2s,4s", Schedule{time.Second, 2 * time.Second, 4 * time.Second}},
		{"0,1s,2s", Schedule{time.Second, 2 * time.Second}},
		{"0s, 5s , 5m", Schedule{5 * time.Second, 5 * time.Minute}},
		{"1h30m", Schedule{90 * time.Minute}},
		{"250ms", Schedule{250 * time.Millisecond}},
		{"0,5s,5m,30m,2h,5h,10h,14h,20h,24h", DefaultSchedule()},
	} {
		got, err := ParseSchedule(tc.in)
		if err != nil {
			t.Errorf("ParseSchedule(%q): %v", tc.in, err)
			continue
		}
		if diff := cmp.Diff(tc.want, got); diff != "" {
			t.Errorf("ParseSchedule(%q) (-want +got):\n%s", tc.in, diff)
		}
	}
}

func TestParseScheduleErrors(t *testing.T) {
	for _, tc := range []struct {
		in       string
		wantText string // the error must name the bad element
	}{
		{"", "empty"},
		{"   ", "empty"},
		{"0", "no retry"},
		{"1s,,2s", "element 2 is empty"},
		{"1s,2s,", "element 3 is empty"},
		{"1s,abc", `element 2 "abc"`},
		{"5", `element 1 "5"`},
		{"1s,-2s", `element 2 "-2s": must be positive`},
		{"1s,0", `element 2 "0": must be positive`},
		{"1s,200h", `element 2 "200h": longer than`},
	} {
		_, err := ParseSchedule(tc.in)
		if err == nil {
			t.Errorf("ParseSchedule(%q) succeeded, want an error", tc.in)
			continue
		}
		if !strings.Contains(err.Error(), tc.wantText) {
			t.Errorf("ParseSchedule(%q) error = %q, want it to contain %q", tc.in, err, tc.wantText)
		}
	}
}

func TestScheduleDelay(t *testing.T) {
	s := Schedule{time.Second, 5 * time.Minute, 24 * time.Hour}
	for _, tc := range []struct {
		retried   int
		scheduled time.Duration
		maxJitter time.Duration
	}{
		{-1, time.Second, 100 * time.Millisecond},
		{0, time.Second, 100 * time.Millisecond},
		{1, 5 * time.Minute, 30 * time.Second},
		{2, 24 * time.Hour, MaxJitter},
		{3, 24 * time.Hour, MaxJitter}, // past the end: the last delay repeats
		{100, 24 * time.Hour, MaxJitter},
	} {
		var jittered bool
		for range 1000 {
			got := s.Delay(tc.retried)
			if got < tc.scheduled || got > tc.scheduled+tc.maxJitter {
				t.Fatalf("Delay(%d) = %s, want within [%s, %s]", tc.retried, got, tc.scheduled, tc.scheduled+tc.maxJitter)
			}
			jittered = jittered || got != tc.scheduled
		}
		if !jittered {
			t.Errorf("Delay(%d) was %s 1000 times: no jitter", tc.retried, tc.scheduled)
		}
	}
	if got := (Schedule{time.Nanosecond}).Delay(0); got != time.Nanosecond {
		t.Errorf("Delay of a 1ns schedule = %s, want 1ns (jitter rounds to 0)", got)
	}
}

func TestScheduleRetryAfter(t *testing.T) {
	s := Schedule{10 * time.Second, time.Minute}
	if got, want := s.RetryAfterCap(0), 20*time.Second; got != want {
		t.Errorf("RetryAfterCap(0) = %s, want %s", got, want)
	}
	if got, want := s.RetryAfterCap(7), 2*time.Minute; got != want {
		t.Errorf("RetryAfterCap(7) = %s, want %s", got, want)
	}
	for _, tc := range []struct {
		retryAfter time.Duration
		min, max   time.Duration
	}{
		{0, 10 * time.Second, 11 * time.Second},                // schedule only
		{time.Second, 10 * time.Second, 11 * time.Second},      // never earlier than the schedule
		{15 * time.Second, 15 * time.Second, 15 * time.Second}, // honoured
		{time.Hour, 20 * time.Second, 20 * time.Second},        // capped
	} {
		got := s.DelayWithRetryAfter(0, tc.retryAfter)
		if got < tc.min || got > tc.max {
			t.Errorf("DelayWithRetryAfter(0, %s) = %s, want within [%s, %s]", tc.retryAfter, got, tc.min, tc.max)
		}
	}
}
