package api

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"

	"github.com/reportd/reportd/internal/orderevents"
)

// ErrSequenceConflict is what Events.Append returns when an event reuses an
// order's sequence number under another event id.
var ErrSequenceConflict = errors.New("sequence already taken by another event")

func handleAppendEvents(d Deps) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := r.Context()
		body, err := readBody(w, r, maxEventsBody)
		if err != nil {
			writeError(w, r, d.Logger, err)
			return
		}
		events, err := orderevents.ParseBatch(body)
		var syntaxErr *orderevents.SyntaxError
		var validationErr *orderevents.ValidationError
		switch {
		case errors.As(err, &syntaxErr):
			writeProblem(w, badRequest(syntaxErr.Error()))
			return
		case errors.As(err, &validationErr):
			p := invalid()
			for _, fe := range validationErr.Errors {
				p.Errors = append(p.Errors, FieldError{Field: fe.Field, Message: fe.Message})
			}
			writeProblem(w, p)
			return
		case err != nil:
			writeProblem(w, badRequest("The body is not a valid event batch."))
			return
		}
		keyValue, err := idempotencyKey(r)
		if err != nil {
			writeError(w, r, d.Logger, err)
			return
		}
		principal := principalFrom(ctx)
		key, done := claimIdempotencyKey(w, r, d, principal.ClientID, keyValue, body)
		if done {
			return
		}
		res, err := d.Events.Append(ctx, principal.ClientID, events)
		if err != nil {
			if key != nil {
				_ = d.Idempotency.ReleaseKey(context.WithoutCancel(ctx), *key)
			}
			if errors.Is(err, ErrSequenceConflict) {
				writeProblem(w, problem(http.StatusConflict, "sequence-conflict", "Sequence conflict", err.Error()))
				return
			}
			writeError(w, r, d.Logger, err)
			return
		}
		out, _ := json.Marshal(res)
		if key != nil {
			// Ingestion is idempotent on event_id anyway; a lost store here only
			// means a repeat answers with duplicates instead of a replay.
			if err := d.Idempotency.CompleteKey(context.WithoutCancel(ctx), *key, http.StatusOK, out); err != nil {
				d.Logger.WarnContext(ctx, "store idempotent response", "err", err)
			}
		}
		writeRaw(w, http.StatusOK, out)
	})
}

func handleProjections(d Deps) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		list, err := d.Events.Projections(r.Context())
		if err != nil {
			writeError(w, r, d.Logger, err)
			return
		}
		writeJSON(w, http.StatusOK, listResponse[ProjectionStatus]{Object: "list", Data: list})
	})
}
