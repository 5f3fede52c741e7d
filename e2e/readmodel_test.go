package e2e

import (
	"context"
	"encoding/csv"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/reportd/reportd/internal/report"
	"github.com/reportd/reportd/internal/testenv"
)

const (
	csvType = "text/csv; charset=utf-8"
	pdfType = "application/pdf"
)

type appendBody struct {
	Accepted   int   `json:"accepted"`
	Duplicates int   `json:"duplicates"`
	Position   int64 `json:"position"`
}

// download fetches a succeeded report's file through /download (a 303 to a
// presigned URL) and checks its Content-Type.
func download(t *testing.T, env *testenv.Env, key, id, contentType string) []byte {
	t.Helper()
	dl := env.Do(t, key, http.MethodGet, "/v1/reports/"+id+"/download", "")
	expectStatus(t, dl, http.StatusSeeOther)
	dl.Body.Close()
	resp, err := http.Get(dl.Header.Get("Location"))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != contentType {
		t.Fatalf("download %s: %d %q %s", id, resp.StatusCode, resp.Header.Get("Content-Type"), b)
	}
	return b
}

// waitReport long-polls until the report is finished.
func waitReport(t *testing.T, env *testenv.Env, key, id string) reportBody {
	t.Helper()
	deadline := time.Now().Add(90 * time.Second)
	for time.Now().Before(deadline) {
		rep := decode[reportBody](t, env.Do(t, key, http.MethodGet, "/v1/reports/"+id+"?wait=30s", ""))
		if rep.Status != "queued" && rep.Status != "running" {
			return rep
		}
	}
	t.Fatalf("report %s did not finish", id)
	return reportBody{}
}

func submit(t *testing.T, env *testenv.Env, key, body string) string {
	t.Helper()
	resp := env.Do(t, key, http.MethodPost, "/v1/reports", body)
	expectStatus(t, resp, http.StatusAccepted)
	return decode[reportBody](t, resp).ID
}

// TestReadYourWrites: events pushed through the API, then a report that
// names the returned position, contains them.
func TestReadYourWrites(t *testing.T) {
	t.Parallel()
	env := testenv.New(t, nil)
	client := env.CreateClient(t, "Upstream Shop", "")
	env.StartAPI(t)
	env.StartWorker(t)

	batch := `{"events":[
	 {"event_id":"evt_1","order_id":"ord_ryw","sequence":1,"type":"OrderPlaced","occurred_at":"2026-02-03T10:00:00Z",
	  "data":{"customer_id":"cus_ryw","merchant_id":"mer_ryw","currency":"EUR","items":[{"sku":"tea","qty":2,"unit_price_cents":1250}],"total_cents":2500}},
	 {"event_id":"evt_2","order_id":"ord_ryw","sequence":2,"type":"PaymentCaptured","occurred_at":"2026-02-03T10:01:00Z","data":{"amount_cents":2500}}]}`
	resp := env.Do(t, client.APIKey, http.MethodPost, "/v1/order-events", batch)
	expectStatus(t, resp, http.StatusOK)
	first := decode[appendBody](t, resp)
	if first.Accepted != 2 || first.Duplicates != 0 || first.Position < 2 {
		t.Fatalf("first append: %+v", first)
	}
	again := decode[appendBody](t, env.Do(t, client.APIKey, http.MethodPost, "/v1/order-events", batch))
	if again.Accepted != 0 || again.Duplicates != 2 {
		t.Fatalf("replayed batch: %+v, want 2 duplicates", again)
	}

	id := submit(t, env, client.APIKey, fmt.Sprintf(`{"type":"order_history","format":"csv","min_position":%d,
		"params":{"customer_id":"cus_ryw","from":"2026-02-01","to":"2026-02-28"}}`, first.Position))
	rep := waitReport(t, env, client.APIKey, id)
	if rep.Status != "succeeded" || rep.Result.DataPosition < first.Position || rep.Result.Rows != 1 {
		t.Fatalf("report: %+v", rep)
	}
	if body := string(download(t, env, client.APIKey, id, csvType)); !strings.Contains(body, "ord_ryw") || !strings.Contains(body, ",paid,") {
		t.Fatalf("CSV lacks the paid order:\n%s", body)
	}

	projections := decode[struct {
		Data []struct {
			Name     string `json:"name"`
			Position int64  `json:"position"`
		} `json:"data"`
	}](t, env.Do(t, client.APIKey, http.MethodGet, "/v1/projections", ""))
	if len(projections.Data) != 2 {
		t.Fatalf("projections: %+v", projections)
	}
}

