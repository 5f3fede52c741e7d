package strictjson_test

import (
	"errors"
	"runtime"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/go-json-experiment/json/jsontext"
	"github.com/google/go-cmp/cmp"

	"github.com/reportd/reportd/internal/strictjson"
)

type item struct {
	SKU *string `json:"sku"`
	Qty *int64  `json:"qty"`
}

type doc struct {
	Type  *string           `json:"type"`
	Count *int64            `json:"count"`
	OK    *bool             `json:"ok"`
	Items []*item           `json:"items"`
	Meta  map[string]string `json:"meta"`
	Data  jsontext.Value    `json:"data"`
}

func decode(body string, opts ...strictjson.Option) (doc, error) {
	var d doc
	opts = append(opts, strictjson.MaxItems[*item](3))
	err := strictjson.Decode([]byte(body), &d, opts...)
	return d, err
}

func TestDecodeAccepts(t *testing.T) {
	d, err := decode(`{"type":"a\u00e9","count":9223372036854775807,"ok":true,"items":[{"sku":"x","qty":1},null],"meta":{"k":"v"},"data":{"any":[1,{"x":null}]}}`)
	if err != nil {
		t.Fatalf("Decode: %v", err)
	}
	if *d.Type != "aé" || *d.Count != 1<<63-1 || len(d.Items) != 2 || d.Items[1] != nil || d.Meta["k"] != "v" || string(d.Data) != `{"any":[1,{"x":null}]}` {
		t.Fatalf("decoded %+v", d)
	}
}

