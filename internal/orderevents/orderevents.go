package orderevents

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/go-json-experiment/json/jsontext"
	"golang.org/x/text/currency"

	"github.com/reportd/reportd/internal/strictjson"
)

// Bounds every event is held to at the door. The read model's sums rely on
// them (another amount can never overflow int64), so they are exported.
const (
	// MaxBatch is the largest number of events one batch may carry.
	MaxBatch = 1000
	// MaxItems is the largest number of lines one order may have.
	MaxItems = 1000
	// MaxAmountMinor bounds every amount (unit_price_cents, tax_cents,
	// total_cents, amount_cents), every line (qty × unit_price_cents, plus
	// tax_cents in version 2) and every order total: 10^12 minor units, ten
	// billion of a two-decimal currency.
	MaxAmountMinor int64 = 1_000_000_000_000
	// MaxQty bounds an order line's quantity (the least is 1).
	MaxQty int64 = 1_000_000
	// MaxIDLen bounds event_id, order_id, customer_id and merchant_id.
	MaxIDLen = 64
	// Free-text lengths, in characters.
	MaxSKULen            = 64
	MaxCarrierLen        = 100
	MaxTrackingNumberLen = 100
	MaxReasonLen         = 500
)

// maxErrors bounds the error list so a hostile batch cannot make a huge answer.
const maxErrors = 100

// Event types.
const (
	TypeOrderPlaced     = "OrderPlaced"
	TypePaymentCaptured = "PaymentCaptured"
	TypeOrderShipped    = "OrderShipped"
	TypeOrderCancelled  = "OrderCancelled"
	TypeOrderRefunded   = "OrderRefunded"
)

// Event is one validated order event. Data is the canonical JSON of the
// payload of the type's SchemaVersion (one of the payload structs below, or
// OrderPlacedV1): only known fields, compact, so the log never stores what
// the client sent beyond the contract. SchemaVersion 0 means 1, the default:
// the log stores it as 1.
type Event struct {
	EventID       string
	OrderID       string
	Sequence      int64
	Type          string
	SchemaVersion int
	OccurredAt    time.Time // UTC
	Data          json.RawMessage
}

// Item is one line of an order. TaxCents is the tax on the whole line, so
// the line costs Qty × UnitPriceCents + TaxCents.
type Item struct {
	SKU            string `json:"sku"`
	Qty            int64  `json:"qty"`
	UnitPriceCents int64  `json:"unit_price_cents"`
	TaxCents       int64  `json:"tax_cents"`
}

// OrderPlaced is the payload of an OrderPlaced event in its latest schema
// version (2), the shape every reader sees: TotalCents is the sum of the
// lines, tax included (see SchemaVersion2).
type OrderPlaced struct {
	CustomerID string `json:"customer_id"`
	MerchantID string `json:"merchant_id"`
	Currency   string `json:"currency"`
	Items      []Item `json:"items"`
	TotalCents int64  `json:"total_cents"`
}

// PaymentCaptured is the payload of a PaymentCaptured event.
type PaymentCaptured struct {
	AmountCents int64 `json:"amount_cents"`
}

// OrderShipped is the payload of an OrderShipped event.
type OrderShipped struct {
	Carrier        string `json:"carrier"`
	TrackingNumber string `json:"tracking_number"`
}

// OrderCancelled is the payload of an OrderCancelled event.
type OrderCancelled struct {
	Reason string `json:"reason"`
}

// OrderRefunded is the payload of an OrderRefunded event.
type OrderRefunded struct {
	AmountCents int64 `json:"amount_cents"`
}

// SyntaxError means the body could not be decoded: malformed JSON, an unknown
// field or a value of the wrong JSON type. Field is the field path ("" for
// the whole body) and Msg what is wrong there.
type SyntaxError struct {
	Field string
	Msg   string
}

func (e *SyntaxError) Error() string {
	if e.Field == "" {
		return e.Msg
	}
	return e.Field + ": " + e.Msg
}

// FieldError is one rule a decoded value breaks.
type FieldError struct {
	Field   string `json:"field"`
	Message string `json:"message"`
}

// ValidationError lists every rule the batch breaks.
type ValidationError struct {
	Errors []FieldError
}

func (e *ValidationError) Error() string {
	if len(e.Errors) == 0 {
		return "invalid order events"
	}
	f := e.Errors[0]
	if len(e.Errors) == 1 {
		return fmt.Sprintf("invalid order events: %s: %s", f.Field, f.Message)
	}
	return fmt.Sprintf("invalid order events: %s: %s (and %d more)", f.Field, f.Message, len(e.Errors)-1)
}

