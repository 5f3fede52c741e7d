package e2e

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/reportd/reportd/internal/jobs"
	"github.com/reportd/reportd/internal/testenv"
)

// hookEnv is a running reportd with one seeded client whose webhooks go to
// a programmable receiver.
type hookEnv struct {
	env      *testenv.Env
	client   testenv.Client
	receiver *testenv.Receiver
	customer string
}

func newHookEnv(t *testing.T, vars map[string]string, respond func(attempt int, d testenv.Delivery) int) *hookEnv {
	t.Helper()
	env := testenv.New(t, vars)
	client, receiver := env.CreateClientWithReceiver(t, "Hook Test Ltd")
	receiver.Respond = respond
	env.StartAPI(t)
	env.StartWorker(t)
	sum := seedOrders(t, env, client.ID, 1, 3)
	return &hookEnv{env: env, client: client, receiver: receiver, customer: sum.Customers[0]}
}

func (h *hookEnv) submit(t *testing.T) string {
	t.Helper()
	body := fmt.Sprintf(`{"type":"order_history","format":"csv","params":{"customer_id":%q,"from":"2026-01-01","to":"2026-03-31"}}`, h.customer)
	resp := h.env.Do(t, h.client.APIKey, http.MethodPost, "/v1/reports", body)
	expectStatus(t, resp, http.StatusAccepted)
	return decode[reportBody](t, resp).ID
}

type deliveryBody struct {
	ID         string `json:"id"`
	Status     string `json:"status"`
	Attempts   int    `json:"attempts"`
	AttemptLog []struct {
		Attempt      int    `json:"attempt"`
		StatusCode   *int   `json:"status_code"`
		Outcome      string `json:"outcome"`
		Error        string `json:"error"`
		ResponseBody string `json:"response_body"`
	} `json:"attempt_log"`
}

type deliveryList struct {
	Data []deliveryBody `json:"data"`
}

// waitDelivery polls the report's deliveries until ok holds.
func (h *hookEnv) waitDelivery(t *testing.T, reportID string, timeout time.Duration, ok func(deliveryBody) bool) deliveryBody {
	t.Helper()
	var last deliveryList
	testenv.Eventually(t, timeout, "the delivery of "+reportID+" to reach the expected state", func() bool {
		last = decode[deliveryList](t, h.env.Do(t, h.client.APIKey, http.MethodGet, "/v1/reports/"+reportID+"/deliveries", ""))
		return len(last.Data) == 1 && ok(last.Data[0])
	})
	return last.Data[0]
}

func distinctIDs(ds []testenv.Delivery) map[string]int {
	ids := map[string]int{}
	for _, d := range ds {
		ids[d.ID]++
	}
	return ids
}

func TestWebhookRetriesUntilReceiverAccepts(t *testing.T) {
	t.Parallel()
	h := newHookEnv(t, map[string]string{"WEBHOOK_RETRY_SCHEDULE": "1s,1s,1s,1s"}, func(attempt int, _ testenv.Delivery) int {
		if attempt <= 3 {
			return http.StatusInternalServerError
		}
		return http.StatusOK
	})
	id := h.submit(t)
	d := h.waitDelivery(t, id, 60*time.Second, func(d deliveryBody) bool { return d.Status == "delivered" })
	if d.Attempts != 4 || len(d.AttemptLog) != 4 {
		t.Fatalf("delivered after %d attempts (%d logged), want 4", d.Attempts, len(d.AttemptLog))
	}
	for i, a := range d.AttemptLog[:3] {
		if a.StatusCode == nil || *a.StatusCode != 500 || a.Outcome != "failed" {
			t.Errorf("attempt %d: %+v, want a logged 500", i+1, a)
		}
	}
	if ids := distinctIDs(h.receiver.Deliveries()); len(ids) != 1 {
		t.Fatalf("receiver saw webhook-ids %v, want one stable id", ids)
	}
	for _, got := range h.receiver.Deliveries() {
		if got.Verified != nil {
			t.Fatalf("a retry did not verify: %v", got.Verified)
		}
	}
}

