package jobs

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/reportd/reportd/internal/domain"
	"github.com/reportd/reportd/internal/webhook"
)

func endpointDelivery(id string) domain.Delivery {
	d := deliveryFixture(id, domain.DeliveryFailing)
	ep := "ep_1"
	d.EndpointID = &ep
	return d
}

// TestEndpointDeliveryCases drives one task run of a delivery to an
// endpoint through each case of admission and breaker. Waiting must never
// cost an attempt: it returns the not-a-failure wait, which asynq neither
// counts nor archives.
func TestEndpointDeliveryCases(t *testing.T) {
	probeDue := webhook.Health{Status: webhook.EndpointPaused, Failures: 3, FailingSince: timePtr(deliverNow.Add(-time.Hour)), ProbeAt: timePtr(deliverNow.Add(-time.Second))}
	ok := webhook.Result{Outcome: webhook.OutcomeDelivered, StatusCode: 204}
	down := webhook.Result{Outcome: webhook.OutcomeFailed, StatusCode: 503, Err: errors.New("receiver answered 503")}
	tests := []struct {
		name       string
		health     webhook.Health
		lane       webhook.Lane
		res        *webhook.Result // nil: no attempt expected
		final      bool
		wantStatus domain.DeliveryStatus // what RecordAttempt is told
		wantWait   bool                  // a wait that burns no attempt
		wantHealth webhook.EndpointStatus
		wantWoken  []string
	}{
		{name: "an earlier event open: wait, no attempt", health: webhook.Health{Status: webhook.EndpointActive},
			lane: webhook.Lane{EarlierOpen: true, EarlierDue: deliverNow.Add(time.Minute)}, wantWait: true, wantHealth: webhook.EndpointActive},
		{name: "the endpoint is at its concurrency limit: wait", health: webhook.Health{Status: webhook.EndpointActive},
			lane: webhook.Lane{InFlight: 2}, wantWait: true, wantHealth: webhook.EndpointActive},
		{name: "paused before its probe: wait", health: webhook.Health{Status: webhook.EndpointPaused, Failures: 3, ProbeAt: timePtr(deliverNow.Add(time.Minute))},
			wantWait: true, wantHealth: webhook.EndpointPaused},
		{name: "delivered: the report's next event is woken", health: webhook.Health{Status: webhook.EndpointActive}, res: &ok,
			wantStatus: domain.DeliveryDelivered, wantHealth: webhook.EndpointActive, wantWoken: []string{"msg_next"}},
		{name: "the failure that reaches the threshold pauses; the retry is on the schedule", health: webhook.Health{Status: webhook.EndpointActive, Failures: 2, FailingSince: timePtr(deliverNow)},
			res: &down, wantStatus: domain.DeliveryFailing, wantHealth: webhook.EndpointPaused},
		{name: "a failed probe waits for the next, even on the last attempt", health: probeDue, res: &down, final: true,
			wantStatus: domain.DeliveryFailing, wantWait: true, wantHealth: webhook.EndpointPaused},
		{name: "a successful probe resumes and wakes what waits", health: probeDue, res: &ok,
			wantStatus: domain.DeliveryDelivered, wantHealth: webhook.EndpointActive, wantWoken: []string{"msg_next"}},
		{name: "410 disables the endpoint, not the client's URL", health: webhook.Health{Status: webhook.EndpointActive},
			res: &webhook.Result{Outcome: webhook.OutcomeGone, StatusCode: 410, Err: errors.New("gone")}, wantStatus: domain.DeliveryDisabled, wantHealth: webhook.EndpointDisabled, wantWoken: []string{"msg_next"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var recorded []domain.DeliveryStatus
			store := &fakeDeliveryStore{
				LoadDeliveryToSendFunc: func(context.Context, string) (domain.Delivery, []string, error) {
					return endpointDelivery("msg_1"), []string{"whsec_x"}, nil
				},
				RecordAttemptFunc: func(_ context.Context, _ string, _ domain.AttemptRecord, s domain.DeliveryStatus, _ time.Time) (int, error) {
					recorded = append(recorded, s)
					return len(recorded), nil
				},
			}
			sender := &fakeSender{}
			if tt.res != nil {
				sender.SendFunc = func(context.Context, webhook.Message) webhook.Result { return *tt.res }
			}
			d, _ := newFakeDeliverer(store, sender)
			eps := &fakeEndpointStore{Health: tt.health, Lane: tt.lane, Waiting: []domain.WorkRef{{ID: "msg_next", ReportID: "rep_msg_1", ClientID: "cli_1"}}}
			waker := &fakeWaker{}
			d.Endpoints, d.Wake = eps, waker
			d.Breaker = webhook.BreakerPolicy{Failures: 3, DisableAfter: 24 * time.Hour, Probes: webhook.Schedule{time.Minute}, Concurrency: 2}

			err := d.deliver(context.Background(), DeliveryPayload{DeliveryID: "msg_1"}, 1, tt.final)
			_, waited := errors.AsType[*waitError](err)
			if waited != tt.wantWait || (waited && IsFailure(err)) {
				t.Errorf("err = %v; a wait that is no failure: %v, want %v", err, waited, tt.wantWait)
			}
			var wantRecorded []domain.DeliveryStatus
			if tt.res != nil {
				wantRecorded = []domain.DeliveryStatus{tt.wantStatus}
			}
			if diff := cmp.Diff(wantRecorded, recorded); diff != "" {
				t.Errorf("recorded attempts (-want +got):\n%s", diff)
			}
			if eps.Health.Status != tt.wantHealth {
				t.Errorf("endpoint %s, want %s", eps.Health.Status, tt.wantHealth)
			}
			if (tt.res != nil) != (eps.settled == 1) {
				t.Errorf("endpoint health settled %d times for %v", eps.settled, tt.res)
			}
			if diff := cmp.Diff(tt.wantWoken, waker.woken); diff != "" {
				t.Errorf("woken (-want +got):\n%s", diff)
			}
		})
	}
}

