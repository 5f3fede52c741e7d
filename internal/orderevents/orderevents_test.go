package orderevents_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"runtime"
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
		{EventID: "e1", OrderID: "o1", Sequence: 1, Type: "OrderPlaced", SchemaVersion: 1, OccurredAt: at, Data: json.RawMessage(placedData)},
		{EventID: "e2", OrderID: "o1", Sequence: 2, Type: "PaymentCaptured", SchemaVersion: 1, OccurredAt: at, Data: json.RawMessage(`{"amount_cents":2500}`)},
		{EventID: "e3", OrderID: "o1", Sequence: 3, Type: "OrderShipped", SchemaVersion: 1, OccurredAt: at, Data: json.RawMessage(`{"carrier":"ヤマト運輸","tracking_number":"T-1"}`)},
		{EventID: "e4", OrderID: "o1", Sequence: 4, Type: "OrderCancelled", SchemaVersion: 1, OccurredAt: at, Data: json.RawMessage(`{"reason":"zu spät"}`)},
		{EventID: "e5", OrderID: "o1", Sequence: 5, Type: "OrderRefunded", SchemaVersion: 1, OccurredAt: at, Data: json.RawMessage(`{"amount_cents":100}`)},
		{EventID: "e6", OrderID: "o2", Sequence: 1, Type: "OrderCancelled", SchemaVersion: 1, OccurredAt: at, Data: json.RawMessage(`{"reason":""}`)},
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
		{"malformed", `{"events":[`, "ends too early"},
		{"bad token", `{"events":[}`, "malformed JSON at byte"},
		{"trailing data", batch(ok) + `{}`, "after the top-level object"},
		{"unknown top-level field", `{"events":[],"extra":1}`, `unknown field "extra"`},
		{"events not an array", `{"events":"x"}`, "events: must be a JSON array"},
		{"unknown event field", batch(ok, `{"event_id":"e2","color":"red"}`), `events[1]: unknown field "color"`},
		{"sequence as string", batch(`{"sequence":"1"}`), "events[0].sequence: must be a JSON integer"},
		{"sequence fractional", batch(`{"sequence":1.5}`), "events[0].sequence: must be a JSON integer"},
		{"sequence overflow", batch(`{"sequence":99999999999999999999}`), "events[0].sequence: is out of range for a 64-bit integer"},
		{"event not an object", batch(`7`), "events[0]: must be a JSON object"},
		{"data not an object", batch(ev("e1", "o1", 1, "PaymentCaptured", `[1]`)), "events[0].data: must be a JSON object"},
		{"unknown data field", batch(ev("e1", "o1", 1, "PaymentCaptured", `{"amount_cents":1,"tip":2}`)), `events[0].data: unknown field "tip"`},
		{"field of another type", batch(ev("e1", "o1", 1, "OrderRefunded", `{"carrier":"x"}`)), `events[0].data: unknown field "carrier"`},
		{"unknown item field", batch(ev("e1", "o1", 1, "OrderPlaced", `{"items":[{"sku":"a","qty":1,"unit_price_cents":1},{"sku":"b","colour":"x"}]}`)), `events[0].data.items[1]: unknown field "colour"`},
		{"item qty as string", batch(ev("e1", "o1", 1, "OrderPlaced", `{"items":[{"qty":"2"}]}`)), "events[0].data.items[0].qty: must be a JSON integer"},
		{"items not an array", batch(ev("e1", "o1", 1, "OrderPlaced", `{"items":{}}`)), "events[0].data.items: must be a JSON array"},
		{"invalid UTF-8", batch(ev("e1", "o1", 1, "OrderCancelled", "{\"reason\":\"\xff\"}")), `events[0].data.reason: must be valid UTF-8`},
		{"case-variant data key", batch(ev("e1", "o1", 1, "PaymentCaptured", `{"AMOUNT_CENTS":1}`)), `events[0].data: unknown field "AMOUNT_CENTS"`},
		{"amount beyond int64", batch(ev("e1", "o1", 1, "PaymentCaptured", `{"amount_cents":9223372036854775808}`)), `events[0].data.amount_cents: is out of range`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := orderevents.ParseBatch([]byte(tc.body))
			var se *orderevents.SyntaxError
			if !errors.As(err, &se) {
				t.Fatalf("ParseBatch(%s) = %v (%T), want *SyntaxError", tc.body, err, err)
			}
			if !strings.Contains(se.Error(), tc.want) {
				t.Errorf("message %q does not contain %q", se.Error(), tc.want)
			}
		})
	}
}

