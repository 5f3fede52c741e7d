package orderevents_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/reportd/reportd/internal/orderevents"
)

const placedData = `{"customer_id":"cus_1","merchant_id":"mer_1","currency":"EUR","items":[{"sku":"mug-1","qty":2,"unit_price_cents":1250},{"sku":"tee","qty":1,"unit_price_cents":0}],"total_cents":2500}`

func ev(id, order string, seq int, typ, data string) string {
	return fmt.Sprintf(`{"event_id":%q,"order_id":%q,"sequence":%d,"type":%q,"occurred_at":"2026-03-01T10:00:00+01:00","data":%s}`, id, order, seq, typ, data)
}

func batch(events ...string) string { return `{"events":[` + strings.Join(events, ",") + `]}` }

func TestParseBatchAccepts(t *testing.T) {
	body := batch(
		ev("e1", "o1", 1, "OrderPlaced", placedData),
		ev("e2", "o1", 2, "PaymentCaptured", `{"amount_cents":2500}`),
		ev("e3", "o1", 3, "OrderShipped", `{"carrier":"ヤマト運輸","tracking_number":"T-1"}`),
		ev("e4", "o1", 4, "OrderCancelled", `{"reason":"zu spät"}`),
		ev("e5", "o1", 5, "OrderRefunded", `{"amount_cents":100}`),
		ev("e6", "o2", 1, "OrderCancelled", `{}`), // reason is optional
	)
	got, err := orderevents.ParseBatch([]byte(body))
	if err != nil {
		t.Fatalf("ParseBatch: %v", err)
	}
	at := time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
	want := []orderevents.Event{
		{EventID: "e1", OrderID: "o1", Sequence: 1, Type: "OrderPlaced", OccurredAt: at, Data: json.RawMessage(placedData)},
		{EventID: "e2", OrderID: "o1", Sequence: 2, Type: "PaymentCaptured", OccurredAt: at, Data: json.RawMessage(`{"amount_cents":2500}`)},
		{EventID: "e3", OrderID: "o1", Sequence: 3, Type: "OrderShipped", OccurredAt: at, Data: json.RawMessage(`{"carrier":"ヤマト運輸","tracking_number":"T-1"}`)},
		{EventID: "e4", OrderID: "o1", Sequence: 4, Type: "OrderCancelled", OccurredAt: at, Data: json.RawMessage(`{"reason":"zu spät"}`)},
		{EventID: "e5", OrderID: "o1", Sequence: 5, Type: "OrderRefunded", OccurredAt: at, Data: json.RawMessage(`{"amount_cents":100}`)},
		{EventID: "e6", OrderID: "o2", Sequence: 1, Type: "OrderCancelled", OccurredAt: at, Data: json.RawMessage(`{"reason":""}`)},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("events (-want +got):\n%s", diff)
	}
	if got[0].OccurredAt.Location() != time.UTC {
		t.Errorf("occurred_at in %v, want UTC", got[0].OccurredAt.Location())
	}
}

// Every decoding problem is a *SyntaxError (HTTP 400) whose message says where.
func TestParseBatchSyntaxErrors(t *testing.T) {
	ok := ev("e1", "o1", 1, "PaymentCaptured", `{"amount_cents":1}`)
	tests := []struct {
		name, body, want string
	}{
		{"empty body", ``, "empty"},
		{"not an object", `[1]`, "must be a JSON object"},
		{"malformed", `{"events":[`, "unexpected end"},
		{"bad token", `{"events":[}`, "malformed JSON at byte"},
		{"trailing data", batch(ok) + `{}`, "after the top-level object"},
		{"unknown top-level field", `{"events":[],"extra":1}`, `unknown field "extra"`},
		{"events not an array", `{"events":"x"}`, "events: wrong JSON type: expected array, got string"},
		{"unknown event field", batch(ok, `{"event_id":"e2","color":"red"}`), `events[1]: unknown field "color"`},
		{"sequence as string", batch(`{"sequence":"1"}`), "events[0].sequence: wrong JSON type: expected integer, got string"},
		{"sequence fractional", batch(`{"sequence":1.5}`), "events[0].sequence: wrong JSON type"},
		{"sequence overflow", batch(`{"sequence":99999999999999999999}`), "events[0].sequence: wrong JSON type"},
		{"event not an object", batch(`7`), "events[0]: wrong JSON type: expected object, got number"},
		{"data not an object", batch(ev("e1", "o1", 1, "PaymentCaptured", `[1]`)), "events[0].data: wrong JSON type: expected object, got array"},
		{"unknown data field", batch(ev("e1", "o1", 1, "PaymentCaptured", `{"amount_cents":1,"tip":2}`)), `events[0].data: unknown field "tip"`},
		{"field of another type", batch(ev("e1", "o1", 1, "OrderRefunded", `{"carrier":"x"}`)), `events[0].data: unknown field "carrier"`},
		{"unknown item field", batch(ev("e1", "o1", 1, "OrderPlaced", `{"items":[{"sku":"a","qty":1,"unit_price_cents":1},{"sku":"b","colour":"x"}]}`)), `events[0].data.items[1]: unknown field "colour"`},
		{"item qty as string", batch(ev("e1", "o1", 1, "OrderPlaced", `{"items":[{"qty":"2"}]}`)), "events[0].data.items[0].qty: wrong JSON type: expected integer, got string"},
		{"items not an array", batch(ev("e1", "o1", 1, "OrderPlaced", `{"items":{}}`)), "events[0].data.items: wrong JSON type: expected array, got object"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := orderevents.ParseBatch([]byte(tc.body))
			var se *orderevents.SyntaxError
			if !errors.As(err, &se) {
				t.Fatalf("ParseBatch(%s) = %v (%T), want *SyntaxError", tc.body, err, err)
			}
			if !strings.Contains(se.Msg, tc.want) {
				t.Errorf("message %q does not contain %q", se.Msg, tc.want)
			}
		})
	}
}

