package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/reportd/reportd/internal/testenv"
)

type endpointBody struct {
	ID           string   `json:"id"`
	URL          string   `json:"url"`
	Events       []string `json:"events"`
	Signing      string   `json:"signing"`
	Status       string   `json:"status"`
	FailingSince *string  `json:"failing_since"`
	Secret       string   `json:"secret"`
}

type eventBody struct {
	Type string `json:"type"`
	Data struct {
		ID       string `json:"id"`
		Sequence int    `json:"sequence"`
	} `json:"data"`
}

// receipt is one attempt as the receiver saw it, and what it answered.
type receipt struct {
	id     string
	event  eventBody
	status int
}

// TestEndpointReceiverDownThenUp is the scenario of issue #15: an endpoint
// that is down for a while and then comes back. While it is down the
// breaker pauses it after WEBHOOK_BREAKER_FAILURES failures, and the probes
// that follow burn no delivery's retries: far more failed attempts reach
// it than the retry schedule allows any one delivery, and none dies. Once
// it answers, every event arrives, each report's in sequence order, and
// the report's own URL saw only report.succeeded all along.
func TestEndpointReceiverDownThenUp(t *testing.T) {
	t.Parallel()
	// Three attempts per delivery: without the breaker, everything would be
	// dead within seconds of the outage.
	env := testenv.New(t, map[string]string{"WEBHOOK_RETRY_SCHEDULE": "1s,1s", "WEBHOOK_BREAKER_FAILURES": "3"})
	client, own := env.CreateClientWithReceiver(t, "Endpoint Outage Ltd")
	env.StartAPI(t)
	env.StartWorker(t)
	customer := seedOrders(t, env, client.ID, 1, 3).Customers[0]

	var up atomic.Bool
	var mu sync.Mutex
	var receipts []receipt
	ep := testenv.NewReceiver(t)
	ep.Secret = client.Secret // signing: client
	ep.Respond = func(_ int, d testenv.Delivery) int {
		status := http.StatusServiceUnavailable
		if up.Load() {
			status = http.StatusNoContent
		}
		var ev eventBody
		if err := json.Unmarshal(d.Body, &ev); err != nil {
			t.Errorf("endpoint got a body that is not an event: %s", d.Body)
		}
		mu.Lock()
		receipts = append(receipts, receipt{id: d.ID, event: ev, status: status})
		mu.Unlock()
		return status
	}
	resp := env.Do(t, client.APIKey, http.MethodPost, "/v1/webhook-endpoints",
		fmt.Sprintf(`{"url":%q,"description":"lifecycle"}`, ep.URL))
	expectStatus(t, resp, http.StatusCreated)
	endpoint := decode[endpointBody](t, resp)
	if endpoint.Status != "active" || endpoint.Signing != "client" || endpoint.Secret != "" || len(endpoint.Events) != 0 {
		t.Fatalf("new endpoint: %+v", endpoint)
	}

	const reports = 4
	var reportIDs []string
	for range reports {
		body := fmt.Sprintf(`{"type":"order_history","format":"csv","params":{"customer_id":%q,"from":"2026-01-01","to":"2026-03-31"}}`, customer)
		resp := env.Do(t, client.APIKey, http.MethodPost, "/v1/reports", body)
		expectStatus(t, resp, http.StatusAccepted)
		reportIDs = append(reportIDs, decode[reportBody](t, resp).ID)
	}

	get := func() endpointBody {
		resp := env.Do(t, client.APIKey, http.MethodGet, "/v1/webhook-endpoints/"+endpoint.ID, "")
		expectStatus(t, resp, http.StatusOK)
		return decode[endpointBody](t, resp)
	}
	testenv.Eventually(t, 60*time.Second, "the endpoint to be paused", func() bool { return get().Status == "paused" })
	if e := get(); e.FailingSince == nil {
		t.Fatalf("a paused endpoint without failing_since: %+v", e)
	}
	// Probes continue, one per backoff step, well past the three attempts
	// any delivery may make.
	allowed := 3 * 2 * reports // attempts × events × reports, if each burnt its own
	ep.WaitFor(t, 90*time.Second, "probes past every delivery's retry budget", func(d []testenv.Delivery) bool { return len(d) > allowed })
	dead := decode[deliveryList](t, env.Do(t, client.APIKey, http.MethodGet, "/v1/deliveries?status=dead&endpoint_id="+endpoint.ID, ""))
	if len(dead.Data) != 0 {
		t.Fatalf("%d deliveries to the paused endpoint died; the breaker must keep their retries", len(dead.Data))
	}

	up.Store(true)
	testenv.Eventually(t, 90*time.Second, "every event to reach the endpoint", func() bool {
		list := decode[deliveryList](t, env.Do(t, client.APIKey, http.MethodGet, "/v1/deliveries?limit=100&endpoint_id="+endpoint.ID, ""))
		delivered := 0
		for _, d := range list.Data {
			if d.Status == "delivered" {
				delivered++
			}
		}
		return len(list.Data) == 2*reports && delivered == 2*reports
	})
	if e := get(); e.Status != "active" || e.FailingSince != nil {
		t.Fatalf("endpoint after it came back: %+v, want active and not failing", e)
	}

	// Order: a report's report.succeeded (sequence 2) was never sent before
	// its report.running (sequence 1) was acknowledged.
	mu.Lock()
	got := append([]receipt(nil), receipts...)
	mu.Unlock()
	runningAcked := map[string]bool{}
	delivered := map[string]bool{}
	for _, r := range got {
		switch r.event.Data.Sequence {
		case 1:
			if r.event.Type != "report.running" {
				t.Errorf("sequence 1 is %s, want report.running", r.event.Type)
			}
			if r.status == http.StatusNoContent {
				runningAcked[r.event.Data.ID] = true
			}
		case 2:
			if r.event.Type != "report.succeeded" {
				t.Errorf("sequence 2 is %s, want report.succeeded", r.event.Type)
			}
			if !runningAcked[r.event.Data.ID] {
				t.Errorf("report %s: report.succeeded went out before its report.running was delivered", r.event.Data.ID)
			}
		default:
			t.Errorf("unexpected sequence %d (%s)", r.event.Data.Sequence, r.event.Type)
		}
		if r.status == http.StatusNoContent {
			delivered[r.id] = true
		}
	}
	if len(delivered) != 2*reports {
		t.Errorf("%d distinct webhook-ids acknowledged, want %d (nothing lost, nothing merged)", len(delivered), 2*reports)
	}
	spec := testenv.NewSpecValidator(t)
	for _, d := range ep.Deliveries() {
		if d.Verified != nil {
			t.Errorf("endpoint delivery %s did not verify: %v", d.ID, d.Verified)
		}
		var ev eventBody
		_ = json.Unmarshal(d.Body, &ev)
		spec.CheckWebhook(t, ev.Type, d.Header, d.Body)
	}

	// The report's own URL: one report.succeeded per report, each with its
	// own webhook-id, never an endpoint's.
	seen := own.WaitFor(t, 60*time.Second, "the report's own URL to get every report.succeeded", func(d []testenv.Delivery) bool { return len(distinctIDs(d)) == reports })
	for _, d := range seen {
		var ev eventBody
		_ = json.Unmarshal(d.Body, &ev)
		if ev.Type != "report.succeeded" {
			t.Errorf("the report's own URL got %s; it gets only report.succeeded and report.failed", ev.Type)
		}
		if delivered[d.ID] {
			t.Errorf("webhook-id %s went to both targets", d.ID)
		}
	}
	for _, id := range reportIDs {
		list := decode[deliveryList](t, env.Do(t, client.APIKey, http.MethodGet, "/v1/reports/"+id+"/deliveries", ""))
		if len(list.Data) != 3 {
			t.Errorf("report %s has %d deliveries, want 3 (running and succeeded to the endpoint, succeeded to its URL)", id, len(list.Data))
		}
	}
}