func TestWebhookDeadLetterThenReplay(t *testing.T) {
	t.Parallel()
	var down atomic.Bool
	down.Store(true)
	h := newHookEnv(t, map[string]string{"WEBHOOK_RETRY_SCHEDULE": "1s,1s"}, func(int, testenv.Delivery) int {
		if down.Load() {
			return http.StatusServiceUnavailable
		}
		return http.StatusNoContent
	})
	id := h.submit(t)
	dead := h.waitDelivery(t, id, 60*time.Second, func(d deliveryBody) bool { return d.Status == "dead" })
	if dead.Attempts != 3 {
		t.Fatalf("dead after %d attempts, want 3 (1 + 2 retries)", dead.Attempts)
	}
	list := decode[deliveryList](t, h.env.Do(t, h.client.APIKey, http.MethodGet, "/v1/deliveries?status=dead", ""))
	if len(list.Data) != 1 || list.Data[0].ID != dead.ID {
		t.Fatalf("GET /v1/deliveries?status=dead: %+v", list)
	}

	down.Store(false)
	resp := h.env.Do(t, h.client.APIKey, http.MethodPost, "/v1/deliveries/replay", `{"status":"dead"}`)
	expectStatus(t, resp, http.StatusAccepted)
	replay := decode[struct {
		Replayed int `json:"replayed"`
	}](t, resp)
	if replay.Replayed != 1 {
		t.Fatalf("replayed %d, want 1", replay.Replayed)
	}
	h.waitDelivery(t, id, 30*time.Second, func(d deliveryBody) bool { return d.Status == "delivered" })
	got := h.receiver.Deliveries()
	last := got[len(got)-1]
	if last.ID != dead.ID || last.Verified != nil {
		t.Fatalf("replayed delivery: id %s (want %s), verified: %v", last.ID, dead.ID, last.Verified)
	}
	if last.Timestamp == got[0].Timestamp {
		t.Fatal("the replay reused the first attempt's timestamp; it must be re-signed fresh")
	}
}

func TestWebhookGoneDisablesURL(t *testing.T) {
	t.Parallel()
	h := newHookEnv(t, map[string]string{"WEBHOOK_RETRY_SCHEDULE": "1s,1s"}, func(int, testenv.Delivery) int { return http.StatusGone })
	id := h.submit(t)
	d := h.waitDelivery(t, id, 30*time.Second, func(d deliveryBody) bool { return d.Status == "disabled" })
	// Once the task has finished with no retry due, no attempt can follow:
	// the sweeper only requeues pending and failing deliveries.
	testenv.Eventually(t, 10*time.Second, "the delivery's task to finish", func() bool {
		return archivedTaskState(t, h.env, d.ID) == ""
	})
	if n := len(h.receiver.Deliveries()); n != 1 || d.Attempts != 1 {
		t.Fatalf("after 410 the receiver got %d attempts (row says %d), want exactly 1", n, d.Attempts)
	}
	next := h.submit(t)
	rep := decode[reportBody](t, h.env.Do(t, h.client.APIKey, http.MethodGet, "/v1/reports/"+next+"?wait=30s", ""))
	if rep.Status != "succeeded" || rep.Webhook.Status != "none" {
		t.Fatalf("report after the URL was disabled: status %s, webhook %+v", rep.Status, rep.Webhook)
	}
}