// Every broken rule is a FieldError in a *ValidationError (HTTP 422).
func TestParseBatchValidationErrors(t *testing.T) {
	pay := func(id, order string, seq int) string {
		return ev(id, order, seq, "PaymentCaptured", `{"amount_cents":1}`)
	}
	many := make([]string, orderevents.MaxBatch+1)
	for i := range many {
		many[i] = pay(fmt.Sprintf("e%d", i), "o1", i+1)
	}
	type fe = orderevents.FieldError
	tests := []struct {
		name string
		body string
		want []fe
	}{
		{"no events key", `{}`, []fe{{"events", "is required"}}},
		{"null events", `{"events":null}`, []fe{{"events", "is required"}}},
		{"empty batch", `{"events":[]}`, []fe{{"events", "must hold 1 to 1000 events, got 0"}}},
		{"too many", batch(many...), []fe{{"events", "must hold 1 to 1000 events, got 1001"}}},
		{"null event", batch(`null`), []fe{{"events[0]", "must be an object"}}},
		{"missing everything", batch(`{}`), []fe{
			{"events[0].event_id", "is required"}, {"events[0].order_id", "is required"},
			{"events[0].sequence", "is required"}, {"events[0].occurred_at", "is required"},
			{"events[0].type", "is required"},
		}},
		{"bad ids and sequence", batch(ev("e 1", strings.Repeat("o", 65), 0, "PaymentCaptured", `{"amount_cents":1}`)), []fe{
			{"events[0].event_id", "may contain only letters, digits and _ . : -"},
			{"events[0].order_id", "must be at most 64 characters"},
			{"events[0].sequence", "must be at least 1"},
		}},
		{"bad timestamp", batch(strings.Replace(pay("e1", "o1", 1), "2026-03-01T10:00:00+01:00", "2026-03-01 10:00", 1)), []fe{
			{"events[0].occurred_at", "must be an RFC 3339 timestamp such as 2026-01-02T15:04:05Z"},
		}},
		{"year out of range", batch(strings.Replace(pay("e1", "o1", 1), "2026-03-01T10:00:00+01:00", "0000-01-01T00:00:00+01:00", 1)), []fe{
			{"events[0].occurred_at", "must be between the years 1900 and 9999 (UTC)"},
		}},
		{"unknown type", batch(ev("e1", "o1", 1, "OrderLost", `{}`)), []fe{
			{"events[0].type", "must be one of OrderPlaced, PaymentCaptured, OrderShipped, OrderCancelled, OrderRefunded"},
		}},
		{"missing data", batch(`{"event_id":"e1","order_id":"o1","sequence":1,"type":"OrderShipped","occurred_at":"2026-03-01T10:00:00Z"}`), []fe{
			{"events[0].data", "is required"},
		}},
		{"negative and missing amounts", batch(ev("e1", "o1", 1, "PaymentCaptured", `{"amount_cents":-1}`), ev("e2", "o1", 2, "OrderRefunded", `{}`)), []fe{
			{"events[0].data.amount_cents", "must not be negative"},
			{"events[1].data.amount_cents", "is required"},
		}},
		{"shipped without carrier", batch(ev("e1", "o1", 1, "OrderShipped", `{"carrier":"","tracking_number":"a\u0007b"}`)), []fe{
			{"events[0].data.carrier", "is required"},
			{"events[0].data.tracking_number", "must not contain control characters"},
		}},
		{"placed: everything wrong", batch(ev("e1", "o1", 1, "OrderPlaced", `{"customer_id":"c/1","currency":"eur","items":[{"sku":"a","qty":0,"unit_price_cents":-5},null],"total_cents":-1}`)), []fe{
			{"events[0].data.customer_id", "may contain only letters, digits and _ . : -"},
			{"events[0].data.merchant_id", "is required"},
			{"events[0].data.currency", "must be an ISO 4217 code of three upper-case letters"},
			{"events[0].data.items[0].qty", "must be at least 1"},
			{"events[0].data.items[0].unit_price_cents", "must not be negative"},
			{"events[0].data.items[1]", "must be an object"},
			{"events[0].data.total_cents", "must not be negative"},
		}},
		{"placed: no items", batch(ev("e1", "o1", 1, "OrderPlaced", `{"customer_id":"c","merchant_id":"m","currency":"USD","items":[],"total_cents":0}`)), []fe{
			{"events[0].data.items", "must hold 1 to 1000 items"},
		}},
		{"placed: total mismatch", batch(ev("e1", "o1", 1, "OrderPlaced", strings.Replace(placedData, `"total_cents":2500`, `"total_cents":2499`, 1))), []fe{
			{"events[0].data.total_cents", "must equal the sum of qty times unit_price_cents (2500)"},
		}},
		{"placed: overflow", batch(ev("e1", "o1", 1, "OrderPlaced", `{"customer_id":"c","merchant_id":"m","currency":"USD","items":[{"sku":"a","qty":3,"unit_price_cents":4611686018427387904}],"total_cents":0}`)), []fe{
			{"events[0].data.items[0]", "qty times unit_price_cents overflows"},
		}},
		{"duplicates inside the batch", batch(pay("e1", "o1", 1), pay("e1", "o2", 1), pay("e3", "o1", 1)), []fe{
			{"events[1].event_id", "duplicates events[0].event_id"},
			{"events[2].sequence", "duplicates the order_id and sequence of events[0]"},
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := orderevents.ParseBatch([]byte(tc.body))
			var ve *orderevents.ValidationError
			if !errors.As(err, &ve) {
				t.Fatalf("ParseBatch = %v (%T), want *ValidationError", err, err)
			}
			if got != nil {
				t.Errorf("ParseBatch returned %d events with an error; want none", len(got))
			}
			if diff := cmp.Diff(tc.want, ve.Errors); diff != "" {
				t.Errorf("field errors (-want +got):\n%s", diff)
			}
		})
	}
}

