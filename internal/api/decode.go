package api

import (
	"bytes"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"strings"

	"github.com/reportd/reportd/internal/strictjson"
)

// maxBody bounds JSON request bodies; order-event batches get more.
const (
	maxBody       = 64 << 10
	maxEventsBody = 4 << 20
)

// readBody checks the content type and size and returns the raw body.
func readBody(w http.ResponseWriter, r *http.Request, limit int64) ([]byte, error) {
	ct := r.Header.Get("Content-Type")
	media, _, err := mime.ParseMediaType(ct)
	if ct == "" || err != nil || (media != "application/json" && !strings.HasSuffix(media, "+json")) {
		return nil, problem(http.StatusUnsupportedMediaType, "unsupported-media-type", "Unsupported media type",
			"Send the body as application/json.")
	}
	// One buffer of the announced size (never past the limit): io.ReadAll
	// would grow and copy its way up, costing a 4 MiB body twice over.
	var buf bytes.Buffer
	if r.ContentLength > 0 {
		buf.Grow(int(min(r.ContentLength, limit)) + bytes.MinRead)
	}
	_, err = buf.ReadFrom(http.MaxBytesReader(w, r.Body, limit))
	body := buf.Bytes()
	if _, tooLarge := errors.AsType[*http.MaxBytesError](err); tooLarge {
		return nil, problem(http.StatusRequestEntityTooLarge, "body-too-large", "Body too large",
			fmt.Sprintf("The body must be at most %d bytes.", limit))
	}
	if err != nil {
		return nil, badRequest("The body could not be read.")
	}
	return body, nil
}

// decodeJSON reads one strict JSON object into dst (see strictjson: exact
// names, no unknown or duplicate fields, no trailing data, no NUL or invalid
// UTF-8). A body that does not decode is a 400 naming the field; values that
// decode but are invalid are left to validation (422).
func decodeJSON(w http.ResponseWriter, r *http.Request, dst any, opts ...strictjson.Option) error {
	body, err := readBody(w, r, maxBody)
	if err != nil {
		return err
	}
	return decodeProblem(strictjson.Decode(body, dst, opts...))
}

// decodeProblem turns a strictjson error into the problem the client gets.
func decodeProblem(err error) error {
	var se *strictjson.Error
	var le *strictjson.LimitError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &le):
		return invalid(FieldError{Field: le.Path, Message: fmt.Sprintf("must hold at most %d elements", le.Max)})
	case errors.As(err, &se) && se.Rule:
		return invalid(FieldError{Field: fieldOrBody(se.Path), Message: se.Msg})
	case errors.As(err, &se):
		return malformed(se.Path, se.Msg)
	}
	return badRequest("The body is not valid JSON.")
}

// malformed is a 400 for a body that does not decode; errors[] names the
// field when there is one.
func malformed(field, msg string) *Problem {
	if field == "" {
		return badRequest(upperFirst(msg) + ".")
	}
	p := badRequest(fmt.Sprintf("The body does not decode at %s: %s.", field, msg))
	p.Errors = []FieldError{{Field: field, Message: msg}}
	return p
}

func fieldOrBody(path string) string {
	if path == "" {
		return "body"
	}
	return path
}

func upperFirst(s string) string {
	if s == "" || s[0] < 'a' || s[0] > 'z' {
		return s
	}
	return string(s[0]-'a'+'A') + s[1:]
}