func TestWebhookHonoursRetryAfter(t *testing.T) {
	t.Parallel()
	h := newHookEnv(t, map[string]string{"WEBHOOK_RETRY_SCHEDULE": "1s,1s"}, nil)
	h.receiver.Respond = func(attempt int, _ testenv.Delivery) int {
		if attempt == 1 {
			return http.StatusTooManyRequests
		}
		return http.StatusOK
	}
	h.receiver.Headers = func(attempt int) http.Header {
		if attempt == 1 {
			return http.Header{"Retry-After": []string{strconv.Itoa(2)}}
		}
		return nil
	}
	id := h.submit(t)
	h.waitDelivery(t, id, 30*time.Second, func(d deliveryBody) bool { return d.Status == "delivered" })
	got := h.receiver.Deliveries()
	if len(got) != 2 {
		t.Fatalf("got %d attempts, want 2", len(got))
	}
	// The schedule says 1s (+ up to 10% jitter); Retry-After asks for 2s, within the cap of 2 × 1s.
	if gap := got[1].At.Sub(got[0].At); gap < 1900*time.Millisecond {
		t.Fatalf("second attempt came %s after the 429, want at least the 2s Retry-After", gap)
	}
}

func TestWebhookTimeoutCountsAsFailure(t *testing.T) {
	t.Parallel()
	h := newHookEnv(t, map[string]string{"WEBHOOK_RETRY_SCHEDULE": "1s,1s", "WEBHOOK_TIMEOUT": "1s"}, nil)
	h.receiver.Respond = func(attempt int, _ testenv.Delivery) int {
		if attempt == 1 {
			time.Sleep(3 * time.Second) // hangs past the 1s timeout
		}
		return http.StatusOK
	}
	id := h.submit(t)
	d := h.waitDelivery(t, id, 30*time.Second, func(d deliveryBody) bool { return d.Status == "delivered" })
	if len(d.AttemptLog) < 2 || d.AttemptLog[0].Outcome != "timeout" {
		b, _ := json.Marshal(d)
		t.Fatalf("want a timeout then a success, got %s", b)
	}
}

// archivedTaskState is the asynq state of the task with a delivery's id in
// the webhook queue, or "" when there is none.
func archivedTaskState(t *testing.T, env *testenv.Env, deliveryID string) string {
	t.Helper()
	opt, err := asynq.ParseRedisURI(env.Vars["REDIS_URL"])
	if err != nil {
		t.Fatal(err)
	}
	in := asynq.NewInspector(opt)
	defer in.Close()
	info, err := in.GetTaskInfo(jobs.QueueWebhooks, deliveryID)
	if errors.Is(err, asynq.ErrTaskNotFound) {
		return ""
	}
	if err != nil {
		t.Fatalf("inspect task %s: %v", deliveryID, err)
	}
	return info.State.String()
}

func TestWebhookBulkReplaySendsInBatchesAndRetriesAlone(t *testing.T) {
	t.Parallel()
	var phase atomic.Int32 // 0: receiver down; 1: it fails one delivery once more
	var unlucky atomic.Value
	unlucky.Store("")
	var failedOnce atomic.Bool
	h := newHookEnv(t, map[string]string{"WEBHOOK_RETRY_SCHEDULE": "1s,1s"}, func(_ int, d testenv.Delivery) int {
		if phase.Load() == 0 || (d.ID == unlucky.Load() && !failedOnce.Swap(true)) {
			return http.StatusServiceUnavailable
		}
		return http.StatusNoContent
	})
	reportIDs := []string{h.submit(t), h.submit(t), h.submit(t)}
	deliveryIDs := make([]string, len(reportIDs))
	for i, id := range reportIDs {
		deliveryIDs[i] = h.waitDelivery(t, id, 60*time.Second, func(d deliveryBody) bool { return d.Status == "dead" }).ID
	}
	for _, id := range deliveryIDs {
		if state := archivedTaskState(t, h.env, id); state != "archived" {
			t.Fatalf("dead letter %s: asynq task state %q, want archived", id, state)
		}
	}

	unlucky.Store(deliveryIDs[0])
	phase.Store(1)
	resp := h.env.Do(t, h.client.APIKey, http.MethodPost, "/v1/deliveries/replay", `{"status":"dead"}`)
	expectStatus(t, resp, http.StatusAccepted)
	if n := decode[struct {
		Replayed int `json:"replayed"`
	}](t, resp).Replayed; n != 3 {
		t.Fatalf("replayed %d, want 3", n)
	}
	for i, id := range reportIDs {
		d := h.waitDelivery(t, id, 30*time.Second, func(d deliveryBody) bool { return d.Status == "delivered" })
		want := 4 // three before the replay, then the batch's
		if i == 0 {
			want = 5 // the batch's attempt failed; its own task's next one succeeded
		}
		if d.Attempts != want || len(d.AttemptLog) != want {
			t.Errorf("delivery %s: delivered after %d attempts (%d logged), want %d", d.ID, d.Attempts, len(d.AttemptLog), want)
		}
	}
	for id, n := range distinctIDs(h.receiver.Deliveries()) {
		if !slices.Contains(deliveryIDs, id) {
			t.Errorf("receiver saw webhook-id %s (%d times), not one of %v", id, n, deliveryIDs)
		}
	}
	// The sweeper prunes the archived tasks of what the replay delivered.
	testenv.Eventually(t, 15*time.Second, "the sweeper to prune the replayed deliveries' archived tasks", func() bool {
		for _, id := range deliveryIDs {
			if archivedTaskState(t, h.env, id) == "archived" {
				return false
			}
		}
		return true
	})
}