// Every rule, with the path and message a client sees.
func TestDecodeRejects(t *testing.T) {
	tests := []struct {
		name, body string
		want       strictjson.Error
	}{
		{"empty", ``, strictjson.Error{Msg: "the body is empty; send a JSON object"}},
		{"only spaces", " \n", strictjson.Error{Msg: "the body is empty; send a JSON object"}},
		{"array body", `[]`, strictjson.Error{Msg: "must be a JSON object"}},
		{"null body", `null`, strictjson.Error{Msg: "must be a JSON object"}},
		{"unknown field", `{"colour":1}`, strictjson.Error{Msg: `unknown field "colour" (field names are case-sensitive)`}},
		{"case variant", `{"TYPE":"a"}`, strictjson.Error{Msg: `unknown field "TYPE" (field names are case-sensitive)`}},
		{"nested case variant", `{"items":[{"sku":"a"},{"SKU":"b"}]}`, strictjson.Error{Path: "items[1]", Msg: `unknown field "SKU" (field names are case-sensitive)`}},
		{"duplicate", `{"type":"a","type":"b"}`, strictjson.Error{Msg: `duplicate field "type"`, Rule: true}},
		{"trailing object", `{}{}`, strictjson.Error{Msg: "malformed JSON: unexpected data after the top-level object at byte 2"}},
		{"trailing garbage", `{} x`, strictjson.Error{Msg: "malformed JSON: unexpected data after the top-level object at byte 3"}},
		{"truncated", `{"items":[`, strictjson.Error{Msg: "malformed JSON: the body ends too early"}},
		{"bad token", `{"items":[}`, strictjson.Error{Path: "items[0]", Msg: "malformed JSON at byte 10: invalid character '}' at start of value"}},
		{"wrong type", `{"count":"1"}`, strictjson.Error{Path: "count", Msg: "must be a JSON integer"}},
		{"fraction", `{"count":1.5}`, strictjson.Error{Path: "count", Msg: "must be a JSON integer"}},
		{"int64 overflow", `{"count":9223372036854775808}`, strictjson.Error{Path: "count", Msg: "is out of range for a 64-bit integer"}},
		{"exponent", `{"count":1e3}`, strictjson.Error{Path: "count", Msg: "must be a JSON integer"}},
		{"bool as string", `{"ok":"true"}`, strictjson.Error{Path: "ok", Msg: "must be a JSON boolean"}},
		{"items not array", `{"items":{}}`, strictjson.Error{Path: "items", Msg: "must be a JSON array"}},
		{"item not object", `{"items":[7]}`, strictjson.Error{Path: "items[0]", Msg: "must be a JSON object"}},
		{"invalid utf-8", "{\"type\":\"a\xffb\"}", strictjson.Error{Path: "type", Msg: "must be valid UTF-8"}},
		{"invalid utf-8 key", "{\"\xff\":1}", strictjson.Error{Msg: "must be valid UTF-8"}},
		{"lone surrogate", `{"type":"\ud800"}`, strictjson.Error{Path: "type", Msg: `must not contain a lone UTF-16 surrogate escape such as \ud800`, Rule: true}},
		{"lone low surrogate", `{"meta":{"k":"x\udc00y"}}`, strictjson.Error{Path: "meta.k", Msg: `must not contain a lone UTF-16 surrogate escape such as \ud800`, Rule: true}},
		{"NUL in value", `{"type":"a\u0000"}`, strictjson.Error{Path: "type", Msg: `must not contain the NUL character (\u0000)`, Rule: true}},
		{"NUL in map key", `{"meta":{"a\u0000":"v"}}`, strictjson.Error{Path: `meta["a\x00"]`, Msg: `must not contain the NUL character (\u0000)`, Rule: true}},
		{"NUL in raw data", `{"data":{"x":["\u0000"]}}`, strictjson.Error{Path: "data.x[0]", Msg: `must not contain the NUL character (\u0000)`, Rule: true}},
		{"raw control byte", "{\"type\":\"a\x00\"}", strictjson.Error{Path: "type", Msg: "malformed JSON at byte 10: invalid character '\\x00' in string (expecting non-control character)"}},
		{"huge unknown key", `{"` + strings.Repeat("k", strictjson.MaxString+1) + `":1}`, strictjson.Error{Msg: "the string at byte 1 is longer than 16384 bytes", Rule: true}},
		{"huge value", `{"type":"` + strings.Repeat(`\"`, strictjson.MaxString) + `"}`, strictjson.Error{Msg: "the string at byte 8 is longer than 16384 bytes", Rule: true}},
		{"deep nesting", `{"data":` + strings.Repeat("[", 20000) + strings.Repeat("]", 20000) + `}`, strictjson.Error{Msg: "malformed JSON: nested too deeply"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := decode(tc.body)
			var se *strictjson.Error
			if !errors.As(err, &se) {
				t.Fatalf("Decode(%.80q) = %v (%T), want *strictjson.Error", tc.body, err, err)
			}
			if diff := cmp.Diff(tc.want, *se); diff != "" {
				t.Errorf("error (-want +got):\n%s", diff)
			}
		})
	}
}

func TestDecodeLongestString(t *testing.T) {
	long := strings.Repeat(`\\`, strictjson.MaxString/2-1) // 16382 bytes as written, quotes excluded
	if d, err := decode(`{"type":"` + long + `"}`); err != nil || len(*d.Type) != strictjson.MaxString/2-1 {
		t.Fatalf("a string of MaxString-2 bytes: %v", err)
	}
}

func TestDecodeEscapedBackslashIsNotNUL(t *testing.T) {
	d, err := decode(`{"type":"\\u0000"}`)
	if err != nil || *d.Type != `\u0000` {
		t.Fatalf("Decode = %+v, %v; want the six characters \\u0000", d, err)
	}
}

func TestDecodePrefixesPaths(t *testing.T) {
	_, err := decode(`{"items":[{"qty":"x"}]}`, strictjson.At("events[2].data"))
	var se *strictjson.Error
	if !errors.As(err, &se) || se.Path != "events[2].data.items[0].qty" {
		t.Fatalf("Decode = %v, want a path under events[2].data", err)
	}
	_, err = decode(`[1]`, strictjson.At("events[2].data"))
	if !errors.As(err, &se) || se.Error() != "events[2].data: must be a JSON object" {
		t.Fatalf("Decode = %v", err)
	}
}

