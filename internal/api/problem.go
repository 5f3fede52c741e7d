package api

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strconv"

	"github.com/reportd/reportd/internal/domain"
)

// FieldError names one invalid input.
type FieldError struct {
	Field   string `json:"field"`
	Message string `json:"message"`
}

// Problem is an RFC 9457 problem details body.
type Problem struct { //nolint:errname // RFC 9457 names it a problem; it is an error only so handlers can return it
	Type   string       `json:"type"`
	Title  string       `json:"title"`
	Status int          `json:"status"`
	Detail string       `json:"detail,omitempty"`
	Errors []FieldError `json:"errors,omitempty"`

	retryAfter int // seconds; sent as Retry-After when set
}

func (p *Problem) Error() string { return p.Title + ": " + p.Detail }

func problem(status int, slug, title, detail string) *Problem {
	return &Problem{Type: "https://reportd.dev/problems/" + slug, Title: title, Status: status, Detail: detail}
}

func badRequest(detail string) *Problem {
	return problem(http.StatusBadRequest, "malformed-request", "Malformed request", detail)
}

func invalid(errs ...FieldError) *Problem {
	p := problem(http.StatusUnprocessableEntity, "validation-error", "Validation failed", "One or more fields are invalid.")
	p.Errors = errs
	return p
}

func unavailable(detail string) *Problem {
	p := problem(http.StatusServiceUnavailable, "service-unavailable", "Service unavailable", detail)
	p.retryAfter = 5
	return p
}

var errNotFound = problem(http.StatusNotFound, "not-found", "Not found", "No such resource.")

// writeError is the one place where an error becomes a response. Domain
// errors map to their status; anything unknown is logged and answered with
// a generic 500 that reveals nothing.
func writeError(w http.ResponseWriter, r *http.Request, logger *slog.Logger, err error) {
	var p *Problem
	switch {
	case errors.As(err, &p):
	case errors.Is(err, domain.ErrNotFound):
		p = errNotFound
	case errors.Is(err, domain.ErrConflict):
		p = problem(http.StatusConflict, "conflict", "Conflict", "The resource's current state does not allow this.")
	case errors.Is(err, domain.ErrQuotaExceeded):
		p = problem(http.StatusTooManyRequests, "too-many-in-flight", "Too many reports in flight",
			"This client has reached its limit of unfinished reports. Retry when some have finished.")
		p.retryAfter = 10
	case errors.Is(err, domain.ErrKeyReused):
		p = invalid(FieldError{Field: "Idempotency-Key", Message: "this key was already used with a different request body"})
	case errors.Is(err, domain.ErrKeyInFlight):
		p = problem(http.StatusConflict, "idempotency-key-in-flight", "Request in flight",
			"A request with this Idempotency-Key is still being processed. Retry shortly.")
		p.retryAfter = 1
	case errors.Is(err, domain.ErrUnavailable), errors.Is(err, context.DeadlineExceeded):
		logger.WarnContext(r.Context(), "dependency unavailable", "err", err)
		p = unavailable("A dependency is unavailable. Retry later.")
	case errors.Is(err, context.Canceled) && r.Context().Err() != nil:
		return // the client went away; nobody is listening
	default:
		logger.ErrorContext(r.Context(), "internal error", "err", err, "method", r.Method, "path", r.URL.Path)
		p = problem(http.StatusInternalServerError, "internal-error", "Internal error", "Something went wrong on our side.")
	}
	writeProblem(w, p)
}

func writeProblem(w http.ResponseWriter, p *Problem) {
	if p.retryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(p.retryAfter))
	}
	w.Header().Set("Content-Type", "application/problem+json")
	w.WriteHeader(p.Status)
	if err := json.NewEncoder(w).Encode(p); err != nil {
		return // the client went away mid-answer; nobody is left to tell
	}
}

// writeJSON answers with a JSON body.
func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		writeProblem(w, problem(http.StatusInternalServerError, "internal-error", "Internal error", "Something went wrong on our side."))
		return
	}
	writeRaw(w, status, b)
}

func writeRaw(w http.ResponseWriter, status int, body []byte) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(body)
	_, _ = w.Write([]byte("\n"))
}
