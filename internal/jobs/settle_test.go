package jobs

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/reportd/reportd/internal/domain"
	"github.com/reportd/reportd/internal/webhook"
)

// TestSettle pins what every kind of attempt does to its delivery, for the
// single task and the batch alike. The schedule adds jitter (up to 10% of
// a delay, at most a minute) where it decides the wait, so a row's Delay is
// the earliest allowed and jittered says the schedule's jitter may follow.
func TestSettle(t *testing.T) {
	sched := webhook.Schedule{5 * time.Second, 5 * time.Minute, 2 * time.Hour}
	failed := func(code int, retryAfter time.Duration) webhook.Result {
		return webhook.Result{Outcome: webhook.OutcomeFailed, StatusCode: code, RetryAfter: retryAfter, Err: fmt.Errorf("receiver answered %d", code)}
	}
	tests := []struct {
		name     string
		res      webhook.Result
		retried  int
		final    bool
		want     settlement
		jittered bool
	}{
		{name: "2xx delivers", res: webhook.Result{Outcome: webhook.OutcomeDelivered, StatusCode: 204},
			want: settlement{Status: domain.DeliveryDelivered}},
		{name: "2xx on the last attempt still delivers", res: webhook.Result{Outcome: webhook.OutcomeDelivered, StatusCode: 200}, retried: 3, final: true,
			want: settlement{Status: domain.DeliveryDelivered}},
		{name: "500 retries on the schedule", res: failed(500, 0),
			want: settlement{Status: domain.DeliveryFailing, Delay: 5 * time.Second}, jittered: true},
		{name: "the schedule goes on from retried", res: failed(500, 0), retried: 2,
			want: settlement{Status: domain.DeliveryFailing, Delay: 2 * time.Hour}, jittered: true},
		{name: "past the schedule's end its last delay repeats", res: failed(502, 0), retried: 7,
			want: settlement{Status: domain.DeliveryFailing, Delay: 2 * time.Hour}, jittered: true},
		{name: "timeout retries", res: webhook.Result{Outcome: webhook.OutcomeTimeout, Err: errors.New("no response within 15s")}, retried: 1,
			want: settlement{Status: domain.DeliveryFailing, Delay: 5 * time.Minute}, jittered: true},
		{name: "a network error retries", res: webhook.Result{Outcome: webhook.OutcomeFailed, Err: errors.New("connection refused")},
			want: settlement{Status: domain.DeliveryFailing, Delay: 5 * time.Second}, jittered: true},
		{name: "3xx is a failure that retries", res: failed(301, 0),
			want: settlement{Status: domain.DeliveryFailing, Delay: 5 * time.Second}, jittered: true},
		{name: "the last failed attempt is dead", res: failed(500, 0), retried: 3, final: true,
			want: settlement{Status: domain.DeliveryDead}},
		{name: "a timeout on the last attempt is dead", res: webhook.Result{Outcome: webhook.OutcomeTimeout, Err: errors.New("no response")}, final: true,
			want: settlement{Status: domain.DeliveryDead}},
		{name: "410 disables, whatever the attempt", res: webhook.Result{Outcome: webhook.OutcomeGone, StatusCode: 410, Err: errors.New("gone")}, retried: 1,
			want: settlement{Status: domain.DeliveryDisabled}},
		{name: "410 on the last attempt disables", res: webhook.Result{Outcome: webhook.OutcomeGone, StatusCode: 410, Err: errors.New("gone")}, retried: 3, final: true,
			want: settlement{Status: domain.DeliveryDisabled}},
		{name: "a blocked URL is dead on the first attempt", res: webhook.Result{Outcome: webhook.OutcomeBlocked, Err: fmt.Errorf("%w: address 10.0.0.1 is not public", webhook.ErrBlocked)},
			want: settlement{Status: domain.DeliveryDead}},
		{name: "an invalid secret is dead on the first attempt", res: webhook.Result{Outcome: webhook.OutcomeFailed, Err: fmt.Errorf("secret 0: %w: bad base64", webhook.ErrInvalidSecret)},
			want: settlement{Status: domain.DeliveryDead}},
		{name: "429 Retry-After later than the schedule is honoured", res: failed(429, 8*time.Second),
			want: settlement{Status: domain.DeliveryFailing, Delay: 8 * time.Second}},
		{name: "503 Retry-After later than the schedule is honoured", res: failed(503, 7*time.Minute), retried: 1,
			want: settlement{Status: domain.DeliveryFailing, Delay: 7 * time.Minute}},
		{name: "Retry-After is capped at twice the scheduled delay", res: failed(429, time.Hour),
			want: settlement{Status: domain.DeliveryFailing, Delay: 10 * time.Second}},
		{name: "Retry-After sooner than the schedule waits for the schedule", res: failed(503, time.Second),
			want: settlement{Status: domain.DeliveryFailing, Delay: 5 * time.Second}, jittered: true},
		{name: "Retry-After on the last attempt is dead", res: failed(429, 2*time.Second), retried: 3, final: true,
			want: settlement{Status: domain.DeliveryDead}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := settle(tt.res, sched, tt.retried, tt.final)
			if tt.jittered {
				// Jitter is additive only: never earlier than the schedule.
				jitter := min(time.Duration(float64(tt.want.Delay)*webhook.JitterFraction), webhook.MaxJitter)
				if got.Delay < tt.want.Delay || got.Delay > tt.want.Delay+jitter {
					t.Fatalf("delay %s, want %s plus at most %s of jitter", got.Delay, tt.want.Delay, jitter)
				}
				got.Delay = tt.want.Delay
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("settle (-want +got):\n%s", diff)
			}
		})
	}
}

func TestSettlementNext(t *testing.T) {
	now := time.Date(2026, 4, 1, 12, 0, 0, 0, time.UTC)
	for _, tt := range []struct {
		s    settlement
		want time.Time
	}{
		{settlement{Status: domain.DeliveryDelivered}, now},
		{settlement{Status: domain.DeliveryDead}, now},
		{settlement{Status: domain.DeliveryFailing, Delay: 5 * time.Second}, now.Add(5 * time.Second)},
	} {
		if got := tt.s.next(now); !got.Equal(tt.want) {
			t.Errorf("%+v.next(now) = %s, want %s", tt.s, got, tt.want)
		}
	}
}
