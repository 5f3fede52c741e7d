package orderevents

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"strconv"

	"github.com/go-json-experiment/json/jsontext"
)

// Schema versions. An event's schema_version says which shape its data has;
// an event without one is version 1. The log keeps every event in the shape
// it arrived in and readers upcast older shapes to the latest (Decode), so
// the log is never rewritten.
//
// OrderPlaced has two versions:
//   - 1: items of sku, qty and unit_price_cents; total_cents is the sum of
//     qty × unit_price_cents.
//   - 2: every item also has tax_cents, the tax on the whole line; a line is
//     qty × unit_price_cents + tax_cents and total_cents, the amount the
//     customer is charged, is the sum of the lines (tax included).
//
// A version 1 order stated no tax, so it is read as version 2 with tax_cents
// 0 on every item and the same total: a v1 history and the v2 history with
// zero tax fold to the same order.
//
// Every version keeps customer_id and merchant_id at the top of data: the
// as_of report finds a subject's orders by them in the stored data, through
// the indexes of migration 00007, whatever the version. A new version that
// moved them would need new indexes and queries, not only an upcaster.
const (
	SchemaVersion1 = 1
	SchemaVersion2 = 2
)

// LatestSchemaVersion is the newest schema_version of an event type (0 for a
// type that does not exist): the shape Decode returns.
func LatestSchemaVersion(typ string) int {
	switch typ {
	case TypeOrderPlaced:
		return SchemaVersion2
	case TypePaymentCaptured, TypeOrderShipped, TypeOrderCancelled, TypeOrderRefunded:
		return SchemaVersion1
	}
	return 0
}

// OrderPlacedV1 is the data of an OrderPlaced event of schema version 1, as
// the log keeps it. Readers see it as an OrderPlaced (UpcastOrderPlacedV1).
type OrderPlacedV1 struct {
	CustomerID string   `json:"customer_id"`
	MerchantID string   `json:"merchant_id"`
	Currency   string   `json:"currency"`
	Items      []ItemV1 `json:"items"`
	TotalCents int64    `json:"total_cents"`
}

// ItemV1 is one line of a version 1 order: no tax.
type ItemV1 struct {
	SKU            string `json:"sku"`
	Qty            int64  `json:"qty"`
	UnitPriceCents int64  `json:"unit_price_cents"`
}

// UpcastOrderPlacedV1 reads a version 1 order as version 2: no tax on any
// line, the same total.
func UpcastOrderPlacedV1(v OrderPlacedV1) OrderPlaced {
	p := OrderPlaced{CustomerID: v.CustomerID, MerchantID: v.MerchantID, Currency: v.Currency, TotalCents: v.TotalCents}
	if v.Items != nil {
		p.Items = make([]Item, len(v.Items))
		for i, it := range v.Items {
			p.Items[i] = Item{SKU: it.SKU, Qty: it.Qty, UnitPriceCents: it.UnitPriceCents}
		}
	}
	return p
}

// Decode is the one upcast step every reader of the log goes through (the
// projector, the as_of fold, the audit trail): it decodes the stored data of
// an event of type typ and schema version version into the payload struct
// of the type's latest version (OrderPlaced, PaymentCaptured, ...),
// upcasting older versions.
//
// Version 0 is an error, not version 1: every stored event has a version,
// so 0 means a reader did not read it, and a v2 event read as v1 would lose
// its tax without a word.
func Decode(typ string, version int, data []byte) (any, error) {
	latest := LatestSchemaVersion(typ)
	switch {
	case version < 1:
		return nil, fmt.Errorf("decode %s data: schema_version %d: the reader did not read the event's version", typ, version)
	case latest == 0:
		return nil, fmt.Errorf("decode event data: unknown type %q", typ)
	case typ == TypeOrderPlaced && version == SchemaVersion1:
		var v OrderPlacedV1
		if err := json.Unmarshal(data, &v); err != nil {
			return nil, fmt.Errorf("decode %s v1 data: %w", typ, err)
		}
		return UpcastOrderPlacedV1(v), nil
	case version != latest:
		return nil, fmt.Errorf("decode %s data: unknown schema_version %d (this release knows 1 to %d)", typ, version, latest)
	}
	var v any
	switch typ {
	case TypeOrderPlaced:
		v = &OrderPlaced{}
	case TypePaymentCaptured:
		v = &PaymentCaptured{}
	case TypeOrderShipped:
		v = &OrderShipped{}
	case TypeOrderCancelled:
		v = &OrderCancelled{}
	case TypeOrderRefunded:
		v = &OrderRefunded{}
	}
	if err := json.Unmarshal(data, v); err != nil {
		return nil, fmt.Errorf("decode %s data: %w", typ, err)
	}
	return reflect.ValueOf(v).Elem().Interface(), nil
}

// schemaVersion checks an event's schema_version: absent is 1; otherwise a
// JSON integer that is a version of the event's type. It is read from the raw
// value so that "1", 1.5 or 10^30 is a rule broken (422) like 0 or 3, not a
// malformed body. typ is "" when the type is missing or unknown: then only
// the form is checked.
func (v *validator) schemaVersion(field string, raw jsontext.Value, typ string) int {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return SchemaVersion1
	}
	latest := LatestSchemaVersion(typ)
	msg := "must be a schema version: a whole number such as 1"
	switch {
	case latest == SchemaVersion1:
		msg = fmt.Sprintf("must be 1: %s has only schema version 1", typ)
	case latest > SchemaVersion1:
		msg = fmt.Sprintf("must be 1 to %d: the schema versions of %s", latest, typ)
	}
	if raw.Kind() != '0' {
		v.add(field, msg)
		return 0
	}
	n, err := strconv.ParseInt(string(raw), 10, 64)
	switch {
	case err != nil || n < 1: // a fraction, an exponent, out of int64, 0 or less
		v.add(field, msg)
		return 0
	case latest == 0:
		return int(min(n, 1<<31-1))
	case n > int64(latest):
		v.add(field, msg)
		return 0
	}
	return int(n)
}