// Wire shapes: pointers tell a missing field from a zero one. Arrays are
// decoded element by element under a cap (see ParseBatch).
type wireBatch struct {
	Events []*wireEvent `json:"events"`
}

type wireEvent struct {
	EventID    *string        `json:"event_id"`
	OrderID    *string        `json:"order_id"`
	Sequence   *int64         `json:"sequence"`
	Type       *string        `json:"type"`
	Version    jsontext.Value `json:"schema_version"`
	OccurredAt *string        `json:"occurred_at"`
	Data       jsontext.Value `json:"data"`
}

type wirePlaced struct {
	CustomerID *string     `json:"customer_id"`
	MerchantID *string     `json:"merchant_id"`
	Currency   *string     `json:"currency"`
	Items      []*wireItem `json:"items"`
	TotalCents *int64      `json:"total_cents"`
}

type wireItem struct {
	SKU            *string `json:"sku"`
	Qty            *int64  `json:"qty"`
	UnitPriceCents *int64  `json:"unit_price_cents"`
}

// wireItemV2 is a line of a version 2 OrderPlaced: with its tax.
type wireItemV2 struct {
	wireItem
	TaxCents *int64 `json:"tax_cents"`
}

type wirePlacedV2 struct {
	CustomerID *string       `json:"customer_id"`
	MerchantID *string       `json:"merchant_id"`
	Currency   *string       `json:"currency"`
	Items      []*wireItemV2 `json:"items"`
	TotalCents *int64        `json:"total_cents"`
}

type wireAmount struct {
	AmountCents *int64 `json:"amount_cents"`
}

type wireShipped struct {
	Carrier        *string `json:"carrier"`
	TrackingNumber *string `json:"tracking_number"`
}

type wireCancelled struct {
	Reason *string `json:"reason"`
}

// EncodeBatch renders events as a request body, {"events":[...]}, the
// shape ParseBatch reads back.
func EncodeBatch(events []Event) ([]byte, error) {
	type outEvent struct {
		EventID       string          `json:"event_id"`
		OrderID       string          `json:"order_id"`
		Sequence      int64           `json:"sequence"`
		Type          string          `json:"type"`
		SchemaVersion int             `json:"schema_version,omitempty"`
		OccurredAt    time.Time       `json:"occurred_at"`
		Data          json.RawMessage `json:"data"`
	}
	out := struct {
		Events []outEvent `json:"events"`
	}{Events: make([]outEvent, len(events))}
	for i, e := range events {
		out.Events[i] = outEvent(e)
	}
	b, err := json.Marshal(out)
	if err != nil {
		return nil, fmt.Errorf("encode %d order events: %w", len(events), err)
	}
	return b, nil
}

// ParseBatch decodes a request body strictly and validates every event. It
// returns a *SyntaxError or a *ValidationError; on any error no event is
// returned. Events are counted while they are decoded: a body with more than
// MaxBatch is rejected at the (MaxBatch+1)th, whatever follows it.
func ParseBatch(body []byte) ([]Event, error) {
	v := &validator{}
	var wb wireBatch
	if err := v.decode(body, &wb, "", strictjson.MaxItems[*wireEvent](MaxBatch)); err != nil {
		return nil, err
	}
	if err := v.err(); err != nil {
		return nil, err
	}
	switch {
	case wb.Events == nil:
		v.add("events", "is required")
		return nil, v.err()
	case len(wb.Events) == 0:
		v.add("events", fmt.Sprintf("must hold 1 to %d events", MaxBatch))
		return nil, v.err()
	}

	events := make([]Event, 0, len(wb.Events))
	eventIDs := make(map[string]int, len(wb.Events))
	type orderSeq struct {
		order string
		seq   int64
	}
	seqs := make(map[orderSeq]int, len(wb.Events))
	for i, we := range wb.Events {
		path := fmt.Sprintf("events[%d]", i)
		if we == nil {
			v.add(path, "must be an object")
			continue
		}
		ev, data, err := v.event(path, we)
		if err != nil {
			return nil, err
		}
		if ev.EventID != "" {
			if j, dup := eventIDs[ev.EventID]; dup {
				v.add(path+".event_id", fmt.Sprintf("duplicates events[%d].event_id", j))
			} else {
				eventIDs[ev.EventID] = i
			}
		}
		if ev.OrderID != "" && ev.Sequence >= 1 {
			k := orderSeq{ev.OrderID, ev.Sequence}
			if j, dup := seqs[k]; dup {
				v.add(path+".sequence", fmt.Sprintf("duplicates the order_id and sequence of events[%d]", j))
			} else {
				seqs[k] = i
			}
		}
		if data != nil {
			b, err := json.Marshal(data)
			if err != nil {
				return nil, fmt.Errorf("encode %s.data: %w", path, err)
			}
			ev.Data = b
		}
		events = append(events, ev)
	}
	if err := v.err(); err != nil {
		return nil, err
	}
	return events, nil
}

