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

// placedV2Data is placedData as version 2: the mugs carry 475 of tax, the
// tee none, and the total includes it.
const placedV2Data = `{"customer_id":"cus_1","merchant_id":"mer_1","currency":"EUR","items":[{"sku":"mug-1","qty":2,"unit_price_cents":1250,"tax_cents":475},{"sku":"tee","qty":1,"unit_price_cents":0,"tax_cents":0}],"total_cents":2975}`

// evV is ev with a schema_version.
func evV(id, order string, seq int, typ string, version int, data string) string {
	return strings.Replace(ev(id, order, seq, typ, data), `"type":`, fmt.Sprintf(`"schema_version":%d,"type":`, version), 1)
}

func TestParseBatchSchemaVersions(t *testing.T) {
	body := batch(
		ev("e1", "o1", 1, "OrderPlaced", placedData),       // no schema_version: 1
		evV("e2", "o2", 1, "OrderPlaced", 1, placedData),   // explicit 1
		evV("e3", "o3", 1, "OrderPlaced", 2, placedV2Data), // 2, with tax
		evV("e4", "o3", 2, "PaymentCaptured", 1, `{"amount_cents":2975}`),
	)
	got, err := orderevents.ParseBatch([]byte(body))
	if err != nil {
		t.Fatalf("ParseBatch: %v", err)
	}
	at := time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
	// The log keeps each event in its own version's shape.
	want := []orderevents.Event{
		{EventID: "e1", OrderID: "o1", Sequence: 1, Type: "OrderPlaced", SchemaVersion: 1, OccurredAt: at, Data: json.RawMessage(placedData)},
		{EventID: "e2", OrderID: "o2", Sequence: 1, Type: "OrderPlaced", SchemaVersion: 1, OccurredAt: at, Data: json.RawMessage(placedData)},
		{EventID: "e3", OrderID: "o3", Sequence: 1, Type: "OrderPlaced", SchemaVersion: 2, OccurredAt: at, Data: json.RawMessage(placedV2Data)},
		{EventID: "e4", OrderID: "o3", Sequence: 2, Type: "PaymentCaptured", SchemaVersion: 1, OccurredAt: at, Data: json.RawMessage(`{"amount_cents":2975}`)},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("events (-want +got):\n%s", diff)
	}
}