func TestDecodeDataRoundTrip(t *testing.T) {
	events, err := orderevents.ParseBatch([]byte(batch(ev("e1", "o1", 1, "OrderPlaced", placedData))))
	if err != nil {
		t.Fatal(err)
	}
	got, err := orderevents.DecodeData(events[0].Type, events[0].Data)
	if err != nil {
		t.Fatal(err)
	}
	want := orderevents.OrderPlaced{CustomerID: "cus_1", MerchantID: "mer_1", Currency: "EUR", TotalCents: 2500,
		Items: []orderevents.Item{{SKU: "mug-1", Qty: 2, UnitPriceCents: 1250}, {SKU: "tee", Qty: 1}}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("decoded data (-want +got):\n%s", diff)
	}
	if _, err := orderevents.DecodeData("Nope", []byte(`{}`)); err == nil {
		t.Error("DecodeData of an unknown type succeeded")
	}
}

// FuzzParseBatch checks that no input makes ParseBatch panic, that it
// returns either events or one of its two error types, and that accepted
// events re-encode to a batch that parses to the same events.
func FuzzParseBatch(f *testing.F) {
	f.Add([]byte(batch(ev("e1", "o1", 1, "OrderPlaced", placedData), ev("e2", "o1", 2, "OrderShipped", `{"carrier":"DHL","tracking_number":"1"}`))))
	f.Add([]byte(`{"events":[{"sequence":-1,"data":null}]}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		events, err := orderevents.ParseBatch(body)
		var se *orderevents.SyntaxError
		var ve *orderevents.ValidationError
		switch {
		case err == nil:
			if len(events) == 0 || len(events) > orderevents.MaxBatch {
				t.Fatalf("accepted %d events", len(events))
			}
		case errors.As(err, &se), errors.As(err, &ve):
			return
		default:
			t.Fatalf("unexpected error type %T: %v", err, err)
		}
		b, err := orderevents.EncodeBatch(events)
		if err != nil {
			t.Fatalf("re-encode: %v", err)
		}
		again, err := orderevents.ParseBatch(b)
		if err != nil {
			t.Fatalf("re-encoded batch rejected: %v\n%s", err, b)
		}
		if diff := cmp.Diff(events, again); diff != "" {
			t.Fatalf("round trip (-first +second):\n%s", diff)
		}
	})
}

func TestParseBatchKeysAreCaseSensitive(t *testing.T) {
	for _, body := range []string{
		`{"Events":[]}`,
		batch(`{"Event_ID":"e1"}`),
		batch(ev("e1", "o1", 1, "PaymentCaptured", `{"Amount_Cents":1}`)),
	} {
		_, err := orderevents.ParseBatch([]byte(body))
		var se *orderevents.SyntaxError
		if !errors.As(err, &se) || !strings.Contains(se.Msg, "unknown field") {
			t.Errorf("ParseBatch(%s) = %v, want an unknown-field *SyntaxError", body, err)
		}
	}
}
