package e2e

import (
	"net/http"
	"testing"

	"github.com/reportd/reportd/internal/testenv"
)

type orderEventPage struct {
	Data []struct {
		Object   string `json:"object"`
		EventID  string `json:"event_id"`
		Sequence int64  `json:"sequence"`
		Type     string `json:"type"`
		Position int64  `json:"position"`
	} `json:"data"`
	HasMore    bool    `json:"has_more"`
	NextCursor *string `json:"next_cursor"`
}

type orderStateBody struct {
	OrderID       string  `json:"order_id"`
	AsOf          string  `json:"as_of"`
	Status        *string `json:"status"`
	TotalCents    int64   `json:"total_cents"`
	RefundedCents int64   `json:"refunded_cents"`
	NetCents      int64   `json:"net_cents"`
	Carrier       *string `json:"carrier"`
	PaidAt        *string `json:"paid_at"`
	ShippedAt     *string `json:"shipped_at"`
	LastSequence  int64   `json:"last_sequence"`
	EventsApplied int     `json:"events_applied"`
	EventsHeld    int     `json:"events_held"`
}

// auditedOrders starts an API whose client has ord_a (four events, sent
// out of order: the log keeps sequence order, whatever the arrival) and
// ord_gap (sequence 2 missing).
func auditedOrders(t *testing.T) (*testenv.Env, testenv.Client) {
	t.Helper()
	env := testenv.New(t, nil)
	client := env.CreateClient(t, "Audited", "")
	env.StartAPI(t)

	batch := `{"events":[
	 {"event_id":"evt_a3","order_id":"ord_a","sequence":3,"type":"OrderShipped","occurred_at":"2026-02-03T11:00:00Z","data":{"carrier":"DHL","tracking_number":"JD0001"}},
	 ` + placedEvent("evt_a1", "ord_a", "cus_a", 1, "2026-02-03T10:00:00Z") + `,
	 {"event_id":"evt_a2","order_id":"ord_a","sequence":2,"type":"PaymentCaptured","occurred_at":"2026-02-03T10:01:00Z","data":{"amount_cents":2500}},
	 {"event_id":"evt_a4","order_id":"ord_a","sequence":4,"type":"OrderRefunded","occurred_at":"2026-02-03T12:00:00Z","data":{"amount_cents":500}},
	 ` + placedEvent("evt_g1", "ord_gap", "cus_a", 1, "2026-02-03T10:00:00Z") + `,
	 {"event_id":"evt_g3","order_id":"ord_gap","sequence":3,"type":"OrderShipped","occurred_at":"2026-02-03T11:00:00Z","data":{"carrier":"UPS","tracking_number":"1Z"}}]}`
	expectStatus(t, env.Do(t, client.APIKey, http.MethodPost, "/v1/order-events", batch), http.StatusOK)
	return env, client
}

// TestOrderEventsAuditTrail: an order's events come back in sequence order,
// cursor paged, only to their own client and only with read access.
func TestOrderEventsAuditTrail(t *testing.T) {
	t.Parallel()
	env, client := auditedOrders(t)
	other := env.CreateClient(t, "Other", "")
	writer := env.CreateClient(t, "Writer only", "", "events:write")

	first := decode[orderEventPage](t, env.Do(t, client.APIKey, http.MethodGet, "/v1/orders/ord_a/events?limit=3", ""))
	if len(first.Data) != 3 || !first.HasMore || first.NextCursor == nil ||
		first.Data[0].EventID != "evt_a1" || first.Data[1].Sequence != 2 || first.Data[2].Type != "OrderShipped" || first.Data[0].Object != "order_event" {
		t.Fatalf("first page: %+v", first)
	}
	second := decode[orderEventPage](t, env.Do(t, client.APIKey, http.MethodGet, "/v1/orders/ord_a/events?limit=3&cursor="+*first.NextCursor, ""))
	if len(second.Data) != 1 || second.HasMore || second.NextCursor != nil || second.Data[0].EventID != "evt_a4" {
		t.Fatalf("second page: %+v", second)
	}

	// Another client's order does not exist for this one; writing is not reading.
	expectStatus(t, env.Do(t, other.APIKey, http.MethodGet, "/v1/orders/ord_a/events", ""), http.StatusNotFound)
	expectStatus(t, env.Do(t, other.APIKey, http.MethodGet, "/v1/orders/ord_a", ""), http.StatusNotFound)
	expectStatus(t, env.Do(t, client.APIKey, http.MethodGet, "/v1/orders/ord_none/events", ""), http.StatusNotFound)
	expectStatus(t, env.Do(t, writer.APIKey, http.MethodGet, "/v1/orders/ord_a/events", ""), http.StatusForbidden)
}

// TestOrderAsOfAuditTrail: the order's state at a time is the fold of the
// events that had occurred by then; a gap holds the events after it.
func TestOrderAsOfAuditTrail(t *testing.T) {
	t.Parallel()
	env, client := auditedOrders(t)

	paid := decode[orderStateBody](t, env.Do(t, client.APIKey, http.MethodGet, "/v1/orders/ord_a?as_of=2026-02-03T10:30:00Z", ""))
	if paid.Status == nil || *paid.Status != "paid" || paid.TotalCents != 2500 || paid.NetCents != 2500 || paid.ShippedAt != nil ||
		paid.PaidAt == nil || paid.LastSequence != 2 || paid.EventsApplied != 2 || paid.AsOf != "2026-02-03T10:30:00Z" {
		t.Errorf("as of 10:30: %+v", paid)
	}
	// The same instant with an offset, %2B-encoded.
	same := decode[orderStateBody](t, env.Do(t, client.APIKey, http.MethodGet, "/v1/orders/ord_a?as_of=2026-02-03T11:30:00%2B01:00", ""))
	if same.LastSequence != 2 || same.AsOf != "2026-02-03T10:30:00Z" {
		t.Errorf("as of 11:30+01:00: %+v", same)
	}
	now := decode[orderStateBody](t, env.Do(t, client.APIKey, http.MethodGet, "/v1/orders/ord_a", ""))
	if now.Status == nil || *now.Status != "refunded" || now.RefundedCents != 500 || now.NetCents != 2000 ||
		now.Carrier == nil || *now.Carrier != "DHL" || now.LastSequence != 4 {
		t.Errorf("now: %+v", now)
	}
	gap := decode[orderStateBody](t, env.Do(t, client.APIKey, http.MethodGet, "/v1/orders/ord_gap", ""))
	if gap.Status == nil || *gap.Status != "placed" || gap.EventsApplied != 1 || gap.EventsHeld != 1 || gap.Carrier != nil {
		t.Errorf("order with a gap: %+v", gap)
	}
	expectStatus(t, env.Do(t, client.APIKey, http.MethodGet, "/v1/orders/ord_a?as_of=2026-02-03T09:59:59Z", ""), http.StatusNotFound)

	for target, field := range map[string]string{
		"/v1/orders/ord%20a":                   "order_id",
		"/v1/orders/ord%20a/events":            "order_id",
		"/v1/orders/ord_a?as_of=2026-02-03":    "as_of",
		"/v1/orders/ord_a/events?cursor=nope!": "cursor",
	} {
		resp := env.Do(t, client.APIKey, http.MethodGet, target, "")
		expectStatus(t, resp, http.StatusUnprocessableEntity)
		p := decode[struct {
			Errors []struct {
				Field string `json:"field"`
			} `json:"errors"`
		}](t, resp)
		if len(p.Errors) == 0 || p.Errors[0].Field != field {
			t.Errorf("%s: errors %+v, want %s named", target, p.Errors, field)
		}
	}
}
