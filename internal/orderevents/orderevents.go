package orderevents

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"reflect"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// MaxBatch is the largest number of events one batch may carry.
const MaxBatch = 1000

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
// type's payload (one of the payload structs below): only known fields,
// compact, so the log never stores what the client sent beyond the contract.
type Event struct {
	EventID    string
	OrderID    string
	Sequence   int64
	Type       string
	OccurredAt time.Time // UTC
	Data       json.RawMessage
}

// Item is one line of an order.
type Item struct {
	SKU            string `json:"sku"`
	Qty            int64  `json:"qty"`
	UnitPriceCents int64  `json:"unit_price_cents"`
}

// OrderPlaced is the payload of an OrderPlaced event.
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
// field or a value of the wrong JSON type. Msg says where.
type SyntaxError struct {
	Msg string
}

func (e *SyntaxError) Error() string { return e.Msg }

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

// Wire shapes: pointers tell a missing field from a zero one.
type wireBatch struct {
	Events *[]json.RawMessage `json:"events"`
}

type wireEvent struct {
	EventID    *string         `json:"event_id"`
	OrderID    *string         `json:"order_id"`
	Sequence   *int64          `json:"sequence"`
	Type       *string         `json:"type"`
	OccurredAt *string         `json:"occurred_at"`
	Data       json.RawMessage `json:"data"`
}

type wirePlaced struct {
	CustomerID *string            `json:"customer_id"`
	MerchantID *string            `json:"merchant_id"`
	Currency   *string            `json:"currency"`
	Items      *[]json.RawMessage `json:"items"`
	TotalCents *int64             `json:"total_cents"`
}