// TestUnknownCustomerFailsAtOnce: bad params found at render time fail the
// report with a code, without retries, and announce it by webhook.
func TestUnknownCustomerFailsAtOnce(t *testing.T) {
	t.Parallel()
	env := testenv.New(t, nil)
	client, receiver := env.CreateClientWithReceiver(t, "Shop")
	env.StartAPI(t)
	env.StartWorker(t)
	id := submit(t, env, client.APIKey, `{"type":"order_history","format":"pdf","params":{"customer_id":"cus_nobody","from":"2026-01-01","to":"2026-01-31"}}`)
	rep := waitReport(t, env, client.APIKey, id)
	if rep.Status != "failed" || rep.Error == nil || rep.Error.Code != "unknown_subject" {
		t.Fatalf("report: %+v", rep)
	}
	got := receiver.WaitFor(t, 30*time.Second, "report.failed", func(ds []testenv.Delivery) bool { return len(ds) == 1 })
	if !strings.Contains(string(got[0].Body), `"type":"report.failed"`) || got[0].Verified != nil {
		t.Fatalf("webhook: %s (verified: %v)", got[0].Body, got[0].Verified)
	}
}

// TestMerchantSalesMoneyMatchesSQL: per-currency totals in the CSV and the
// PDF equal the SQL sums of the projection, to the cent.
func TestMerchantSalesMoneyMatchesSQL(t *testing.T) {
	t.Parallel()
	env := testenv.New(t, nil)
	client := env.CreateClient(t, "Money Ltd", "")
	env.StartAPI(t)
	env.StartWorker(t)
	sum := seedOrders(t, env, client.ID, 8, 10)
	merchant := sum.Merchants[0]

	ctx := context.Background()
	pool := env.DB(t)
	// Wait for the projector before asking SQL for the truth.
	var head int64
	if err := pool.QueryRow(ctx, `SELECT max(position) FROM order_events`).Scan(&head); err != nil {
		t.Fatal(err)
	}
	params := fmt.Sprintf(`"params":{"merchant_id":%q,"from":"2026-01-01","to":"2026-03-31"},"min_position":%d`, merchant, head)
	csvID := submit(t, env, client.APIKey, `{"type":"merchant_sales","format":"csv",`+params+`}`)
	pdfID := submit(t, env, client.APIKey, `{"type":"merchant_sales","format":"pdf",`+params+`}`)
	if rep := waitReport(t, env, client.APIKey, csvID); rep.Status != "succeeded" {
		t.Fatalf("csv report: %+v", rep)
	}
	if rep := waitReport(t, env, client.APIKey, pdfID); rep.Status != "succeeded" {
		t.Fatalf("pdf report: %+v", rep)
	}

	want := map[string]int64{}
	rows, err := pool.Query(ctx, `SELECT currency, sum(net_cents) FROM merchant_daily_sales
		WHERE client_id = $1 AND merchant_id = $2 AND day BETWEEN '2026-01-01' AND '2026-03-31' GROUP BY currency`, client.ID, merchant)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var cur string
		var net int64
		if err := rows.Scan(&cur, &net); err != nil {
			t.Fatal(err)
		}
		want[cur] = net
	}
	if rows.Err() != nil || len(want) == 0 {
		t.Fatalf("no SQL sums for %s: %v", merchant, rows.Err())
	}

	records, err := csv.NewReader(strings.NewReader(string(download(t, env, client.APIKey, csvID, csvType)))).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]int64{}
	for _, rec := range records[1:] {
		got[rec[2]] += centsOf(t, rec[7], rec[2])
	}
	for cur, net := range want {
		if got[cur] != net {
			t.Errorf("%s net: CSV sums to %d, SQL to %d", cur, got[cur], net)
		}
	}
	text := pdfText(t, download(t, env, client.APIKey, pdfID, pdfType))
	for cur, net := range want {
		if s := report.FormatMoney(net, cur); !strings.Contains(text, s) {
			t.Errorf("the PDF lacks the %s net total %q", cur, s)
		}
	}
}

// centsOf parses the CSV's decimal money back to integer minor units.
func centsOf(t *testing.T, s, currency string) int64 {
	t.Helper()
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	whole, frac, _ := strings.Cut(s, ".")
	var v int64
	for _, c := range whole + frac {
		if c < '0' || c > '9' {
			t.Fatalf("bad money %q", s)
		}
		v = v*10 + int64(c-'0')
	}
	if report.DecimalString(v, currency) != s {
		t.Fatalf("money %q does not round-trip for %s", s, currency)
	}
	if neg {
		v = -v
	}
	return v
}
