package e2e

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/reportd/reportd/internal/testenv"
)

type asOfReportBody struct {
	ID     string  `json:"id"`
	Status string  `json:"status"`
	AsOf   *string `json:"as_of"`
	Result *struct {
		Rows         int     `json:"rows"`
		DataPosition int64   `json:"data_position"`
		AsOf         *string `json:"as_of"`
	} `json:"result"`
}

func asOfEvent(id, order string, seq int, typ, at, data string) string {
	return fmt.Sprintf(`{"event_id":%q,"order_id":%q,"sequence":%d,"type":%q,"occurred_at":%q,"data":%s}`, id, order, seq, typ, at, data)
}

func asOfPlaced(id, order, at string, cents int) string {
	return asOfEvent(id, order, 1, "OrderPlaced", at, fmt.Sprintf(
		`{"customer_id":"cus_asof","merchant_id":"mer_asof","currency":"EUR","items":[{"sku":"tea","qty":1,"unit_price_cents":%d}],"total_cents":%d}`, cents, cents))
}

// TestAsOfReport: reports built live at T, then rebuilt with as_of T after
// later events, are the same CSV; a late-arriving event that occurred before
// T is in the as_of report (occurrence time only); as_of is echoed, and a
// bad as_of answers 422 naming it. Every response is checked against
// openapi.yaml by env.Do.
func TestAsOfReport(t *testing.T) {
	t.Parallel()
	env := testenv.New(t, nil)
	client := env.CreateClient(t, "As Of Shop", "")
	env.StartAPI(t)
	env.StartWorker(t)
	post := func(events ...string) int64 {
		t.Helper()
		resp := env.Do(t, client.APIKey, http.MethodPost, "/v1/order-events", `{"events":[`+strings.Join(events, ",")+`]}`)
		expectStatus(t, resp, http.StatusOK)
		return decode[appendBody](t, resp).Position
	}
	build := func(typ, subject, extra string) (asOfReportBody, string) {
		t.Helper()
		id := submit(t, env, client.APIKey, fmt.Sprintf(`{"type":%q,"format":"csv","params":{%s,"from":"2026-02-01","to":"2026-02-28"}%s}`, typ, subject, extra))
		if rep := waitReport(t, env, client.APIKey, id); rep.Status != "succeeded" {
			t.Fatalf("report %s: %+v", id, rep)
		}
		rep := decode[asOfReportBody](t, env.Do(t, client.APIKey, http.MethodGet, "/v1/reports/"+id, ""))
		return rep, string(download(t, env, client.APIKey, id, csvType))
	}
	customer, merchant := `"customer_id":"cus_asof"`, `"merchant_id":"mer_asof"`

	// Up to T = 12:00.
	pos := post(
		asOfPlaced("e1", "ord_1", "2026-02-03T10:00:00Z", 2500),
		asOfEvent("e2", "ord_1", 2, "PaymentCaptured", "2026-02-03T10:01:00Z", `{"amount_cents":2500}`),
		asOfPlaced("e3", "ord_2", "2026-02-03T11:00:00Z", 1000),
		asOfPlaced("e4", "ord_3", "2026-02-04T09:00:00Z", 700))
	_, liveOrders := build("order_history", customer, fmt.Sprintf(`,"min_position":%d`, pos))
	_, liveSales := build("merchant_sales", merchant, fmt.Sprintf(`,"min_position":%d`, pos))
	if !strings.Contains(liveOrders, "ord_1") || !strings.Contains(liveOrders, "ord_2") {
		t.Fatalf("live order history at T:\n%s", liveOrders)
	}

	// After T: a refund, a cancellation and a new order, all occurred after T.
	pos = post(
		asOfEvent("e5", "ord_1", 3, "OrderRefunded", "2026-02-04T13:00:00Z", `{"amount_cents":500}`),
		asOfEvent("e6", "ord_2", 2, "OrderCancelled", "2026-02-04T13:30:00Z", `{"reason":"changed mind"}`),
		asOfPlaced("e7", "ord_4", "2026-02-04T14:00:00Z", 9900))
	const asOf = `,"as_of":"2026-02-04T13:00:00+01:00"` // 12:00 UTC
	rep, orders := build("order_history", customer, asOf+fmt.Sprintf(`,"min_position":%d`, pos))
	if orders != liveOrders {
		t.Errorf("order history as of T differs from the one built at T:\nat T:\n%s\nas of T:\n%s", liveOrders, orders)
	}
	if rep.AsOf == nil || *rep.AsOf != "2026-02-04T12:00:00Z" || rep.Result == nil || rep.Result.AsOf == nil ||
		*rep.Result.AsOf != "2026-02-04T12:00:00Z" || rep.Result.DataPosition < pos || rep.Result.Rows != 3 {
		t.Errorf("as_of report resource: %+v (result %+v)", rep, rep.Result)
	}
	if _, sales := build("merchant_sales", merchant, asOf); sales != liveSales {
		t.Errorf("merchant sales as of T differs from the one built at T:\nat T:\n%s\nas of T:\n%s", liveSales, sales)
	}
	_, now := build("order_history", customer, "")
	if now == liveOrders || !strings.Contains(now, "ord_4") {
		t.Errorf("the report of now should hold the later events:\n%s", now)
	}

	// A late arrival: occurred at 11:30 (before T), recorded now. The as_of
	// T report now includes it.
	post(asOfEvent("e8", "ord_3", 2, "PaymentCaptured", "2026-02-04T11:30:00Z", `{"amount_cents":700}`))
	_, late := build("order_history", customer, asOf)
	var ord3 string
	for line := range strings.SplitSeq(late, "\n") {
		if strings.HasPrefix(line, "ord_3,") {
			ord3 = line
		}
	}
	if !strings.Contains(ord3, ",paid,") || strings.Contains(late, "ord_4") {
		t.Errorf("as of T after a late event: ord_3 is %q, want paid; no ord_4:\n%s", ord3, late)
	}

	for _, bad := range []string{`"2026-02-04"`, `"2999-01-01T00:00:00Z"`, `"1899-12-31T23:59:59Z"`, `"soon"`} {
		resp := env.Do(t, client.APIKey, http.MethodPost, "/v1/reports", `{"type":"order_history","format":"csv",
			"params":{"customer_id":"cus_asof","from":"2026-02-01","to":"2026-02-28"},"as_of":`+bad+`}`)
		expectStatus(t, resp, http.StatusUnprocessableEntity)
		if p := decode[problemBody](t, resp); !hasField(p, "as_of") {
			t.Errorf("as_of %s: %+v, want an error naming as_of", bad, p)
		}
	}
}