const (
	amountMsg   = "must be a whole number of minor units from 0 to 1000000000000"
	currencyMsg = "must be an ISO 4217 currency code in use, in upper case, such as EUR"
)

func placed(items string, total int64) string {
	return fmt.Sprintf(`{"customer_id":"c","merchant_id":"m","currency":"USD","items":%s,"total_cents":%d}`, items, total)
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
		{"empty batch", `{"events":[]}`, []fe{{"events", "must hold 1 to 1000 events"}}},
		{"too many", batch(many...), []fe{{"events", "must hold 1 to 1000 events"}}},
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
			{"events[0].data.amount_cents", amountMsg},
			{"events[1].data.amount_cents", "is required"},
		}},
		{"shipped without carrier", batch(ev("e1", "o1", 1, "OrderShipped", `{"carrier":"","tracking_number":"a\u0007b"}`)), []fe{
			{"events[0].data.carrier", "is required"},
			{"events[0].data.tracking_number", "must not contain control characters"},
		}},
		{"placed: everything wrong", batch(ev("e1", "o1", 1, "OrderPlaced", `{"customer_id":"c/1","currency":"eur","items":[{"sku":"a","qty":0,"unit_price_cents":-5},null],"total_cents":-1}`)), []fe{
			{"events[0].data.customer_id", "may contain only letters, digits and _ . : -"},
			{"events[0].data.merchant_id", "is required"},
			{"events[0].data.currency", currencyMsg},
			{"events[0].data.items[0].qty", "must be from 1 to 1000000"},
			{"events[0].data.items[0].unit_price_cents", amountMsg},
			{"events[0].data.items[1]", "must be an object"},
			{"events[0].data.total_cents", amountMsg},
		}},
		{"placed: no items", batch(ev("e1", "o1", 1, "OrderPlaced", `{"customer_id":"c","merchant_id":"m","currency":"USD","items":[],"total_cents":0}`)), []fe{
			{"events[0].data.items", "must hold 1 to 1000 items"},
		}},
		{"placed: total mismatch", batch(ev("e1", "o1", 1, "OrderPlaced", strings.Replace(placedData, `"total_cents":2500`, `"total_cents":2499`, 1))), []fe{
			{"events[0].data.total_cents", "must equal the sum of qty times unit_price_cents (2500)"},
		}},
		{"placed: int64-sized price", batch(ev("e1", "o1", 1, "OrderPlaced", placed(`[{"sku":"a","qty":3,"unit_price_cents":4611686018427387904}]`, 0))), []fe{
			{"events[0].data.items[0].unit_price_cents", amountMsg},
		}},
		{"placed: amounts at the bound", batch(ev("e1", "o1", 1, "OrderPlaced", placed(`[{"sku":"a","qty":1,"unit_price_cents":1000000000001}]`, 1000000000001))), []fe{
			{"events[0].data.items[0].unit_price_cents", amountMsg},
			{"events[0].data.total_cents", amountMsg},
		}},
		{"placed: qty over the bound", batch(ev("e1", "o1", 1, "OrderPlaced", placed(`[{"sku":"a","qty":1000001,"unit_price_cents":1}]`, 1000001))), []fe{
			{"events[0].data.items[0].qty", "must be from 1 to 1000000"},
		}},
		{"placed: line over the bound", batch(ev("e1", "o1", 1, "OrderPlaced", placed(`[{"sku":"a","qty":1000000,"unit_price_cents":1000001}]`, 0))), []fe{
			{"events[0].data.items[0]", "qty times unit_price_cents must be at most 1000000000000"},
		}},
		{"placed: total over the bound", batch(ev("e1", "o1", 1, "OrderPlaced", placed(`[{"sku":"a","qty":1,"unit_price_cents":600000000000},{"sku":"b","qty":1,"unit_price_cents":600000000000}]`, 1000000000000))), []fe{
			{"events[0].data.total_cents", "the sum of qty times unit_price_cents (1200000000000) must be at most 1000000000000"},
		}},
		{"placed: unknown currencies", batch(
			ev("e1", "o1", 1, "OrderPlaced", strings.Replace(placedData, "EUR", "ZZZ", 1)),
			ev("e2", "o2", 1, "OrderPlaced", strings.Replace(placedData, "EUR", "XTS", 1)),
			ev("e3", "o3", 1, "OrderPlaced", strings.Replace(placedData, "EUR", "DEM", 1)),
			ev("e4", "o4", 1, "OrderPlaced", strings.Replace(placedData, "EUR", "usd", 1)),
		), []fe{
			{"events[0].data.currency", currencyMsg}, {"events[1].data.currency", currencyMsg},
			{"events[2].data.currency", currencyMsg}, {"events[3].data.currency", currencyMsg},
		}},
		{"placed: too many items", batch(ev("e1", "o1", 1, "OrderPlaced", placed("["+strings.Repeat(`{},`, orderevents.MaxItems)+`{}]`, 0))), []fe{
			{"events[0].data.items", "must hold 1 to 1000 items"},
		}},
		{"NUL in a field", batch(ev("e1", "o1", 1, "OrderShipped", `{"carrier":"DHL\u0000","tracking_number":"1"}`)), []fe{
			{"events[0].data.carrier", `must not contain the NUL character (\u0000)`},
		}},
		{"NUL in an id", batch(strings.Replace(ev("e1", "o1", 1, "PaymentCaptured", `{"amount_cents":1}`), `"e1"`, `"e1\u0000"`, 1)), []fe{
			{"events[0].event_id", `must not contain the NUL character (\u0000)`},
		}},
		{"lone surrogate", batch(ev("e1", "o1", 1, "OrderCancelled", `{"reason":"\ud800"}`)), []fe{
			{"events[0].data.reason", `must not contain a lone UTF-16 surrogate escape such as \ud800`},
		}},
		{"duplicate key", batch(`{"type":"OrderShipped","type":"OrderCancelled"}`), []fe{
			{"events[0]", `duplicate field "type"`},
		}},
		{"amount over the bound", batch(ev("e1", "o1", 1, "PaymentCaptured", `{"amount_cents":1000000000001}`)), []fe{
			{"events[0].data.amount_cents", amountMsg},
		}},
		{"NUL-free but control characters", batch(ev("e1", "o1", 1, "OrderCancelled", `{"reason":"a\u001fb"}`)), []fe{
			{"events[0].data.reason", "must not contain control characters"},
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

// FuzzParseBatch checks that no input makes ParseBatch panic, that it
// returns either events or one of its two error types, and that accepted
// events re-encode to a batch that parses to the same events.
func FuzzParseBatch(f *testing.F) {
	f.Add([]byte(batch(ev("e1", "o1", 1, "OrderPlaced", placedData), ev("e2", "o1", 2, "OrderShipped", `{"carrier":"DHL","tracking_number":"1"}`))))
	f.Add([]byte(`{"events":[{"sequence":-1,"data":null}]}`))
	for _, seed := range []string{
		batch(ev("e1", "o1", 1, "OrderShipped", `{"carrier":"a\u0000","tracking_number":"1"}`)),
		batch(ev("e1", "o1", 1, "OrderCancelled", "{\"reason\":\"\xff\xfe\"}")),
		batch(ev("e1", "o1", 1, "OrderCancelled", `{"reason":"\ud800x\udfff"}`)),
		batch(ev("e1", "o1", 1, "PaymentCaptured", `{"amount_cents":9223372036854775807}`)),
		batch(ev("e1", "o1", 1, "PaymentCaptured", `{"amount_cents":9223372036854775808}`)),
		batch(ev("e1", "o1", 1, "PaymentCaptured", `{"amount_cents":1000000000000}`)),
		batch(ev("e1", "o1", 1, "OrderPlaced", placed(`[{"sku":"a","qty":1000000,"unit_price_cents":1000000}]`, 1000000000000))),
		batch(ev("e1", "o1", 1, "OrderPlaced", placed(`[{"sku":"a","qty":3,"unit_price_cents":3074457345618258603}]`, 1))),
		batch(ev("e1", "o1", 1, "OrderPlaced", strings.Replace(placedData, "EUR", "ZZZ", 1))),
		batch(`{"EVENT_ID":"e1","Type":"OrderShipped"}`), `{"Events":[]}`,
		`{"events":[` + strings.Repeat(`{},`, 1100) + `{}]}`,
		batch(ev("e1", "o1", 1, "OrderPlaced", placed("["+strings.Repeat(`{},`, 1100)+`{}]`, 0))),
		`{"events":[` + strings.Repeat(`[`, 5000) + strings.Repeat(`]`, 5000) + `]}`,
		batch(ev("e1", "o1", 1, "OrderCancelled", `{"reason":`+strings.Repeat(`{"a":`, 300)+`1`+strings.Repeat(`}`, 300)+`}`)),
		batch(evV("e1", "o1", 1, "OrderPlaced", 2, placedV2Data)),
		batch(evV("e1", "o1", 1, "OrderPlaced", 2, placedData)),
		batch(evV("e1", "o1", 1, "OrderPlaced", 1, placedV2Data)),
		batch(evV("e1", "o1", 1, "OrderPlaced", 3, placedV2Data)),
		batch(evV("e1", "o1", 1, "PaymentCaptured", 2, `{"amount_cents":1}`)),
		batch(strings.Replace(ev("e1", "o1", 1, "OrderPlaced", placedData), `"type"`, `"schema_version":"1","type"`, 1)),
		batch(strings.Replace(ev("e1", "o1", 1, "OrderPlaced", placedData), `"type"`, `"schema_version":1e400,"type"`, 1)),
		batch(strings.Replace(ev("e1", "o1", 1, "OrderPlaced", placedData), `"type"`, `"schema_version":null,"type"`, 1)),
		batch(ev("", "", 0, "", `{}`)), `{"events":[{"event_id":"","data":{}}]}`, `{}`, ``, `null`, `{"events":null}`,
	} {
		f.Add([]byte(seed))
	}
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
		for _, e := range events { // what the door lets in, every reader can read
			if _, err := orderevents.Decode(e.Type, e.SchemaVersion, e.Data); err != nil {
				t.Fatalf("accepted event does not decode: %v\n%s", err, e.Data)
			}
		}
	})
}

