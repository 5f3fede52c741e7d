package webhook

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

var t0 = time.Date(2026, 4, 1, 12, 0, 0, 0, time.UTC)

func at(d time.Duration) *time.Time { t := t0.Add(d); return &t }

// A schedule without jitter (delays of whole seconds keep their jitter
// under a second, so these use exact minutes and check bounds instead).
var policy = BreakerPolicy{Failures: 3, DisableAfter: 5 * 24 * time.Hour, Probes: Schedule{time.Second, time.Minute}, Concurrency: 2}

// TestAfterAttempt pins the breaker: what one attempt's outcome does to an
// endpoint's health.
func TestAfterAttempt(t *testing.T) {
	tests := []struct {
		name string
		h    Health
		ok   bool
		now  time.Time
		want Health
		// probeAfter is the least wait before the next probe (the
		// schedule's delay; jitter may add to it).
		probeAfter time.Duration
	}{
		{name: "a success keeps a healthy endpoint healthy", h: Health{Status: EndpointActive}, ok: true, now: t0,
			want: Health{Status: EndpointActive}},
		{name: "a first failure starts the run", h: Health{Status: EndpointActive}, now: t0,
			want: Health{Status: EndpointActive, Failures: 1, FailingSince: at(0)}},
		{name: "failures below the threshold only count", h: Health{Status: EndpointActive, Failures: 1, FailingSince: at(0)}, now: t0.Add(time.Minute),
			want: Health{Status: EndpointActive, Failures: 2, FailingSince: at(0)}},
		{name: "the threshold pauses, first probe one step later", h: Health{Status: EndpointActive, Failures: 2, FailingSince: at(0)}, now: t0.Add(time.Hour),
			want: Health{Status: EndpointPaused, Failures: 3, FailingSince: at(0), ProbeAt: at(time.Hour + time.Second)}, probeAfter: time.Second},
		{name: "a failed probe moves the next one a step on", h: Health{Status: EndpointPaused, Failures: 3, FailingSince: at(0), ProbeAt: at(time.Hour)}, now: t0.Add(time.Hour),
			want: Health{Status: EndpointPaused, Failures: 4, FailingSince: at(0), ProbeAt: at(time.Hour + time.Minute), ProbeStep: 1}, probeAfter: time.Minute},
		{name: "a successful probe resumes with a clean record", h: Health{Status: EndpointPaused, Failures: 9, FailingSince: at(0), ProbeAt: at(time.Hour), ProbeStep: 4}, ok: true, now: t0.Add(time.Hour),
			want: Health{Status: EndpointActive}},
		{name: "failing for DisableAfter disables", h: Health{Status: EndpointPaused, Failures: 40, FailingSince: at(0), ProbeAt: at(time.Hour), ProbeStep: 30}, now: t0.Add(5 * 24 * time.Hour),
			want: Health{Status: EndpointDisabled, Failures: 41, FailingSince: at(0)}},
		{name: "a disabled endpoint stays disabled, even on a success", h: Health{Status: EndpointDisabled, Failures: 41, FailingSince: at(0)}, ok: true, now: t0.Add(6 * 24 * time.Hour),
			want: Health{Status: EndpointDisabled, Failures: 41, FailingSince: at(0)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := policy.AfterAttempt(tt.h, tt.ok, tt.now)
			if tt.want.ProbeAt != nil && got.ProbeAt != nil {
				if wait := got.ProbeAt.Sub(tt.now); wait < tt.probeAfter || wait > tt.probeAfter+MaxJitter {
					t.Errorf("next probe after %s, want %s plus jitter", wait, tt.probeAfter)
				}
				got.ProbeAt = tt.want.ProbeAt
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("AfterAttempt (-want +got):\n%s", diff)
			}
		})
	}
}

func TestAfterAttemptWithoutThresholds(t *testing.T) {
	p := BreakerPolicy{} // 0: never pause, never disable
	h := Health{Status: EndpointActive}
	for range 1000 {
		h = p.AfterAttempt(h, false, t0.Add(30*24*time.Hour))
	}
	if h.Status != EndpointActive || h.Failures != 1000 {
		t.Fatalf("health after 1000 failures without thresholds: %+v", h)
	}
}

// TestAdmit pins which deliveries to an endpoint may go now.
func TestAdmit(t *testing.T) {
	active := Health{Status: EndpointActive}
	paused := Health{Status: EndpointPaused, Failures: 3, FailingSince: at(-time.Hour), ProbeAt: at(30 * time.Second)}
	probeDue := Health{Status: EndpointPaused, Failures: 3, FailingSince: at(-time.Hour), ProbeAt: at(-time.Second)}
	tests := []struct {
		name string
		h    Health
		l    Lane
		want Admission
	}{
		{name: "a healthy endpoint with room goes", h: active, l: Lane{InFlight: 1}, want: Admission{Go: true}},
		{name: "an earlier event still open holds the report back until it is due", h: active, l: Lane{EarlierOpen: true, EarlierDue: t0.Add(20 * time.Second)},
			want: Admission{Wait: 20 * time.Second, Reason: "ordering"}},
		{name: "the order wait is at least OrderWaitMin", h: active, l: Lane{EarlierOpen: true, EarlierDue: t0.Add(-time.Minute)},
			want: Admission{Wait: OrderWaitMin, Reason: "ordering"}},
		{name: "and at most OrderWaitMax (it is woken sooner)", h: active, l: Lane{EarlierOpen: true, EarlierDue: t0.Add(5 * time.Hour)},
			want: Admission{Wait: OrderWaitMax, Reason: "ordering"}},
		{name: "the concurrency limit holds", h: active, l: Lane{InFlight: 2}, want: Admission{Wait: ConcurrencyWait, Reason: "concurrency"}},
		{name: "a paused endpoint waits for its probe", h: paused, want: Admission{Wait: 30 * time.Second, Reason: "paused"}},
		{name: "a due probe goes alone", h: probeDue, want: Admission{Go: true, Probe: true}},
		{name: "no second probe while one is on the wire", h: probeDue, l: Lane{InFlight: 1}, want: Admission{Wait: ConcurrencyWait, Reason: "paused"}},
		{name: "order comes before the probe", h: probeDue, l: Lane{EarlierOpen: true, EarlierDue: t0.Add(2 * time.Second)},
			want: Admission{Wait: 2 * time.Second, Reason: "ordering"}},
		{name: "a disabled endpoint sends nothing", h: Health{Status: EndpointDisabled}, want: Admission{Wait: DisabledWait, Reason: "disabled"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, policy.Admit(tt.h, tt.l, t0)); diff != "" {
				t.Errorf("Admit (-want +got):\n%s", diff)
			}
		})
	}
}