// A schema_version that is not a version of the event's type is a rule
// broken (422), whatever its JSON type; the data is then not judged.
func TestParseBatchSchemaVersionErrors(t *testing.T) {
	placedMsg := "must be 1 to 2: the schema versions of OrderPlaced"
	withVersion := func(typ, raw, data string) string {
		return batch(strings.Replace(ev("e1", "o1", 1, typ, data), `"type":`, `"schema_version":`+raw+`,"type":`, 1))
	}
	type fe = orderevents.FieldError
	tests := []struct {
		name, body string
		want       []fe
	}{
		{"zero", withVersion("OrderPlaced", "0", placedData), []fe{{"events[0].schema_version", placedMsg}}},
		{"negative", withVersion("OrderPlaced", "-1", placedData), []fe{{"events[0].schema_version", placedMsg}}},
		{"three", withVersion("OrderPlaced", "3", placedV2Data), []fe{{"events[0].schema_version", placedMsg}}},
		{"a string", withVersion("OrderPlaced", `"1"`, placedData), []fe{{"events[0].schema_version", placedMsg}}},
		{"a fraction", withVersion("OrderPlaced", "1.5", placedData), []fe{{"events[0].schema_version", placedMsg}}},
		{"an exponent", withVersion("OrderPlaced", "1e0", placedData), []fe{{"events[0].schema_version", placedMsg}}},
		{"huge", withVersion("OrderPlaced", "99999999999999999999999", placedData), []fe{{"events[0].schema_version", placedMsg}}},
		{"beyond float64", withVersion("OrderPlaced", "1e400", placedData), []fe{{"events[0].schema_version", placedMsg}}},
		{"null", withVersion("OrderPlaced", "null", placedData), []fe{{"events[0].schema_version", placedMsg}}},
		{"an object", withVersion("OrderPlaced", `{"v":1}`, placedData), []fe{{"events[0].schema_version", placedMsg}}},
		{"2 of a type with one version", withVersion("PaymentCaptured", "2", `{"amount_cents":1}`), []fe{
			{"events[0].schema_version", "must be 1: PaymentCaptured has only schema version 1"},
		}},
		{"unknown type: the type is the error", withVersion("OrderLost", "2", `{}`), []fe{
			{"events[0].type", "must be one of OrderPlaced, PaymentCaptured, OrderShipped, OrderCancelled, OrderRefunded"},
		}},
		{"unknown type and a broken version", withVersion("OrderLost", `"x"`, `{}`), []fe{
			{"events[0].schema_version", "must be a schema version: a whole number such as 1"},
			{"events[0].type", "must be one of OrderPlaced, PaymentCaptured, OrderShipped, OrderCancelled, OrderRefunded"},
		}},
		{"v2 without tax", batch(evV("e1", "o1", 1, "OrderPlaced", 2, placedData)), []fe{
			{"events[0].data.items[0].tax_cents", "is required"},
			{"events[0].data.items[1].tax_cents", "is required"},
		}},
		{"v2 negative tax", batch(evV("e1", "o1", 1, "OrderPlaced", 2, placed(`[{"sku":"a","qty":1,"unit_price_cents":5,"tax_cents":-1}]`, 4))), []fe{
			{"events[0].data.items[0].tax_cents", amountMsg},
		}},
		{"v2 total without the tax", batch(evV("e1", "o1", 1, "OrderPlaced", 2, strings.Replace(placedV2Data, "2975", "2500", 1))), []fe{
			{"events[0].data.total_cents", "must equal the sum of qty times unit_price_cents plus tax_cents (2975)"},
		}},
		{"v2 line over the bound by its tax", batch(evV("e1", "o1", 1, "OrderPlaced", 2, placed(`[{"sku":"a","qty":1,"unit_price_cents":1000000000000,"tax_cents":1}]`, 1000000000001))), []fe{
			{"events[0].data.items[0]", "qty times unit_price_cents plus tax_cents must be at most 1000000000000"},
			{"events[0].data.total_cents", amountMsg},
		}},
		{"v2 total over the bound by tax", batch(evV("e1", "o1", 1, "OrderPlaced", 2, placed(`[{"sku":"a","qty":1,"unit_price_cents":600000000000,"tax_cents":0},{"sku":"b","qty":1,"unit_price_cents":1,"tax_cents":400000000000}]`, 1000000000000))), []fe{
			{"events[0].data.total_cents", "the sum of qty times unit_price_cents plus tax_cents (1000000000001) must be at most 1000000000000"},
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

// tax_cents belongs to version 2: in a version 1 event it is an unknown
// field, as any other would be (400), never silently dropped.
func TestParseBatchTaxInAVersion1Event(t *testing.T) {
	_, err := orderevents.ParseBatch([]byte(batch(ev("e1", "o1", 1, "OrderPlaced", placedV2Data))))
	var se *orderevents.SyntaxError
	if !errors.As(err, &se) || !strings.Contains(se.Error(), `events[0].data.items[0]: unknown field "tax_cents"`) ||
		!strings.Contains(se.Msg, `send "schema_version": 2`) {
		t.Fatalf("ParseBatch = %v (%T), want a *SyntaxError naming tax_cents and the version it needs", err, err)
	}
}

// Decode is the upcaster: every stored version comes out as the latest.
func TestDecode(t *testing.T) {
	v2 := orderevents.OrderPlaced{CustomerID: "cus_1", MerchantID: "mer_1", Currency: "EUR", TotalCents: 2975,
		Items: []orderevents.Item{{SKU: "mug-1", Qty: 2, UnitPriceCents: 1250, TaxCents: 475}, {SKU: "tee", Qty: 1}}}
	v1AsV2 := orderevents.OrderPlaced{CustomerID: "cus_1", MerchantID: "mer_1", Currency: "EUR", TotalCents: 2500,
		Items: []orderevents.Item{{SKU: "mug-1", Qty: 2, UnitPriceCents: 1250}, {SKU: "tee", Qty: 1}}}
	tests := []struct {
		name    string
		typ     string
		version int
		data    string
		want    any
		wantErr string
	}{
		{"OrderPlaced v1 gets no tax and keeps its total", "OrderPlaced", 1, placedData, v1AsV2, ""},
		{"version 0 is a reader's bug, not version 1", "OrderPlaced", 0, placedV2Data, nil, "did not read the event's version"},
		{"OrderPlaced v2 as stored", "OrderPlaced", 2, placedV2Data, v2, ""},
		{"a v1 event stored with a stray tax_cents keeps v1's meaning", "OrderPlaced", 1, placedV2Data,
			orderevents.OrderPlaced{CustomerID: "cus_1", MerchantID: "mer_1", Currency: "EUR", TotalCents: 2975,
				Items: []orderevents.Item{{SKU: "mug-1", Qty: 2, UnitPriceCents: 1250}, {SKU: "tee", Qty: 1}}}, ""},
		{"PaymentCaptured v1", "PaymentCaptured", 1, `{"amount_cents":7}`, orderevents.PaymentCaptured{AmountCents: 7}, ""},
		{"OrderShipped v1", "OrderShipped", 1, `{"carrier":"DHL","tracking_number":"1"}`, orderevents.OrderShipped{Carrier: "DHL", TrackingNumber: "1"}, ""},
		{"OrderCancelled v1", "OrderCancelled", 1, `{"reason":"late"}`, orderevents.OrderCancelled{Reason: "late"}, ""},
		{"OrderRefunded v1", "OrderRefunded", 1, `{"amount_cents":3}`, orderevents.OrderRefunded{AmountCents: 3}, ""},
		{"a version from a newer release", "OrderPlaced", 3, placedV2Data, nil, "unknown schema_version 3"},
		{"a version the type never had", "PaymentCaptured", 2, `{"amount_cents":7}`, nil, "unknown schema_version 2"},
		{"an unknown type", "Nope", 1, `{}`, nil, `unknown type "Nope"`},
		{"data that does not decode", "OrderRefunded", 1, `{"amount_cents":"x"}`, nil, "decode OrderRefunded data"},
		{"v1 data that does not decode", "OrderPlaced", 1, `[]`, nil, "decode OrderPlaced v1 data"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := orderevents.Decode(tc.typ, tc.version, []byte(tc.data))
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("Decode = %v, %v; want an error containing %q", got, err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("decoded (-want +got):\n%s", diff)
			}
		})
	}
}

// The equivalence the upcaster promises: a v1 event and the v2 event with
// zero tax read the same.
func TestUpcastV1EqualsZeroTaxV2(t *testing.T) {
	zeroTax := strings.ReplaceAll(strings.ReplaceAll(placedData, `"unit_price_cents":1250}`, `"unit_price_cents":1250,"tax_cents":0}`),
		`"unit_price_cents":0}`, `"unit_price_cents":0,"tax_cents":0}`)
	events, err := orderevents.ParseBatch([]byte(batch(ev("e1", "o1", 1, "OrderPlaced", placedData), evV("e2", "o2", 1, "OrderPlaced", 2, zeroTax))))
	if err != nil {
		t.Fatal(err)
	}
	v1, err := orderevents.Decode(events[0].Type, events[0].SchemaVersion, events[0].Data)
	if err != nil {
		t.Fatal(err)
	}
	v2, err := orderevents.Decode(events[1].Type, events[1].SchemaVersion, events[1].Data)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(v2, v1); diff != "" {
		t.Errorf("v1 read as v2 (-zero-tax v2 +v1):\n%s", diff)
	}
}

func TestLatestSchemaVersion(t *testing.T) {
	got := map[string]int{}
	for _, typ := range []string{"OrderPlaced", "PaymentCaptured", "OrderShipped", "OrderCancelled", "OrderRefunded", "Nope"} {
		got[typ] = orderevents.LatestSchemaVersion(typ)
	}
	want := map[string]int{"OrderPlaced": 2, "PaymentCaptured": 1, "OrderShipped": 1, "OrderCancelled": 1, "OrderRefunded": 1, "Nope": 0}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("latest versions (-want +got):\n%s", diff)
	}
}

// BenchmarkDecode measures what the upcast costs a reader: a v1 OrderPlaced
// (decoded as v1, then upcast) against a v2 one (decoded as is).
func BenchmarkDecode(b *testing.B) {
	for _, bc := range []struct {
		name    string
		version int
		data    string
	}{
		{"OrderPlaced_v1_upcast", 1, placedData},
		{"OrderPlaced_v2", 2, placedV2Data},
	} {
		b.Run(bc.name, func(b *testing.B) {
			data := []byte(bc.data)
			b.ReportAllocs()
			for b.Loop() {
				if _, err := orderevents.Decode("OrderPlaced", bc.version, data); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
