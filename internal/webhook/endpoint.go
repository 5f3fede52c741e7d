package webhook

import (
	"time"
)

// EndpointStatus is a webhook endpoint's health as its client sees it.
type EndpointStatus string

// Endpoint statuses.
const (
	// EndpointActive sends as deliveries come due.
	EndpointActive EndpointStatus = "active"
	// EndpointPaused failed too often in a row: its deliveries wait, burning
	// no attempts, while one probe per backoff step tests it.
	EndpointPaused EndpointStatus = "paused"
	// EndpointDisabled failed for longer than the policy allows: nothing is
	// sent until its client or an operator enables it again.
	EndpointDisabled EndpointStatus = "disabled"
)

// Health is the circuit breaker state of one endpoint.
type Health struct {
	Status       EndpointStatus
	Failures     int        // consecutive failed attempts
	FailingSince *time.Time // first failure of the current run; nil while healthy
	ProbeAt      *time.Time // paused: when the next probe may go
	ProbeStep    int        // paused: how many probes went out
}

// BreakerPolicy decides when an endpoint pauses, how often a paused one is
// probed and when it is disabled (WEBHOOK_BREAKER_FAILURES,
// WEBHOOK_RETRY_SCHEDULE and WEBHOOK_DISABLE_AFTER).
type BreakerPolicy struct {
	Failures     int           // consecutive failures that pause an endpoint; 0: never
	DisableAfter time.Duration // continuous failure that disables it; 0: never
	Probes       Schedule      // the wait before each probe, step by step
	Concurrency  int           // attempts in flight per endpoint; 0: no limit
}

// AfterAttempt is an endpoint's health after one attempt at one of its
// deliveries: a success closes the breaker; a failure counts, may pause the
// endpoint (the first probe one backoff step later), moves a paused
// endpoint's next probe on by a step, and disables an endpoint that has been
// failing for DisableAfter. A disabled endpoint stays disabled.
func (p BreakerPolicy) AfterAttempt(h Health, ok bool, now time.Time) Health {
	if h.Status == EndpointDisabled {
		return h
	}
	if ok {
		return Health{Status: EndpointActive}
	}
	h.Failures++
	if h.FailingSince == nil {
		t := now
		h.FailingSince = &t
	}
	if p.DisableAfter > 0 && now.Sub(*h.FailingSince) >= p.DisableAfter {
		return Health{Status: EndpointDisabled, Failures: h.Failures, FailingSince: h.FailingSince}
	}
	switch {
	case h.Status == EndpointPaused:
		h.ProbeStep++
	case p.Failures > 0 && h.Failures >= p.Failures:
		h.Status, h.ProbeStep = EndpointPaused, 0
	default:
		return h
	}
	at := now.Add(p.Probes.Delay(h.ProbeStep))
	h.ProbeAt = &at
	return h
}

// Lane is what decides whether one delivery to an endpoint may go now,
// besides the endpoint's health.
type Lane struct {
	// EarlierOpen says an earlier event of the same report to the same
	// endpoint is still pending or failing; EarlierDue is when it is
	// next attempted.
	EarlierOpen bool
	EarlierDue  time.Time
	InFlight    int // the endpoint's attempts in flight now (leases held)
}

// Admission is whether an attempt may go now and, if not, how long to wait
// before asking again (the waits burn no attempts).
type Admission struct {
	Go     bool
	Probe  bool          // the attempt is a paused endpoint's one probe
	Wait   time.Duration // !Go: ask again after this
	Reason string        // !Go: ordering, paused, disabled or concurrency
}

// Waits of deliveries that may not go yet. They are polls: a delivery is
// also woken when what held it back is settled.
const (
	// OrderWaitMin and OrderWaitMax bound the wait for an earlier event:
	// until it is next attempted, within these.
	OrderWaitMin = time.Second
	OrderWaitMax = time.Minute
	// ConcurrencyWait is the wait for a free place at a busy endpoint.
	ConcurrencyWait = time.Second
	// DisabledWait is how often a delivery to a disabled endpoint looks
	// whether it was enabled again.
	DisabledWait = 5 * time.Minute
)

// Admit decides whether a delivery to an endpoint may be attempted now.
// Order comes first (a report's later event waits for its earlier one,
// holding back only that report), then health (a paused endpoint lets one
// probe through when it is due), then the concurrency limit.
func (p BreakerPolicy) Admit(h Health, l Lane, now time.Time) Admission {
	if h.Status == EndpointDisabled {
		return Admission{Wait: DisabledWait, Reason: "disabled"}
	}
	if l.EarlierOpen {
		return Admission{Wait: min(max(l.EarlierDue.Sub(now), OrderWaitMin), OrderWaitMax), Reason: "ordering"}
	}
	if p.Concurrency > 0 && l.InFlight >= p.Concurrency {
		return Admission{Wait: ConcurrencyWait, Reason: "concurrency"}
	}
	if h.Status == EndpointPaused {
		if h.ProbeAt != nil && h.ProbeAt.After(now) {
			return Admission{Wait: max(h.ProbeAt.Sub(now), time.Second), Reason: "paused"}
		}
		if l.InFlight > 0 {
			return Admission{Wait: ConcurrencyWait, Reason: "paused"} // a probe is on the wire
		}
		return Admission{Go: true, Probe: true}
	}
	return Admission{Go: true}
}
