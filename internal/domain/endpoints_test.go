package domain

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestEventSequence(t *testing.T) {
	for _, tt := range []struct {
		event   string
		running bool
		want    int
	}{
		{EventRunning, false, 1},
		{EventSucceeded, true, 2},
		{EventFailed, true, 2},
		{EventFailed, false, 1}, // failed while still queued
		{EventCanceled, false, 1},
		{EventCanceled, true, 2},
		{EventExpired, true, 3},
	} {
		if got := EventSequence(tt.event, tt.running); got != tt.want {
			t.Errorf("EventSequence(%s, running announced %v) = %d, want %d", tt.event, tt.running, got, tt.want)
		}
	}
}

// TestNewEvent: the body carries data.sequence; only succeeded and failed
// go to the report's own URL.
func TestNewEvent(t *testing.T) {
	now := time.Date(2026, 4, 1, 12, 0, 0, 0, time.UTC)
	r := Report{ID: "rep_1", Status: StatusRunning, WebhookURL: "https://own.example/h", RunningAnnounced: true, CreatedAt: now}
	type got struct {
		URL, Type, WebhookStatus string
		Sequence                 int
	}
	var list []got
	for _, ev := range []string{EventRunning, EventSucceeded, EventCanceled} {
		d, err := NewEvent(r, ev, "msg_1", now)
		if err != nil {
			t.Fatal(err)
		}
		var body struct {
			Type string `json:"type"`
			Data struct {
				Sequence int `json:"sequence"`
				Webhook  struct {
					Status string `json:"status"`
				} `json:"webhook"`
			} `json:"data"`
		}
		if err := json.Unmarshal(d.Body, &body); err != nil {
			t.Fatal(err)
		}
		if body.Data.Sequence != d.Sequence {
			t.Errorf("%s: body sequence %d, delivery %d", ev, body.Data.Sequence, d.Sequence)
		}
		list = append(list, got{URL: d.URL, Type: body.Type, WebhookStatus: body.Data.Webhook.Status, Sequence: d.Sequence})
	}
	want := []got{
		{URL: "", Type: EventRunning, WebhookStatus: "none", Sequence: 1},
		{URL: "https://own.example/h", Type: EventSucceeded, WebhookStatus: "pending", Sequence: 2},
		{URL: "", Type: EventCanceled, WebhookStatus: "none", Sequence: 2},
	}
	if diff := cmp.Diff(want, list); diff != "" {
		t.Errorf("events (-want +got):\n%s", diff)
	}
}
