package natsingest

import (
	"bytes"
	"errors"
	"io"

	"github.com/go-json-experiment/json/jsontext"
)

// batchBody turns a message body into a batch body for
// orderevents.ParseBatch: an object whose first member is "events" is a
// batch already; any other single JSON object is one event and is wrapped in
// {"events":[…]}. Anything else is returned as it is, so ParseBatch reports
// the error where it really is.
func batchBody(data []byte) []byte {
	dec := jsontext.NewDecoder(bytes.NewReader(data))
	if _, err := dec.ReadValue(); err != nil {
		return data
	}
	if _, err := dec.ReadToken(); !errors.Is(err, io.EOF) {
		return data // trailing data: let ParseBatch say so
	}
	dec = jsontext.NewDecoder(bytes.NewReader(data))
	if tok, err := dec.ReadToken(); err != nil || tok.Kind() != '{' {
		return data
	}
	if dec.PeekKind() == '"' {
		if tok, err := dec.ReadToken(); err == nil && tok.String() == "events" {
			return data
		}
	}
	out := make([]byte, 0, len(data)+len(`{"events":[]}`))
	out = append(out, `{"events":[`...)
	out = append(out, data...)
	return append(out, "]}"...)
}
