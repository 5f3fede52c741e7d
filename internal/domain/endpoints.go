package domain

import (
	"encoding/json"
	"fmt"
	"slices"
	"time"
)

// More event types a webhook announces (see also EventSucceeded and the
// rest). Endpoints may choose any of EventTypes; the report's own URL (or
// its client's default URL) gets only report.succeeded and report.failed.
const (
	EventRunning = "report.running"
	EventExpired = "report.expired"
)

// EventTypes lists every event type, in the order a report's events happen.
var EventTypes = []string{EventRunning, EventSucceeded, EventFailed, EventCanceled, EventExpired}

// KnownEventType reports whether t is one of EventTypes.
func KnownEventType(t string) bool { return slices.Contains(EventTypes, t) }

// DefaultTargetGets reports whether the implicit target (the report's
// webhook_url or the client's default URL) receives event type t: only
// the two it always received, so existing receivers see nothing new.
func DefaultTargetGets(t string) bool { return t == EventSucceeded || t == EventFailed }

// EventSequence is an event's data.sequence within its report, 1, 2, …:
// report.running (announced at most once) comes first, then the one
// outcome (succeeded, failed or canceled), then report.expired. It follows
// from whether running was announced, so every writer of an event agrees
// without a counter.
func EventSequence(eventType string, runningAnnounced bool) int {
	seq := 1
	if runningAnnounced {
		seq = 2
	}
	switch eventType {
	case EventRunning:
		return 1
	case EventExpired:
		return seq + 1
	}
	return seq
}

// EventData is an event's data: the report resource as it stood, and the
// event's place among the report's events.
type EventData struct {
	Resource
	Sequence int `json:"sequence"`
}

// NewEvent freezes a report's event now: its body never changes, so every
// retry and replay to every target sends the same bytes. url is the
// default target's URL ("" when the report has none, or the event is not
// one that target gets); the store adds a delivery for every matching
// endpoint.
func NewEvent(r Report, eventType, id string, now time.Time) (NewDelivery, error) {
	if r.WebhookURL != "" && DefaultTargetGets(eventType) {
		r.WebhookStatus = "pending" // this event's delivery to the report's own URL
	}
	seq := EventSequence(eventType, r.RunningAnnounced)
	body, err := json.Marshal(struct {
		Type      string    `json:"type"`
		Timestamp time.Time `json:"timestamp"`
		Data      EventData `json:"data"`
	}{eventType, now.UTC(), EventData{Resource: r.ToResource("", time.Time{}), Sequence: seq}})
	if err != nil {
		return NewDelivery{}, fmt.Errorf("encode %s event of %s: %w", eventType, r.ID, err)
	}
	url := r.WebhookURL
	if !DefaultTargetGets(eventType) {
		url = ""
	}
	return NewDelivery{ID: id, EventType: eventType, URL: url, Body: body, Sequence: seq}, nil
}

// Endpoint is one of a client's webhook endpoints.
type Endpoint struct {
	ID           string         `json:"id"`
	Object       string         `json:"object"`
	ClientID     string         `json:"-"`
	URL          string         `json:"url"`
	Description  string         `json:"description"`
	Events       []string       `json:"events"`
	Signing      string         `json:"signing"` // "endpoint": its own secret; "client": the client's keys
	Status       EndpointStatus `json:"status"`
	FailingSince *time.Time     `json:"failing_since"`
	DisabledAt   *time.Time     `json:"disabled_at"`
	CreatedAt    time.Time      `json:"created_at"`
	UpdatedAt    time.Time      `json:"updated_at"`
	// Secret is set only in the answer that created it, never again.
	Secret string `json:"secret,omitempty"`
}

// EndpointStatus mirrors webhook.EndpointStatus for the stores and the API.
type EndpointStatus string

// Endpoint statuses (see webhook.EndpointActive and the rest).
const (
	EndpointActive   EndpointStatus = "active"
	EndpointPaused   EndpointStatus = "paused"
	EndpointDisabled EndpointStatus = "disabled"
)

// Endpoint signing choices.
const (
	SigningEndpoint = "endpoint"
	SigningClient   = "client"
)

// MaxEndpointsPerClient is how many live endpoints a client may have.
const MaxEndpointsPerClient = 10

// ErrTooMany means a client already has MaxEndpointsPerClient endpoints.
var ErrTooMany = fmt.Errorf("too many webhook endpoints (at most %d)", MaxEndpointsPerClient)

// EndpointChange is a PATCH: nil fields stay as they are.
type EndpointChange struct {
	URL         *string
	Description *string
	Events      *[]string
	// Enable makes a paused or disabled endpoint active with a clean
	// health record.
	Enable bool
}