func TestWebhookBulkReplayWhileStillDownDeadLettersAgain(t *testing.T) {
	t.Parallel()
	h := newHookEnv(t, map[string]string{"WEBHOOK_RETRY_SCHEDULE": "1s,1s"}, func(int, testenv.Delivery) int {
		return http.StatusServiceUnavailable
	})
	id := h.submit(t)
	dead := h.waitDelivery(t, id, 60*time.Second, func(d deliveryBody) bool { return d.Status == "dead" })
	expectStatus(t, h.env.Do(t, h.client.APIKey, http.MethodPost, "/v1/deliveries/replay", `{"status":"dead"}`), http.StatusAccepted)
	// The replay starts the schedule over: the batch's attempt and then two
	// retries on the delivery's own task.
	again := h.waitDelivery(t, id, 60*time.Second, func(d deliveryBody) bool { return d.Status == "dead" && d.Attempts > dead.Attempts })
	if again.Attempts != 6 {
		t.Fatalf("dead again after %d attempts in all, want 6 (3 + 3)", again.Attempts)
	}
	if state := archivedTaskState(t, h.env, dead.ID); state != "archived" {
		t.Fatalf("dead letter %s: asynq task state %q, want archived", dead.ID, state)
	}
}

// TestWebhookBlockedURLIsDeadAtOnce: a destination the SSRF guard refuses
// is dead on its first attempt, on the delivery's own task and in a
// replay's batch alike: retrying would not change the URL.
func TestWebhookBlockedURLIsDeadAtOnce(t *testing.T) {
	t.Parallel()
	env := testenv.New(t, map[string]string{"WEBHOOK_RETRY_SCHEDULE": "1s,1s"})
	// Not http(s): refused even with private networks allowed.
	client := env.CreateClient(t, "Blocked Ltd", "ftp://hooks.example/x")
	env.StartAPI(t)
	env.StartWorker(t)
	h := &hookEnv{env: env, client: client, customer: seedOrders(t, env, client.ID, 1, 2).Customers[0]}
	id := h.submit(t)
	dead := h.waitDelivery(t, id, 30*time.Second, func(d deliveryBody) bool { return d.Status == "dead" })
	if dead.Attempts != 1 || len(dead.AttemptLog) != 1 || dead.AttemptLog[0].Outcome != "blocked" {
		t.Fatalf("dead after %+v, want one blocked attempt", dead)
	}
	expectStatus(t, h.env.Do(t, client.APIKey, http.MethodPost, "/v1/deliveries/replay", `{"status":"dead"}`), http.StatusAccepted)
	again := h.waitDelivery(t, id, 30*time.Second, func(d deliveryBody) bool { return d.Status == "dead" && d.Attempts > 1 })
	if again.Attempts != 2 || again.AttemptLog[1].Outcome != "blocked" {
		t.Fatalf("after the replay: %+v, want one more blocked attempt (the batch's) and dead", again)
	}
}
