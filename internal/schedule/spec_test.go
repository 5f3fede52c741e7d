package schedule

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func berlin(t *testing.T) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Fatal(err)
	}
	return loc
}

// fires lists the fires of spec from start (exclusive) until end, stepping
// an injected clock from fire to fire as a runner would.
func fires(t *testing.T, spec Spec, loc *time.Location, start, end time.Time) []time.Time {
	t.Helper()
	var out []time.Time
	for now := start; ; {
		next := spec.Next(now, loc, start)
		if next.IsZero() || next.After(end) {
			return out
		}
		if !next.After(now) {
			t.Fatalf("Next(%s) = %s, not after it", now, next)
		}
		out = append(out, next)
		now = next
	}
}

func TestDailyFireAcrossDSTChanges(t *testing.T) {
	loc := berlin(t)
	spec, err := ParseSpec("30 2 * * *", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	at := func(s string) time.Time {
		v, err := time.Parse(time.RFC3339, s)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	tests := []struct {
		name       string
		start, end time.Time
		want       []time.Time
	}{
		{
			// 2026-03-29 clocks jump from 02:00 to 03:00: 02:30 does not
			// exist and fires at 03:30 CEST, the gap's length later.
			name: "spring forward", start: at("2026-03-27T12:00:00+01:00"), end: at("2026-03-31T12:00:00+02:00"),
			want: []time.Time{at("2026-03-28T02:30:00+01:00"), at("2026-03-29T03:30:00+02:00"), at("2026-03-30T02:30:00+02:00"), at("2026-03-31T02:30:00+02:00")},
		},
		{
			// 2026-10-25 clocks fall back from 03:00 to 02:00: 02:30 happens
			// twice and fires on its first pass only.
			name: "fall back", start: at("2026-10-23T12:00:00+02:00"), end: at("2026-10-27T12:00:00+01:00"),
			want: []time.Time{at("2026-10-24T02:30:00+02:00"), at("2026-10-25T02:30:00+02:00"), at("2026-10-26T02:30:00+01:00"), at("2026-10-27T02:30:00+01:00")},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := fires(t, spec, loc, tt.start, tt.end)
			if diff := cmp.Diff(tt.want, got, cmp.Comparer(time.Time.Equal)); diff != "" {
				t.Errorf("fires (-want +got):\n%s", diff)
			}
		})
	}
}

// A runner that wakes inside the repeated hour (clocks show 02:xx again)
// must not fire 02:30 a second time.
func TestNextInsideRepeatedHourSkipsToTomorrow(t *testing.T) {
	loc := berlin(t)
	spec, err := ParseSpec("30 2 * * *", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 10, 25, 1, 10, 0, 0, time.UTC) // 02:10 CET, after 02:30 CEST fired
	want := time.Date(2026, 10, 26, 1, 30, 0, 0, time.UTC)
	if got := spec.Next(now, loc, now); !got.Equal(want) {
		t.Errorf("Next(%s) = %s, want %s", now.In(loc), got.In(loc), want.In(loc))
	}
}

func TestHourlyFireAcrossFallBack(t *testing.T) {
	loc := berlin(t)
	spec, err := ParseSpec("@hourly", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Date(2026, 10, 24, 23, 30, 0, 0, time.UTC) // 01:30 CEST
	got := fires(t, spec, loc, start, start.Add(5*time.Hour))
	walls := make([]string, 0, len(got))
	for _, f := range got {
		walls = append(walls, f.In(loc).Format("15:04 MST"))
	}
	// Each wall-clock hour once; 02:00 on its first pass.
	want := []string{"02:00 CEST", "03:00 CET", "04:00 CET", "05:00 CET"}
	if diff := cmp.Diff(want, walls); diff != "" {
		t.Errorf("fires (-want +got):\n%s", diff)
	}
}

func TestEveryKeepsItsGrid(t *testing.T) {
	spec, err := ParseSpec("@every 2s", time.Second)
	if err != nil {
		t.Fatal(err)
	}
	anchor := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, tt := range []struct {
		now, want time.Duration
	}{{-time.Hour, 0}, {0, 2 * time.Second}, {1500 * time.Millisecond, 2 * time.Second}, {2 * time.Second, 4 * time.Second}, {7 * time.Second, 8 * time.Second}} {
		if got := spec.Next(anchor.Add(tt.now), time.UTC, anchor); !got.Equal(anchor.Add(tt.want)) {
			t.Errorf("Next(anchor%+v) = anchor%+v, want anchor%+v", tt.now, got.Sub(anchor), tt.want)
		}
	}
	// Many missed ticks are made up by one: the newest.
	if got := spec.Latest(anchor, anchor.Add(9*time.Second), time.UTC); !got.Equal(anchor.Add(8 * time.Second)) {
		t.Errorf("Latest = anchor%+v, want anchor+8s", got.Sub(anchor))
	}
}

func TestLatestOfMissedCronFires(t *testing.T) {
	loc := berlin(t)
	spec, err := ParseSpec("0 6 1 * *", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	due := time.Date(2026, 2, 1, 6, 0, 0, 0, loc)
	now := time.Date(2026, 4, 15, 0, 0, 0, 0, loc)
	if got, want := spec.Latest(due, now, loc), time.Date(2026, 4, 1, 6, 0, 0, 0, loc); !got.Equal(want) {
		t.Errorf("Latest = %s, want %s", got, want)
	}
}

func TestParseSpecRejects(t *testing.T) {
	for _, expr := range []string{"", "* * *", "61 * * * *", "@yearlyish", "@every", "@every 10s", "@every 1.5s", "@every -1m",
		"TZ=UTC 0 6 * * *", "CRON_TZ=Europe/Berlin 0 6 * * *", "0 0 0 6 * * *"} {
		if _, err := ParseSpec(expr, time.Minute); err == nil {
			t.Errorf("ParseSpec(%q) accepted it", expr)
		}
	}
	for _, expr := range []string{"0 6 1 * *", "@daily", "@every 1m", "@every 2h30m", "*/5 * * * MON-FRI"} {
		if _, err := ParseSpec(expr, time.Minute); err != nil {
			t.Errorf("ParseSpec(%q): %v", expr, err)
		}
	}
}

func TestPeriodDays(t *testing.T) {
	loc := berlin(t)
	// 2026-03-01 00:30 in Berlin is still February 28 in UTC: the zone decides.
	fire := time.Date(2026, 2, 28, 23, 30, 0, 0, time.UTC)
	tests := []struct {
		p        Period
		at       time.Time
		from, to string
	}{
		{PreviousMonth, fire, "2026-02-01", "2026-02-28"},
		{PreviousMonth, time.Date(2026, 1, 1, 6, 0, 0, 0, loc), "2025-12-01", "2025-12-31"},
		{PreviousWeek, fire, "2026-02-16", "2026-02-22"},                                   // 2026-03-01 is a Sunday
		{PreviousWeek, time.Date(2026, 3, 2, 6, 0, 0, 0, loc), "2026-02-23", "2026-03-01"}, // a Monday
		{PreviousDay, fire, "2026-02-28", "2026-02-28"},
		{PreviousDay, time.Date(2026, 3, 30, 0, 30, 0, 0, loc), "2026-03-29", "2026-03-29"},
		{MonthToDate, fire, "2026-03-01", "2026-03-01"},
		{MonthToDate, time.Date(2026, 10, 25, 2, 30, 0, 0, loc), "2026-10-01", "2026-10-25"},
	}
	for _, tt := range tests {
		from, to, err := tt.p.Days(tt.at, loc)
		if err != nil || from != tt.from || to != tt.to {
			t.Errorf("%s at %s = %s..%s, %v; want %s..%s", tt.p, tt.at.In(loc), from, to, err, tt.from, tt.to)
		}
	}
	if _, _, err := Period("last_year").Days(fire, loc); err == nil {
		t.Error("an unknown period resolved")
	}
}