// TestBatchHandsEndpointDeliveriesToTheirTasks: a bulk replay's batch sends
// only deliveries to the report's own URL; an endpoint's go to their own
// tasks, which wait their turn.
func TestBatchHandsEndpointDeliveriesToTheirTasks(t *testing.T) {
	own, ep := deliveryFixture("msg_own", domain.DeliveryPending), endpointDelivery("msg_ep")
	ep.Status = domain.DeliveryPending
	store := &fakeDeliveryStore{
		LoadDeliveriesToSendFunc: func(context.Context, string, []string) ([]domain.Delivery, []string, error) {
			return []domain.Delivery{own, ep}, []string{"whsec_x"}, nil
		},
		RecordAttemptsFunc: func(context.Context, []domain.AttemptOutcome) error { return nil },
	}
	var sent []string
	sender := &fakeSender{SendFunc: func(_ context.Context, m webhook.Message) webhook.Result {
		sent = append(sent, m.ID)
		return webhook.Result{Outcome: webhook.OutcomeDelivered, StatusCode: 200}
	}}
	d, _ := newFakeDeliverer(store, sender)
	var scheduled []string
	d.Retries = &fakeRetryScheduler{ScheduleDeliveryRetryFunc: func(_ context.Context, p DeliveryPayload, delay time.Duration) error {
		if delay != 0 || p.PriorAttempts != 0 {
			t.Errorf("endpoint delivery handed on with delay %s, prior %d; want 0 and 0", delay, p.PriorAttempts)
		}
		scheduled = append(scheduled, p.DeliveryID)
		return nil
	}}
	d.Endpoints = &fakeEndpointStore{}
	if err := d.ProcessBatch(context.Background(), batchTask(t, own.ID, ep.ID)); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"msg_own"}, sent); diff != "" {
		t.Errorf("sent by the batch (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"msg_ep"}, scheduled); diff != "" {
		t.Errorf("handed to their own tasks (-want +got):\n%s", diff)
	}
}

func timePtr(t time.Time) *time.Time { return &t }
