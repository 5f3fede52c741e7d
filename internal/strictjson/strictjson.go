package strictjson

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strconv"
	"strings"

	"github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"
)

// Error is a body that cannot be decoded. Path is the field path of the
// value at fault ("" for the whole body); Msg says what is wrong with it.
// Both are safe to show a client.
type Error struct {
	Path string
	Msg  string
	// Rule marks well-formed JSON that breaks a rule every body is held to
	// (a NUL, a lone surrogate escape, a duplicate field): a value error
	// (HTTP 422) rather than a malformed body (400).
	Rule bool
}

func (e *Error) Error() string {
	if e.Path == "" {
		return e.Msg
	}
	return e.Path + ": " + e.Msg
}

// LimitError is an array with more elements than its cap. Decoding stops at
// the first element past the cap, so the rest is never materialised.
type LimitError struct {
	Path string // the array's field path
	Max  int
}

func (e *LimitError) Error() string {
	return fmt.Sprintf("%s: must hold at most %d elements", e.Path, e.Max)
}

// MaxString bounds every JSON string, name or value, as written (escapes
// included). No field of the contract comes near it; it stops a body that
// is one huge key or string from costing many times its size to decode
// (the json library folds and escapes unknown names more than once).
const MaxString = 16 << 10

// Option tunes one Decode call.
type Option struct {
	prefix string
	limit  *json.Unmarshalers
}

// At names where data sits in a larger document, so error paths read
// "events[3].data.qty" rather than "qty".
func At(path string) Option { return Option{prefix: path} }

// MaxItems caps every JSON array decoded into a []T at n elements: the
// elements are counted as they are decoded and the (n+1)th is a *LimitError.
func MaxItems[T any](n int) Option {
	return Option{limit: json.UnmarshalFromFunc(func(dec *jsontext.Decoder, s *[]T) error {
		if dec.PeekKind() != '[' {
			return errors.ErrUnsupported // null and wrong kinds: the default rules and messages
		}
		if _, err := dec.ReadToken(); err != nil {
			return err
		}
		out := make([]T, 0, min(n, 16))
		for dec.PeekKind() != ']' {
			if len(out) == n {
				return &LimitError{Max: n}
			}
			var v T
			if err := json.UnmarshalDecode(dec, &v); err != nil {
				return err
			}
			out = append(out, v)
		}
		if _, err := dec.ReadToken(); err != nil {
			return err
		}
		*s = out
		return nil
	})}
}

// Decode decodes data, which must hold exactly one JSON object, into v
// (a pointer to a struct or map). Field names match by exact case; unknown
// and duplicate fields, trailing data, invalid UTF-8, lone surrogate escapes
// (\ud800) and NUL characters (\u0000, which Postgres text and jsonb cannot
// hold) in any string are errors. Every error is an *Error or a *LimitError.
func Decode(data []byte, v any, opts ...Option) error {
	var prefix string
	var limits []*json.Unmarshalers
	for _, o := range opts {
		if o.prefix != "" {
			prefix = o.prefix
		}
		if o.limit != nil {
			limits = append(limits, o.limit)
		}
	}
	trimmed := bytes.TrimLeft(data, " \t\r\n")
	switch {
	case len(trimmed) == 0 && prefix == "":
		return &Error{Msg: "the body is empty; send a JSON object"}
	case len(trimmed) == 0:
		return &Error{Path: prefix, Msg: "must be a JSON object"}
	case trimmed[0] != '{':
		return &Error{Path: prefix, Msg: "must be a JSON object"}
	}
	if off, ok := longString(data, MaxString); ok {
		return &Error{Msg: fmt.Sprintf("the string at byte %d is longer than %d bytes", off, MaxString), Rule: true}
	}
	err := json.Unmarshal(data, v,
		json.RejectUnknownMembers(true),
		json.WithUnmarshalers(json.JoinUnmarshalers(limits...)))
	if err != nil {
		return describe(prefix, err)
	}
	if ptr, ok := findNUL(data); ok {
		return &Error{Path: join(prefix, ptr), Msg: `must not contain the NUL character (\u0000)`, Rule: true}
	}
	return nil
}