// TestEndpointsAPI: the CRUD surface, with its limits and tenancy, through
// the real server (every exchange checked against openapi.yaml).
func TestEndpointsAPI(t *testing.T) {
	t.Parallel()
	env, client := apiEnv(t, nil)
	other := env.CreateClient(t, "Other Ltd", "")
	resp := env.Do(t, client.APIKey, http.MethodPost, "/v1/webhook-endpoints",
		`{"url":"https://hooks.example.com/a","events":["report.canceled","report.expired"],"signing":"endpoint"}`)
	expectStatus(t, resp, http.StatusCreated)
	e := decode[endpointBody](t, resp)
	if !strings.HasPrefix(e.Secret, "whsec_") || e.Signing != "endpoint" {
		t.Fatalf("an endpoint with its own secret: %+v", e)
	}
	resp = env.Do(t, client.APIKey, http.MethodGet, "/v1/webhook-endpoints/"+e.ID, "")
	expectStatus(t, resp, http.StatusOK)
	if again := decode[endpointBody](t, resp); again.Secret != "" {
		t.Fatal("GET returned the endpoint's secret; it is shown once, at creation")
	}
	expectStatus(t, env.Do(t, other.APIKey, http.MethodGet, "/v1/webhook-endpoints/"+e.ID, ""), http.StatusNotFound)
	expectStatus(t, env.Do(t, other.APIKey, http.MethodPatch, "/v1/webhook-endpoints/"+e.ID, `{"description":"mine"}`), http.StatusNotFound)
	expectStatus(t, env.Do(t, other.APIKey, http.MethodDelete, "/v1/webhook-endpoints/"+e.ID, ""), http.StatusNotFound)
	resp = env.Do(t, client.APIKey, http.MethodPatch, "/v1/webhook-endpoints/"+e.ID, `{"events":[],"description":"all events"}`)
	expectStatus(t, resp, http.StatusOK)
	if p := decode[endpointBody](t, resp); len(p.Events) != 0 {
		t.Fatalf("after PATCH events []: %+v", p)
	}
	expectStatus(t, env.Do(t, client.APIKey, http.MethodPatch, "/v1/webhook-endpoints/"+e.ID, `{"status":"paused"}`), http.StatusUnprocessableEntity)
	expectStatus(t, env.Do(t, client.APIKey, http.MethodPatch, "/v1/webhook-endpoints/"+e.ID, `{"url":"https://127.0.0.1.nip.io:99999/x"}`), http.StatusUnprocessableEntity)
	for range 9 {
		expectStatus(t, env.Do(t, client.APIKey, http.MethodPost, "/v1/webhook-endpoints", `{"url":"https://hooks.example.com/more"}`), http.StatusCreated)
	}
	expectStatus(t, env.Do(t, client.APIKey, http.MethodPost, "/v1/webhook-endpoints", `{"url":"https://hooks.example.com/eleventh"}`), http.StatusConflict)
	resp = env.Do(t, client.APIKey, http.MethodGet, "/v1/webhook-endpoints", "")
	expectStatus(t, resp, http.StatusOK)
	if list := decode[struct{ Data []endpointBody }](t, resp); len(list.Data) != 10 {
		t.Fatalf("listed %d endpoints, want 10", len(list.Data))
	}
	// A cancel is an event the endpoint asked for (no worker runs here, so
	// the delivery stays pending) and the report's own URL does not get.
	resp = env.Do(t, client.APIKey, http.MethodPatch, "/v1/webhook-endpoints/"+e.ID, `{"events":["report.canceled"]}`)
	expectStatus(t, resp, http.StatusOK)
	resp = env.Do(t, client.APIKey, http.MethodPost, "/v1/reports", validReport)
	expectStatus(t, resp, http.StatusAccepted)
	rep := decode[reportBody](t, resp).ID
	expectStatus(t, env.Do(t, client.APIKey, http.MethodPost, "/v1/reports/"+rep+"/cancel", ""), http.StatusOK)
	type delivery struct {
		EventType  string  `json:"event_type"`
		EndpointID *string `json:"endpoint_id"`
		Sequence   int     `json:"sequence"`
		Status     string  `json:"status"`
	}
	resp = env.Do(t, client.APIKey, http.MethodGet, "/v1/reports/"+rep+"/deliveries", "")
	expectStatus(t, resp, http.StatusOK)
	// All ten endpoints take report.canceled (nine take every event); the
	// report's own URL takes none.
	statusTo := func() (int, string) {
		resp := env.Do(t, client.APIKey, http.MethodGet, "/v1/reports/"+rep+"/deliveries", "")
		expectStatus(t, resp, http.StatusOK)
		ds := decode[struct{ Data []delivery }](t, resp).Data
		status := ""
		for _, d := range ds {
			if d.EventType != "report.canceled" || d.EndpointID == nil || d.Sequence != 1 {
				t.Fatalf("a canceled report's delivery %+v, want report.canceled, sequence 1, to an endpoint", d)
			}
			if *d.EndpointID == e.ID {
				status = d.Status
			}
		}
		return len(ds), status
	}
	if n, status := statusTo(); n != 10 || status != "pending" {
		t.Fatalf("a canceled report has %d deliveries (%q to %s), want 10, one pending to it", n, status, e.ID)
	}
	expectStatus(t, env.Do(t, client.APIKey, http.MethodDelete, "/v1/webhook-endpoints/"+e.ID, ""), http.StatusNoContent)
	if _, status := statusTo(); status != "disabled" {
		t.Fatalf("after the endpoint was deleted its pending delivery is %q, want disabled", status)
	}
	expectStatus(t, env.Do(t, client.APIKey, http.MethodGet, "/v1/webhook-endpoints/"+e.ID, ""), http.StatusNotFound)
	expectStatus(t, env.Do(t, client.APIKey, http.MethodPost, "/v1/deliveries/replay", `{"endpoint_id":"`+e.ID+`","until":"2030-01-01T00:00:00Z"}`), http.StatusAccepted)
}