// decode runs the strict decoder. A cap reached is a rule broken (recorded,
// and the caller stops); anything else is a *SyntaxError.
func (v *validator) decode(raw []byte, dst any, path string, opts ...strictjson.Option) error {
	err := strictjson.Decode(raw, dst, append(opts, strictjson.At(path))...)
	var le *strictjson.LimitError
	var se *strictjson.Error
	switch {
	case err == nil:
		return nil
	case errors.As(err, &le):
		what := "elements"
		switch {
		case strings.HasSuffix(le.Path, "items"):
			what = "items"
		case le.Path == "events":
			what = "events"
		}
		v.add(le.Path, fmt.Sprintf("must hold 1 to %d %s", le.Max, what))
		return v.err()
	case errors.As(err, &se) && se.Rule:
		v.add(se.Path, se.Msg)
		return v.err()
	case errors.As(err, &se):
		return &SyntaxError{Field: se.Path, Msg: se.Msg}
	}
	return &SyntaxError{Msg: "malformed JSON"}
}

type validator struct {
	errs []FieldError
}

func (v *validator) add(field, msg string) {
	if len(v.errs) < maxErrors {
		v.errs = append(v.errs, FieldError{Field: field, Message: msg})
	}
}

func (v *validator) err() error {
	if len(v.errs) == 0 {
		return nil
	}
	return &ValidationError{Errors: v.errs}
}

// event validates one decoded event and decodes its data. A non-nil error is
// a *SyntaxError from the data.
func (v *validator) event(path string, we *wireEvent) (Event, any, error) {
	var ev Event
	ev.EventID = v.id(path+".event_id", we.EventID)
	ev.OrderID = v.id(path+".order_id", we.OrderID)
	switch {
	case we.Sequence == nil:
		v.add(path+".sequence", "is required")
	case *we.Sequence < 1:
		v.add(path+".sequence", "must be at least 1")
	default:
		ev.Sequence = *we.Sequence
	}
	switch {
	case we.OccurredAt == nil || *we.OccurredAt == "":
		v.add(path+".occurred_at", "is required")
	default:
		t, err := time.Parse(time.RFC3339Nano, *we.OccurredAt)
		switch {
		case err != nil:
			v.add(path+".occurred_at", "must be an RFC 3339 timestamp such as 2026-01-02T15:04:05Z")
		case t.UTC().Year() < 1900 || t.UTC().Year() > 9999:
			v.add(path+".occurred_at", "must be between the years 1900 and 9999 (UTC)")
		default:
			ev.OccurredAt = t.UTC()
		}
	}
	if we.Type == nil || *we.Type == "" {
		v.add(path+".type", "is required")
		return ev, nil, nil
	}
	ev.Type = *we.Type
	known := ""
	if isKnownType(ev.Type) {
		known = ev.Type
	}
	ev.SchemaVersion = v.schemaVersion(path+".schema_version", we.Version, known)
	dpath := path + ".data"
	if len(we.Data) == 0 || isNull(we.Data) {
		if !isKnownType(ev.Type) {
			v.add(path+".type", unknownTypeMsg)
			return ev, nil, nil
		}
		v.add(dpath, "is required")
		return ev, nil, nil
	}
	if ev.SchemaVersion == 0 && known != "" {
		return ev, nil, nil // a broken schema_version: the data's shape is unknown
	}
	var data any
	var err error
	switch ev.Type {
	case TypeOrderPlaced:
		data, err = v.placed(dpath, we.Data, ev.SchemaVersion)
	case TypePaymentCaptured:
		var w wireAmount
		if err = v.decode(we.Data, &w, dpath); err == nil {
			data = PaymentCaptured{AmountCents: v.cents(dpath+".amount_cents", w.AmountCents)}
		}
	case TypeOrderRefunded:
		var w wireAmount
		if err = v.decode(we.Data, &w, dpath); err == nil {
			data = OrderRefunded{AmountCents: v.cents(dpath+".amount_cents", w.AmountCents)}
		}
	case TypeOrderShipped:
		var w wireShipped
		if err = v.decode(we.Data, &w, dpath); err == nil {
			data = OrderShipped{
				Carrier:        v.text(dpath+".carrier", w.Carrier, true, MaxCarrierLen),
				TrackingNumber: v.text(dpath+".tracking_number", w.TrackingNumber, true, MaxTrackingNumberLen),
			}
		}
	case TypeOrderCancelled:
		var w wireCancelled
		if err = v.decode(we.Data, &w, dpath); err == nil {
			data = OrderCancelled{Reason: v.text(dpath+".reason", w.Reason, false, MaxReasonLen)}
		}
	default:
		v.add(path+".type", unknownTypeMsg)
	}
	return ev, data, err
}