// describe turns a json error into a message a client can act on.
func describe(prefix string, err error) error {
	var le *LimitError
	var sem *json.SemanticError
	var syn *jsontext.SyntacticError
	switch {
	case errors.As(err, &le) && errors.As(err, &sem):
		return &LimitError{Path: join(prefix, sem.JSONPointer), Max: le.Max}
	case errors.As(err, &sem):
		path := join(prefix, sem.JSONPointer)
		switch {
		case errors.Is(sem.Err, json.ErrUnknownName):
			return &Error{Path: join(prefix, sem.JSONPointer.Parent()),
				Msg: fmt.Sprintf("unknown field %s (field names are case-sensitive)", quote(sem.JSONPointer.LastToken()))}
		case sem.Err != nil && strings.Contains(sem.Err.Error(), "out of range"):
			return &Error{Path: path, Msg: "is out of range for a 64-bit " + kind(sem.GoType)}
		}
		return &Error{Path: path, Msg: "must be a JSON " + kind(sem.GoType)}
	case errors.As(err, &syn):
		path := join(prefix, syn.JSONPointer)
		switch {
		case errors.Is(syn.Err, jsontext.ErrDuplicateName):
			return &Error{Path: join(prefix, syn.JSONPointer.Parent()),
				Msg: "duplicate field " + quote(syn.JSONPointer.LastToken()), Rule: true}
		case errors.Is(syn.Err, io.ErrUnexpectedEOF) || errors.Is(syn.Err, io.EOF):
			return &Error{Path: prefix, Msg: "malformed JSON: the body ends too early"}
		case syn.Err != nil && strings.Contains(syn.Err.Error(), "after top-level value"):
			return &Error{Path: prefix, Msg: fmt.Sprintf("malformed JSON: unexpected data after the top-level object at byte %d", syn.ByteOffset)}
		case syn.Err != nil && strings.Contains(syn.Err.Error(), "invalid UTF-8"):
			return &Error{Path: path, Msg: "must be valid UTF-8"}
		case syn.Err != nil && strings.Contains(syn.Err.Error(), "surrogate"):
			return &Error{Path: path, Msg: `must not contain a lone UTF-16 surrogate escape such as \ud800`, Rule: true}
		case syn.Err != nil && strings.Contains(syn.Err.Error(), "exceeded max depth"):
			return &Error{Path: prefix, Msg: "malformed JSON: nested too deeply"}
		}
		msg := "invalid JSON"
		if syn.Err != nil {
			msg = truncate(syn.Err.Error(), 120)
		}
		return &Error{Path: path, Msg: fmt.Sprintf("malformed JSON at byte %d: %s", syn.ByteOffset, msg)}
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return &Error{Path: prefix, Msg: "malformed JSON: the body ends too early"}
	}
	return &Error{Path: prefix, Msg: "malformed JSON"}
}

// longString reports the offset of the first string longer than limit bytes.
// It only tracks quotes and backslash escapes, which is exact for valid JSON;
// invalid JSON is the decoder's to report, so a wrong guess there is harmless.
func longString(data []byte, limit int) (int, bool) {
	if len(data) <= limit {
		return 0, false
	}
	start := -1
	for i := 0; i < len(data); i++ {
		switch c := data[i]; {
		case start < 0 && c == '"':
			start = i
		case start >= 0 && c == '\\':
			i++
		case start >= 0 && c == '"':
			start = -1
		}
		if start >= 0 && i-start > limit {
			return start, true
		}
	}
	return 0, false
}

// findNUL reports the first string (name or value) holding U+0000. JSON can
// only spell it as an escape, so bodies without `\u0000` skip the walk.
func findNUL(data []byte) (jsontext.Pointer, bool) {
	if !bytes.Contains(data, []byte(`\u0000`)) {
		return "", false
	}
	dec := jsontext.NewDecoder(bytes.NewReader(data))
	for {
		tok, err := dec.ReadToken()
		if err != nil {
			return "", false
		}
		if tok.Kind() == '"' && strings.IndexByte(tok.String(), 0) >= 0 {
			return dec.StackPointer(), true
		}
	}
}

// join renders prefix plus a JSON pointer as a field path: /items/0/qty
// becomes items[0].qty. Names that are not plain words are quoted.
func join(prefix string, ptr jsontext.Pointer) string {
	var b strings.Builder
	b.WriteString(prefix)
	for tok := range ptr.Tokens() {
		switch {
		case isIndex(tok):
			b.WriteString("[" + tok + "]")
		case isWord(tok):
			if b.Len() > 0 {
				b.WriteByte('.')
			}
			b.WriteString(tok)
		default:
			b.WriteString("[" + quote(tok) + "]")
		}
		if b.Len() > 200 {
			return truncate(b.String(), 200)
		}
	}
	return b.String()
}

func isIndex(s string) bool {
	if s == "" || len(s) > 9 {
		return false
	}
	for i := range len(s) {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

func isWord(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for i := range len(s) {
		switch c := s[i]; {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '_', c == '-':
		default:
			return false
		}
	}
	return true
}

// quote renders a client-sent name for a message: quoted, escaped, short.
func quote(s string) string { return strconv.QuoteToASCII(truncate(s, 64)) }

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return strings.ToValidUTF8(s[:n], "") + "…"
}

// kind names the JSON type a Go type wants.
func kind(t reflect.Type) string {
	if t == nil {
		return "value"
	}
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t == reflect.TypeFor[jsontext.Value]() {
		return "value"
	}
	switch t.Kind() {
	case reflect.String:
		return "string"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return "integer"
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "non-negative integer"
	case reflect.Float32, reflect.Float64:
		return "number"
	case reflect.Bool:
		return "boolean"
	case reflect.Slice, reflect.Array:
		return "array"
	default:
		return "object"
	}
}