// TestEndpointConcurrencyHoldsAcrossWorkers: two worker processes share
// one endpoint's WEBHOOK_ENDPOINT_CONCURRENCY. The receiver holds every
// request until the workers have been turned away for want of a place;
// at no moment are more than the limit on the wire, and then all arrive.
func TestEndpointConcurrencyHoldsAcrossWorkers(t *testing.T) {
	t.Parallel()
	const limit, reports = 2, 6
	env := testenv.New(t, map[string]string{"WEBHOOK_ENDPOINT_CONCURRENCY": "2", "WEBHOOK_TIMEOUT": "60s"})
	client := env.CreateClient(t, "Busy Receiver Ltd", "")
	env.StartAPI(t)
	env.StartWorker(t)
	env.StartWorker(t)
	customer := seedOrders(t, env, client.ID, 1, 2).Customers[0]

	gate := make(chan struct{})
	var inFlight, most atomic.Int32
	ep := testenv.NewReceiver(t)
	ep.Secret = client.Secret
	ep.Respond = func(int, testenv.Delivery) int {
		n := inFlight.Add(1)
		defer inFlight.Add(-1)
		for m := most.Load(); n > m && !most.CompareAndSwap(m, n); m = most.Load() {
		}
		<-gate
		return http.StatusNoContent
	}
	expectStatus(t, env.Do(t, client.APIKey, http.MethodPost, "/v1/webhook-endpoints",
		fmt.Sprintf(`{"url":%q,"events":["report.succeeded"]}`, ep.URL)), http.StatusCreated)
	for range reports {
		body := fmt.Sprintf(`{"type":"order_history","format":"csv","params":{"customer_id":%q,"from":"2026-01-01","to":"2026-03-31"}}`, customer)
		expectStatus(t, env.Do(t, client.APIKey, http.MethodPost, "/v1/reports", body), http.StatusAccepted)
	}
	testenv.Eventually(t, 60*time.Second, "the endpoint's places to fill and a delivery to be turned away", func() bool {
		return inFlight.Load() == limit && strings.Contains(env.Logs.String(), `"reason":"concurrency"`)
	})
	close(gate)
	ep.WaitFor(t, 90*time.Second, "every report.succeeded", func(d []testenv.Delivery) bool { return len(distinctIDs(d)) == reports })
	if m := most.Load(); m > limit {
		t.Fatalf("%d attempts were on the wire at once, across two workers; the limit is %d", m, limit)
	}
	if strings.Contains(env.Logs.String(), `"msg":"webhook attempt failed`) {
		t.Error("an attempt failed; waiting for a place must not be one")
	}
}
