package e2e

import (
	"encoding/json"
	"net/http"
	"testing"
)

// TestSchemaVersionsThroughTheAPI: an order placed by a version 1 event and
// placed again by a version 2 one (with tax). The audit trail shows each as
// stored, the v1 one with its upcast; the order's state reads both through
// the same upcast; a schema_version that is no version is a 422 naming it.
// Every response is checked against openapi.yaml.
func TestSchemaVersionsThroughTheAPI(t *testing.T) {
	t.Parallel()
	env, client := auditedOrders(t)
	batch := `{"events":[
	 {"event_id":"evt_m1","order_id":"ord_mix","sequence":1,"type":"OrderPlaced","occurred_at":"2026-02-03T10:00:00Z",
	  "data":{"customer_id":"cus_a","merchant_id":"mer_a","currency":"EUR","items":[{"sku":"tea","qty":2,"unit_price_cents":1250}],"total_cents":2500}},
	 {"event_id":"evt_m2","order_id":"ord_mix","sequence":2,"type":"OrderPlaced","schema_version":2,"occurred_at":"2026-02-03T11:00:00Z",
	  "data":{"customer_id":"cus_a","merchant_id":"mer_a","currency":"EUR","items":[{"sku":"tea","qty":2,"unit_price_cents":1250,"tax_cents":475}],"total_cents":2975}},
	 {"event_id":"evt_m3","order_id":"ord_mix","sequence":3,"type":"OrderRefunded","schema_version":1,"occurred_at":"2026-02-03T12:00:00Z","data":{"amount_cents":500}}]}`
	expectStatus(t, env.Do(t, client.APIKey, http.MethodPost, "/v1/order-events", batch), http.StatusOK)

	type upcast struct {
		SchemaVersion int             `json:"schema_version"`
		Data          json.RawMessage `json:"data"`
	}
	page := decode[struct {
		Data []struct {
			EventID       string          `json:"event_id"`
			SchemaVersion int             `json:"schema_version"`
			Data          json.RawMessage `json:"data"`
			Upcast        *upcast         `json:"upcast"`
		} `json:"data"`
	}](t, env.Do(t, client.APIKey, http.MethodGet, "/v1/orders/ord_mix/events", ""))
	if len(page.Data) != 3 {
		t.Fatalf("audit trail: %+v", page)
	}
	v1, v2, refund := page.Data[0], page.Data[1], page.Data[2]
	var stored, read struct {
		Items []map[string]any `json:"items"`
	}
	if err := json.Unmarshal(v1.Data, &stored); err != nil {
		t.Fatal(err)
	}
	if v1.SchemaVersion != 1 || v1.Upcast == nil || v1.Upcast.SchemaVersion != 2 || len(stored.Items) != 1 || stored.Items[0]["tax_cents"] != nil {
		t.Fatalf("the v1 event: %+v, stored %s", v1, v1.Data)
	}
	if err := json.Unmarshal(v1.Upcast.Data, &read); err != nil {
		t.Fatal(err)
	}
	if len(read.Items) != 1 || read.Items[0]["tax_cents"] != float64(0) {
		t.Errorf("the v1 event upcast: %s, want tax_cents 0", v1.Upcast.Data)
	}
	if v2.SchemaVersion != 2 || v2.Upcast != nil || refund.SchemaVersion != 1 || refund.Upcast != nil {
		t.Errorf("events already in their latest version: %+v, %+v", v2, refund)
	}

	type state struct {
		TotalCents int64 `json:"total_cents"`
		TaxCents   int64 `json:"tax_cents"`
		NetCents   int64 `json:"net_cents"`
	}
	if got := decode[state](t, env.Do(t, client.APIKey, http.MethodGet, "/v1/orders/ord_mix?as_of=2026-02-03T10:30:00Z", "")); got != (state{2500, 0, 2500}) {
		t.Errorf("as placed by the v1 event: %+v", got)
	}
	if got := decode[state](t, env.Do(t, client.APIKey, http.MethodGet, "/v1/orders/ord_mix", "")); got != (state{2975, 475, 2475}) {
		t.Errorf("placed again by the v2 event, then refunded: %+v", got)
	}

	for _, version := range []string{`0`, `3`, `"1"`, `99999999999999999999`} {
		body := `{"events":[{"event_id":"evt_x","order_id":"ord_x","sequence":1,"type":"PaymentCaptured","schema_version":` + version +
			`,"occurred_at":"2026-02-03T10:00:00Z","data":{"amount_cents":1}}]}`
		resp := env.Do(t, client.APIKey, http.MethodPost, "/v1/order-events", body)
		expectStatus(t, resp, http.StatusUnprocessableEntity)
		p := decode[struct {
			Errors []struct {
				Field string `json:"field"`
			} `json:"errors"`
		}](t, resp)
		if len(p.Errors) != 1 || p.Errors[0].Field != "events[0].schema_version" {
			t.Errorf("schema_version %s: errors %+v, want events[0].schema_version named", version, p.Errors)
		}
	}
}