const unknownTypeMsg = "must be one of OrderPlaced, PaymentCaptured, OrderShipped, OrderCancelled, OrderRefunded"

func isKnownType(t string) bool {
	switch t {
	case TypeOrderPlaced, TypePaymentCaptured, TypeOrderShipped, TypeOrderCancelled, TypeOrderRefunded:
		return true
	}
	return false
}

// placed validates the data of an OrderPlaced event of the given schema
// version and returns it in that version's shape (OrderPlacedV1 or
// OrderPlaced), as the log keeps it.
func (v *validator) placed(path string, raw jsontext.Value, version int) (any, error) {
	// Both versions are decoded into the v2 wire shape; a v1 body is decoded
	// with the v1 item, so a tax_cents there is an unknown field.
	var w wirePlacedV2
	if version == SchemaVersion1 {
		var w1 wirePlaced
		if err := v.decode(raw, &w1, path, strictjson.MaxItems[*wireItem](MaxItems)); err != nil {
			if se, ok := errors.AsType[*SyntaxError](err); ok && strings.HasPrefix(se.Msg, `unknown field "tax_cents"`) {
				// The likeliest mistake: a v2 body without its schema_version.
				se.Msg = `unknown field "tax_cents": it is a field of OrderPlaced schema_version 2; send "schema_version": 2`
			}
			return nil, err
		}
		w = wirePlacedV2{CustomerID: w1.CustomerID, MerchantID: w1.MerchantID, Currency: w1.Currency, TotalCents: w1.TotalCents}
		if w1.Items != nil {
			w.Items = make([]*wireItemV2, len(w1.Items))
			for i, it := range w1.Items {
				if it != nil {
					w.Items[i] = &wireItemV2{wireItem: *it}
				}
			}
		}
	} else if err := v.decode(raw, &w, path, strictjson.MaxItems[*wireItemV2](MaxItems)); err != nil {
		return nil, err
	}
	withTax := version >= SchemaVersion2
	p := OrderPlaced{
		CustomerID: v.id(path+".customer_id", w.CustomerID),
		MerchantID: v.id(path+".merchant_id", w.MerchantID),
	}
	switch {
	case w.Currency == nil || *w.Currency == "":
		v.add(path+".currency", "is required")
	case !IsCurrency(*w.Currency):
		v.add(path+".currency", "must be an ISO 4217 currency code in use, in upper case, such as EUR")
	default:
		p.Currency = *w.Currency
	}
	// Bounds at the door, so the read model's sums stay far from overflow:
	// every amount and every line at most MaxAmountMinor, at most MaxItems
	// lines, so no sum here can pass 10^15.
	line := "qty times unit_price_cents"
	if withTax {
		line = "qty times unit_price_cents plus tax_cents"
	}
	sum, sumOK := int64(0), true
	switch {
	case w.Items == nil:
		v.add(path+".items", "is required")
		sumOK = false
	case len(w.Items) == 0:
		v.add(path+".items", fmt.Sprintf("must hold 1 to %d items", MaxItems))
		sumOK = false
	default:
		for i, wi := range w.Items {
			ipath := fmt.Sprintf("%s.items[%d]", path, i)
			if wi == nil {
				v.add(ipath, "must be an object")
				sumOK = false
				continue
			}
			it := Item{SKU: v.text(ipath+".sku", wi.SKU, true, MaxSKULen)}
			switch {
			case wi.Qty == nil:
				v.add(ipath+".qty", "is required")
			case *wi.Qty < 1 || *wi.Qty > MaxQty:
				v.add(ipath+".qty", fmt.Sprintf("must be from 1 to %d", MaxQty))
			default:
				it.Qty = *wi.Qty
			}
			price, priceOK := v.amount(ipath+".unit_price_cents", wi.UnitPriceCents)
			it.UnitPriceCents = price
			taxOK := true
			if withTax {
				it.TaxCents, taxOK = v.amount(ipath+".tax_cents", wi.TaxCents)
			}
			switch {
			case it.Qty == 0 || !priceOK || !taxOK:
				sumOK = false
			case it.UnitPriceCents > MaxAmountMinor/it.Qty || it.Qty*it.UnitPriceCents > MaxAmountMinor-it.TaxCents:
				v.add(ipath, fmt.Sprintf("%s must be at most %d", line, MaxAmountMinor))
				sumOK = false
			default:
				sum += it.Qty*it.UnitPriceCents + it.TaxCents
			}
			p.Items = append(p.Items, it)
		}
	}
	total, totalOK := v.amount(path+".total_cents", w.TotalCents)
	p.TotalCents = total
	switch {
	case !sumOK || !totalOK:
	case sum > MaxAmountMinor:
		v.add(path+".total_cents", fmt.Sprintf("the sum of %s (%d) must be at most %d", line, sum, MaxAmountMinor))
	case total != sum:
		v.add(path+".total_cents", fmt.Sprintf("must equal the sum of %s (%d)", line, sum))
	}
	if withTax {
		return p, nil
	}
	return downcastV1(p), nil
}