func TestIsCurrency(t *testing.T) {
	for code, want := range map[string]bool{
		"USD": true, "EUR": true, "JPY": true, "KWD": true, "CHF": true, "VES": true,
		"ZZZ": false, "XXX": false, "XTS": false, "XAU": false, "DEM": false, "usd": false, "US": false, "": false,
	} {
		if got := orderevents.IsCurrency(code); got != want {
			t.Errorf("IsCurrency(%q) = %v, want %v", code, got, want)
		}
	}
}

// A 4 MB body of a million {} events stops at the cap without decoding the
// million first (on main it materialised all of them before rejecting).
func TestParseBatchCountsEventsWhileDecoding(t *testing.T) {
	body := []byte(`{"events":[` + strings.Repeat(`{},`, 1_300_000) + `{}]}`)
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	_, err := orderevents.ParseBatch(body)
	runtime.ReadMemStats(&after)
	var ve *orderevents.ValidationError
	if !errors.As(err, &ve) || len(ve.Errors) != 1 || ve.Errors[0].Field != "events" {
		t.Fatalf("ParseBatch = %v, want one error naming events", err)
	}
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 1<<20 {
		t.Fatalf("parsing a %d-byte body allocated %d bytes, want under 1 MiB", len(body), alloc)
	}
}

func TestParseBatchKeysAreCaseSensitive(t *testing.T) {
	for _, body := range []string{
		`{"Events":[]}`,
		batch(`{"Event_ID":"e1"}`),
		batch(ev("e1", "o1", 1, "PaymentCaptured", `{"Amount_Cents":1}`)),
	} {
		_, err := orderevents.ParseBatch([]byte(body))
		var se *orderevents.SyntaxError
		if !errors.As(err, &se) || !strings.Contains(se.Msg, "unknown field") || se.Field == "" && body != `{"Events":[]}` {
			t.Errorf("ParseBatch(%s) = %v, want an unknown-field *SyntaxError", body, err)
		}
	}
}
