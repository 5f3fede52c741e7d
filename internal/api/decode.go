package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"
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
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	if _, tooLarge := errors.AsType[*http.MaxBytesError](err); tooLarge {
		return nil, problem(http.StatusRequestEntityTooLarge, "body-too-large", "Body too large",
			fmt.Sprintf("The body must be at most %d bytes.", limit))
	}
	if err != nil {
		return nil, badRequest("The body could not be read.")
	}
	return body, nil
}

// decodeJSON reads one strict JSON object into dst: unknown fields, values
// of the wrong JSON type and trailing data are 400s that say where, as the
// order-event parser answers too; values that parse but are invalid are
// left to validation (422).
func decodeJSON(w http.ResponseWriter, r *http.Request, dst any) error {
	body, err := readBody(w, r, maxBody)
	if err != nil {
		return err
	}
	return unmarshalStrict(body, dst)
}

func unmarshalStrict(body []byte, dst any) error {
	dec := json.NewDecoder(strings.NewReader(string(body)))
	dec.DisallowUnknownFields()
	err := dec.Decode(dst)
	var syntaxErr *json.SyntaxError
	var typeErr *json.UnmarshalTypeError
	switch {
	case err == nil:
	case errors.Is(err, io.EOF):
		return badRequest("The body is empty; send a JSON object.")
	case errors.As(err, &syntaxErr):
		return badRequest(fmt.Sprintf("The body is not valid JSON (at byte %d).", syntaxErr.Offset))
	case errors.Is(err, io.ErrUnexpectedEOF):
		return badRequest("The body is not valid JSON (it ends too early).")
	case errors.As(err, &typeErr):
		field := typeErr.Field
		if field == "" {
			return badRequest("The body must be a JSON object.")
		}
		return badRequest(fmt.Sprintf("The field %s must be a JSON %s.", field, jsonType(typeErr.Type.Kind().String())))
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		name := strings.TrimPrefix(err.Error(), "json: unknown field ")
		return badRequest(fmt.Sprintf("The body has an unknown field %s.", name))
	default:
		return badRequest("The body is not a valid request.")
	}
	if dec.More() {
		return badRequest("The body must hold exactly one JSON object.")
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return badRequest("The body must hold exactly one JSON object.")
	}
	return nil
}

func jsonType(kind string) string {
	switch kind {
	case "string":
		return "string"
	case "int", "int8", "int16", "int32", "int64", "uint", "uint8", "uint16", "uint32", "uint64", "float32", "float64":
		return "number"
	case "bool":
		return "boolean"
	case "slice", "array":
		return "array"
	default:
		return "object"
	}
}