// downcastV1 is the stored shape of a validated version 1 order (it has no
// tax to lose).
func downcastV1(p OrderPlaced) OrderPlacedV1 {
	v := OrderPlacedV1{CustomerID: p.CustomerID, MerchantID: p.MerchantID, Currency: p.Currency, TotalCents: p.TotalCents}
	for _, it := range p.Items {
		v.Items = append(v.Items, ItemV1{SKU: it.SKU, Qty: it.Qty, UnitPriceCents: it.UnitPriceCents})
	}
	return v
}

// cents checks an amount in minor units and returns it (0 when invalid).
func (v *validator) cents(field string, c *int64) int64 {
	n, _ := v.amount(field, c)
	return n
}

func (v *validator) amount(field string, c *int64) (int64, bool) {
	switch {
	case c == nil:
		v.add(field, "is required")
	case *c < 0 || *c > MaxAmountMinor:
		v.add(field, fmt.Sprintf("must be a whole number of minor units from 0 to %d", MaxAmountMinor))
	default:
		return *c, true
	}
	return 0, false
}

// id checks an identifier: 1 to MaxIDLen characters of [A-Za-z0-9_.:-].
func (v *validator) id(field string, s *string) string {
	switch {
	case s == nil || *s == "":
		v.add(field, "is required")
	case len(*s) > MaxIDLen:
		v.add(field, fmt.Sprintf("must be at most %d characters", MaxIDLen))
	case !isID(*s):
		v.add(field, "may contain only letters, digits and _ . : -")
	default:
		return *s
	}
	return ""
}

// text checks free text: valid UTF-8, no control characters (NUL among
// them), at most maxLen characters. The decoder already refuses invalid
// UTF-8, lone surrogates and NUL; this is the rule for every text field.
func (v *validator) text(field string, s *string, required bool, maxLen int) string {
	switch {
	case s == nil || *s == "":
		if required {
			v.add(field, "is required")
		}
	case !utf8.ValidString(*s):
		v.add(field, "must be valid UTF-8")
	case utf8.RuneCountInString(*s) > maxLen:
		v.add(field, fmt.Sprintf("must be at most %d characters", maxLen))
	case strings.IndexFunc(*s, unicode.IsControl) >= 0:
		v.add(field, "must not contain control characters")
	default:
		return *s
	}
	return ""
}

// IsID reports whether s is a valid event, order, customer or merchant id:
// 1 to MaxIDLen characters of [A-Za-z0-9_.:-]. The same rule as events'.
func IsID(s string) bool { return s != "" && len(s) <= MaxIDLen && isID(s) }

func isID(s string) bool {
	for i := range len(s) {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case c == '_', c == '.', c == ':', c == '-':
		default:
			return false
		}
	}
	return true
}

// IsCurrency reports whether s is an ISO 4217 code, in upper case, of a
// currency that is legal tender somewhere today. The set is x/text's
// (CLDR 32) current tender list, which leaves out metals and test codes
// (XAU, XTS, XXX), withdrawn currencies (DEM) and unassigned codes (ZZZ),
// plus the few codes ISO assigned after CLDR 32.
func IsCurrency(s string) bool { return currencies()[s] }

var currencies = sync.OnceValue(func() map[string]bool {
	set := map[string]bool{}
	for it := currency.Query(); it.Next(); {
		set[it.Unit().String()] = true
	}
	// Assigned after CLDR 32, which x/text's tables come from.
	for _, code := range []string{"VES", "VED", "SLE", "ZWG"} {
		set[code] = true
	}
	return set
})

func isNull(raw []byte) bool {
	return bytes.Equal(bytes.TrimSpace(raw), []byte("null"))
}
