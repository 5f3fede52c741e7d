package chaos

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/reportd/reportd/internal/postgres"
	"github.com/reportd/reportd/internal/readmodel"
	"github.com/reportd/reportd/internal/report"
)

// TestReplicaReadYourWrites points DATABASE_URL at a primary and
// READ_DATABASE_URL at its streaming replica, pauses WAL replay on the
// replica, appends events through the API and asks for a report with the
// returned min_position: the report waits (neither failed nor built from
// the replica's stale rows) until replay resumes, then contains the events.
func TestReplicaReadYourWrites(t *testing.T) {
	t.Parallel()
	set := startPGReplicaSet(t)
	s := newStack(t, stackOptions{Customers: 5, Orders: 5, Vars: map[string]string{
		"DATABASE_URL": set.primaryURL, "READ_DATABASE_URL": set.replicaURL, "LOG_LEVEL": "debug",
	}})
	ctx := context.Background()
	replica, err := postgres.Connect(ctx, set.replicaURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(replica.Close)

	set.waitCaughtUp(t)
	set.pauseReplay(t)
	pausedAt := time.Now()
	customer := s.summary.Customers[0]
	batch := fmt.Sprintf(`{"events":[
	 {"event_id":"evt_replica_1","order_id":"ord_replica","sequence":1,"type":"OrderPlaced","occurred_at":"2026-02-03T10:00:00Z",
	  "data":{"customer_id":%q,"merchant_id":"mer_replica","currency":"EUR","items":[{"sku":"tea","qty":2,"unit_price_cents":1250}],"total_cents":2500}},
	 {"event_id":"evt_replica_2","order_id":"ord_replica","sequence":2,"type":"PaymentCaptured","occurred_at":"2026-02-03T10:01:00Z","data":{"amount_cents":2500}}]}`, customer)
	pos := s.postEvents(t, batch).Position
	if pos == 0 {
		t.Fatal("the event batch returned no position")
	}
	status, _, body, err := s.call(http.MethodPost, "/v1/reports", fmt.Sprintf(
		`{"type":"order_history","format":"csv","min_position":%d,"params":{"customer_id":%q,"from":"2026-01-01","to":"2026-03-31"}}`, pos, customer))
	if err != nil || status != http.StatusAccepted {
		t.Fatalf("submit report: %d %s %v", status, body, err)
	}
	var rep struct {
		ID string `json:"id"`
	}
	if err := json.Unmarshal(body, &rep); err != nil {
		t.Fatal(err)
	}

	// The primary's projector gets there; the paused replica does not.
	s.waitProjected(t, time.Minute)
	rmPrimary := readmodel.NewStore(s.pool, s.pool, discardLogger())
	rmReplica := readmodel.NewStore(s.pool, replica, discardLogger())
	params := report.Params{CustomerID: customer, From: "2026-01-01", To: "2026-03-31"}
	noop := func(report.Document) error { return nil }
	if err := rmPrimary.OpenDocument(ctx, s.client.ID, report.TypeOrderHistory, params, pos, noop); err != nil {
		t.Fatalf("OpenDocument on the primary at min_position %d: %v", pos, err)
	}
	if err := rmReplica.OpenDocument(ctx, s.client.ID, report.TypeOrderHistory, params, pos, noop); !errors.Is(err, report.ErrBehind) {
		t.Fatalf("OpenDocument on the paused replica at min_position %d: %v, want report.ErrBehind\n%s", pos, err, set.status(t))
	}
	// The worker must have come back to it after the primary caught up, and
	// still be waiting.
	before := s.waits(rep.ID)
	deadline := time.Now().Add(30 * time.Second)
	for s.waits(rep.ID) < before+3 {
		if time.Now().After(deadline) {
			t.Fatalf("the worker did not retry report %s while the replica was paused (%d waits logged)", rep.ID, s.waits(rep.ID))
		}
		time.Sleep(100 * time.Millisecond)
	}
	if st := s.reportStatus(t, rep.ID); st != "queued" && st != "running" {
		t.Fatalf("report %s is %s while the replica is paused; want queued or running", rep.ID, st)
	}
	waited := s.waits(rep.ID)
	pausedFor := time.Since(pausedAt)

	set.resumeReplay(t)
	resumed := time.Now()
	deadline = time.Now().Add(time.Minute)
	for st := s.reportStatus(t, rep.ID); st != "succeeded"; st = s.reportStatus(t, rep.ID) {
		if st == "failed" || time.Now().After(deadline) {
			t.Fatalf("report %s is %s after replay resumed", rep.ID, st)
		}
		time.Sleep(50 * time.Millisecond)
	}
	recovery := time.Since(resumed)
	var got struct {
		Result struct {
			DataPosition int64 `json:"data_position"`
			Rows         int   `json:"rows"`
		} `json:"result"`
	}
	if _, _, b, err := s.call(http.MethodGet, "/v1/reports/"+rep.ID, ""); err != nil || json.Unmarshal(b, &got) != nil {
		t.Fatalf("get report: %v %s", err, b)
	}
	if got.Result.DataPosition < pos {
		t.Errorf("data_position %d < min_position %d", got.Result.DataPosition, pos)
	}
	csv := s.download(t, rep.ID)
	if !strings.Contains(csv, "ord_replica") || !strings.Contains(csv, ",paid,") {
		t.Errorf("the CSV lacks the new paid order ord_replica:\n%s", csv)
	}
	if lines := strings.Count(strings.TrimSpace(csv), "\n"); lines < got.Result.Rows {
		t.Errorf("the CSV has %d lines after the header, the report says %d rows", lines, got.Result.Rows)
	}
	st := s.waitSettled(t, []string{rep.ID}, time.Minute)
	checkInvariant(t, st)
	s.checkNo500(t)
	record(resultRow{Scenario: "9 read replica paused, min_position report", Reports: 1, Lost: st.lost(), Duplicates: st.Duplicates,
		Recovery: recovery, Note: fmt.Sprintf("waited %d times over %s paused; data_position %d ≥ min_position %d; %d rows",
			waited, pausedFor.Round(100*time.Millisecond), got.Result.DataPosition, pos, got.Result.Rows)})
}

// waits counts the worker's "waiting for the read model" lines for a report.
func (s *stack) waits(reportID string) int {
	n := 0
	for line := range strings.Lines(s.worker.logs()) {
		if strings.Contains(line, `"msg":"waiting for the read model"`) && strings.Contains(line, reportID) {
			n++
		}
	}
	return n
}

func (s *stack) reportStatus(t *testing.T, id string) string {
	t.Helper()
	var status string
	if err := s.pool.QueryRow(context.Background(), `SELECT status FROM reports WHERE id = $1`, id).Scan(&status); err != nil {
		t.Fatalf("read report %s: %v", id, err)
	}
	return status
}

// download fetches a report's file through the API's redirect.
func (s *stack) download(t *testing.T, id string) string {
	t.Helper()
	status, h, body, err := s.call(http.MethodGet, "/v1/reports/"+id+"/download", "")
	if err != nil || status != http.StatusSeeOther {
		t.Fatalf("download %s: %d %s %v", id, status, body, err)
	}
	resp, err := httpClient.Get(h.Get("Location"))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("fetch %s: %d %v", id, resp.StatusCode, err)
	}
	return string(b)
}