func TestMaxItems(t *testing.T) {
	if d, err := decode(`{"items":[{},{},{}]}`); err != nil || len(d.Items) != 3 {
		t.Fatalf("three items: %+v, %v", d, err)
	}
	_, err := decode(`{"items":[{},{},{},{}]}`)
	var le *strictjson.LimitError
	if !errors.As(err, &le) || le.Path != "items" || le.Max != 3 {
		t.Fatalf("four items: %v, want a *LimitError for items", err)
	}
	// The cap is reached before the malformed tail is read.
	_, err = decode(`{"items":[{},{},{},{},` + "\xff")
	if !errors.As(err, &le) {
		t.Fatalf("capped garbage: %v, want a *LimitError", err)
	}
}

// A body of a million {} is cut off at the cap without materialising the
// million elements first.
func TestMaxItemsDoesNotMaterialise(t *testing.T) {
	body := []byte(`{"items":[` + strings.Repeat(`{},`, 1_000_000) + `{}]}`)
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	_, err := decode(string(body))
	runtime.ReadMemStats(&after)
	if _, ok := errors.AsType[*strictjson.LimitError](err); !ok {
		t.Fatalf("Decode = %v, want a *LimitError", err)
	}
	// decode() copies the 3 MB body into a string and back once; the
	// decoder itself must stay far below what a million items would take.
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > uint64(3*len(body)) {
		t.Fatalf("decoding allocated %d bytes for a %d-byte body", alloc, len(body))
	}
}

// FuzzDecode: any input is accepted or rejected with an *Error or a
// *LimitError, never a panic; accepted strings are valid UTF-8 without NUL.
func FuzzDecode(f *testing.F) {
	for _, seed := range []string{
		`{"type":"a","count":1,"ok":true,"items":[{"sku":"x","qty":2}],"meta":{"k":"v"},"data":{"x":[1]}}`,
		`{"type":"a\u0000"}`, "{\"type\":\"\xff\"}", `{"type":"\ud800"}`, `{"type":"\udfff\ud800"}`,
		`{"count":9223372036854775807}`, `{"count":9223372036854775808}`, `{"count":-9223372036854775809}`, `{"count":1e19}`,
		`{"TYPE":"a"}`, `{"Items":[]}`, `{"items":[{"Qty":1}]}`, `{"type":"a","type":"b"}`,
		`{"items":[{},{},{},{},{}]}`, `{"data":` + strings.Repeat("[", 200) + strings.Repeat("]", 200) + `}`,
		`{"meta":{"":""}}`, `{"type":""}`, `{}`, ``, `null`, `[]`, `{}{}`, `{"items":null}`, `{"meta":{"a\u0000":"b"}}`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		var d doc
		err := strictjson.Decode(body, &d, strictjson.MaxItems[*item](3))
		var se *strictjson.Error
		var le *strictjson.LimitError
		switch {
		case err == nil:
		case errors.As(err, &se):
			if se.Msg == "" {
				t.Fatalf("error without a message: %+v", se)
			}
			return
		case errors.As(err, &le):
			return
		default:
			t.Fatalf("unexpected error %T: %v", err, err)
		}
		if len(d.Items) > 3 {
			t.Fatalf("accepted %d items over a cap of 3", len(d.Items))
		}
		texts := []string{}
		if d.Type != nil {
			texts = append(texts, *d.Type)
		}
		for k, v := range d.Meta {
			texts = append(texts, k, v)
		}
		for _, it := range d.Items {
			if it != nil && it.SKU != nil {
				texts = append(texts, *it.SKU)
			}
		}
		for _, s := range texts {
			if !utf8.ValidString(s) || strings.ContainsRune(s, 0) {
				t.Fatalf("accepted a string that storage cannot hold: %q", s)
			}
		}
	})
}