type wireItem struct {
	SKU            *string `json:"sku"`
	Qty            *int64  `json:"qty"`
	UnitPriceCents *int64  `json:"unit_price_cents"`
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
		EventID    string          `json:"event_id"`
		OrderID    string          `json:"order_id"`
		Sequence   int64           `json:"sequence"`
		Type       string          `json:"type"`
		OccurredAt time.Time       `json:"occurred_at"`
		Data       json.RawMessage `json:"data"`
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
// returned.
func ParseBatch(body []byte) ([]Event, error) {
	trimmed := bytes.TrimLeft(body, " \t\r\n")
	if len(trimmed) == 0 {
		return nil, &SyntaxError{Msg: "request body is empty"}
	}
	if trimmed[0] != '{' {
		return nil, &SyntaxError{Msg: "request body must be a JSON object"}
	}
	var wb wireBatch
	if err := decodeStrict(body, &wb, "", true); err != nil {
		return nil, err
	}

	v := &validator{}
	if wb.Events == nil {
		v.add("events", "is required")
		return nil, v.err()
	}
	raws := *wb.Events
	if len(raws) == 0 || len(raws) > MaxBatch {
		v.add("events", fmt.Sprintf("must hold 1 to %d events, got %d", MaxBatch, len(raws)))
		return nil, v.err()
	}

	events := make([]Event, 0, len(raws))
	eventIDs := make(map[string]int, len(raws))
	type orderSeq struct {
		order string
		seq   int64
	}
	seqs := make(map[orderSeq]int, len(raws))
	for i, raw := range raws {
		path := fmt.Sprintf("events[%d]", i)
		if isNull(raw) {
			v.add(path, "must be an object")
			continue
		}
		var we wireEvent
		if err := decodeStrict(raw, &we, path, false); err != nil {
			return nil, err
		}
		ev, data, err := v.event(path, &we)
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

// DecodeData decodes the canonical payload of an event of type typ into its
// payload struct (OrderPlaced, PaymentCaptured, ...).
func DecodeData(typ string, data []byte) (any, error) {
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
	default:
		return nil, fmt.Errorf("decode event data: unknown type %q", typ)
	}
	if err := json.Unmarshal(data, v); err != nil {
		return nil, fmt.Errorf("decode %s data: %w", typ, err)
	}
	return reflect.ValueOf(v).Elem().Interface(), nil
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
	dpath := path + ".data"
	if len(we.Data) == 0 || isNull(we.Data) {
		if !isKnownType(ev.Type) {
			v.add(path+".type", unknownTypeMsg)
			return ev, nil, nil
		}
		v.add(dpath, "is required")
		return ev, nil, nil
	}
	var data any
	var err error
	switch ev.Type {
	case TypeOrderPlaced:
		data, err = v.placed(dpath, we.Data)
	case TypePaymentCaptured:
		var w wireAmount
		if err = decodeStrict(we.Data, &w, dpath, false); err == nil {
			data = PaymentCaptured{AmountCents: v.cents(dpath+".amount_cents", w.AmountCents)}
		}
	case TypeOrderRefunded:
		var w wireAmount
		if err = decodeStrict(we.Data, &w, dpath, false); err == nil {
			data = OrderRefunded{AmountCents: v.cents(dpath+".amount_cents", w.AmountCents)}
		}
	case TypeOrderShipped:
		var w wireShipped
		if err = decodeStrict(we.Data, &w, dpath, false); err == nil {
			data = OrderShipped{
				Carrier:        v.text(dpath+".carrier", w.Carrier, true, 100),
				TrackingNumber: v.text(dpath+".tracking_number", w.TrackingNumber, true, 100),
			}
		}
	case TypeOrderCancelled:
		var w wireCancelled
		if err = decodeStrict(we.Data, &w, dpath, false); err == nil {
			data = OrderCancelled{Reason: v.text(dpath+".reason", w.Reason, false, 500)}
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

func (v *validator) placed(path string, raw json.RawMessage) (any, error) {
	var w wirePlaced
	if err := decodeStrict(raw, &w, path, false); err != nil {
		return nil, err
	}
	p := OrderPlaced{
		CustomerID: v.id(path+".customer_id", w.CustomerID),
		MerchantID: v.id(path+".merchant_id", w.MerchantID),
	}
	switch {
	case w.Currency == nil || *w.Currency == "":
		v.add(path+".currency", "is required")
	case !isCurrency(*w.Currency):
		v.add(path+".currency", "must be an ISO 4217 code of three upper-case letters")
	default:
		p.Currency = *w.Currency
	}
	sum, sumOK := int64(0), true
	switch {
	case w.Items == nil:
		v.add(path+".items", "is required")
		sumOK = false
	case len(*w.Items) == 0 || len(*w.Items) > MaxBatch:
		v.add(path+".items", fmt.Sprintf("must hold 1 to %d items", MaxBatch))
		sumOK = false
	default:
		for i, rawItem := range *w.Items {
			ipath := fmt.Sprintf("%s.items[%d]", path, i)
			if isNull(rawItem) {
				v.add(ipath, "must be an object")
				sumOK = false
				continue
			}
			var wi wireItem
			if err := decodeStrict(rawItem, &wi, ipath, false); err != nil {
				return nil, err
			}
			it := Item{SKU: v.text(ipath+".sku", wi.SKU, true, 64)}
			switch {
			case wi.Qty == nil:
				v.add(ipath+".qty", "is required")
				sumOK = false
			case *wi.Qty < 1:
				v.add(ipath+".qty", "must be at least 1")
				sumOK = false
			default:
				it.Qty = *wi.Qty
			}
			if wi.UnitPriceCents == nil || *wi.UnitPriceCents < 0 {
				sumOK = false
			}
			it.UnitPriceCents = v.cents(ipath+".unit_price_cents", wi.UnitPriceCents)
			if sumOK {
				line, ok := mulAdd(sum, it.Qty, it.UnitPriceCents)
				if !ok {
					v.add(ipath, "qty times unit_price_cents overflows")
					sumOK = false
				}
				sum = line
			}
			p.Items = append(p.Items, it)
		}
	}
	p.TotalCents = v.cents(path+".total_cents", w.TotalCents)
	if sumOK && w.TotalCents != nil && *w.TotalCents >= 0 && *w.TotalCents != sum {
		v.add(path+".total_cents", fmt.Sprintf("must equal the sum of qty times unit_price_cents (%d)", sum))
	}
	return p, nil
}

// mulAdd returns acc + a*b, reporting false on overflow (a, b, acc ≥ 0).
func mulAdd(acc, a, b int64) (int64, bool) {
	if a != 0 && b > math.MaxInt64/a {
		return 0, false
	}
	p := a * b
	if acc > math.MaxInt64-p {
		return 0, false
	}
	return acc + p, true
}

func (v *validator) cents(field string, c *int64) int64 {
	switch {
	case c == nil:
		v.add(field, "is required")
	case *c < 0:
		v.add(field, "must not be negative")
	default:
		return *c
	}
	return 0
}

// id checks an identifier: 1 to 64 characters of [A-Za-z0-9_.:-].
func (v *validator) id(field string, s *string) string {
	switch {
	case s == nil || *s == "":
		v.add(field, "is required")
	case len(*s) > 64:
		v.add(field, "must be at most 64 characters")
	case !isID(*s):
		v.add(field, "may contain only letters, digits and _ . : -")
	default:
		return *s
	}
	return ""
}

// text checks free text: valid UTF-8, no control characters, at most
// maxLen characters.
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

func isCurrency(s string) bool {
	if len(s) != 3 {
		return false
	}
	for i := range 3 {
		if s[i] < 'A' || s[i] > 'Z' {
			return false
		}
	}
	return true
}

func isNull(raw []byte) bool {
	return bytes.Equal(bytes.TrimSpace(raw), []byte("null"))
}

// decodeStrict decodes raw into v, rejecting unknown fields, and turns any
// decoding error into a *SyntaxError that names path.
func decodeStrict(raw []byte, v any, path string, top bool) error {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return syntaxError(path, err)
	}
	if top {
		if _, err := dec.Token(); err != io.EOF {
			return &SyntaxError{Msg: fmt.Sprintf("malformed JSON: unexpected data after the top-level object at byte %d", dec.InputOffset())}
		}
	}
	// encoding/json matches keys case-insensitively; the contract does not.
	if err := exactKeys(raw, v, path); err != nil {
		return err
	}
	return nil
}

// exactKeys rejects object keys that match a field of v only when case is
// ignored. raw has already decoded into v, so it is valid JSON.
func exactKeys(raw []byte, v any, path string) error {
	if len(bytes.TrimSpace(raw)) == 0 || bytes.TrimSpace(raw)[0] != '{' {
		return nil
	}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(raw, &obj); err != nil {
		return syntaxError(path, err)
	}
	t := reflect.TypeOf(v).Elem()
	known := make(map[string]bool, t.NumField())
	for f := range t.Fields() {
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		known[name] = true
	}
	for k := range obj {
		if !known[k] {
			if path == "" {
				return &SyntaxError{Msg: fmt.Sprintf("unknown field %q", k)}
			}
			return &SyntaxError{Msg: fmt.Sprintf("%s: unknown field %q", path, k)}
		}
	}
	return nil
}

func syntaxError(path string, err error) error {
	where := func(field string) string {
		switch {
		case path == "":
			return field
		case field == "":
			return path
		}
		return path + "." + field
	}
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &se):
		return &SyntaxError{Msg: fmt.Sprintf("malformed JSON at byte %d: %s", se.Offset, se.Error())}
	case errors.As(err, &te):
		f := where(te.Field)
		if f == "" {
			f = "body"
		}
		return &SyntaxError{Msg: fmt.Sprintf("%s: wrong JSON type: expected %s, got %s", f, jsonKind(te.Type), te.Value)}
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return &SyntaxError{Msg: "malformed JSON: unexpected end of input"}
	}
	if name, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
		f := where("")
		if f == "" {
			return &SyntaxError{Msg: "unknown field " + name}
		}
		return &SyntaxError{Msg: f + ": unknown field " + name}
	}
	return &SyntaxError{Msg: fmt.Sprintf("malformed JSON: %v", err)}
}

func jsonKind(t reflect.Type) string {
	if t == nil {
		return "a value"
	}
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.String:
		return "string"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "integer"
	case reflect.Float32, reflect.Float64:
		return "number"
	case reflect.Bool:
		return "boolean"
	case reflect.Slice, reflect.Array:
		if t.Elem().Kind() == reflect.Uint8 && t.Name() == "RawMessage" {
			return "a JSON value"
		}
		return "array"
	case reflect.Struct, reflect.Map:
		return "object"
	default:
		return t.String()
	}
}
