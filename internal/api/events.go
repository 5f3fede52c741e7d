package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"

	"github.com/reportd/reportd/internal/domain"
	"github.com/reportd/reportd/internal/orderevents"
)

// sequenceConflictDetail is the public detail of a 409: the order and
// sequence when they are known (from the store, or because the batch holds
// one event), never the internal error.
func sequenceConflictDetail(err error, events []orderevents.Event) string {
	order, seq := "", int64(0)
	if sc, ok := errors.AsType[*domain.SequenceConflictError](err); ok {
		order, seq = sc.OrderID, sc.Sequence
	} else if len(events) == 1 {
		order, seq = events[0].OrderID, events[0].Sequence
	}
	if order == "" {
		return "An event reuses the sequence number of an order under another event_id; the batch was not stored."
	}
	return fmt.Sprintf("Order %s already has an event with sequence %d under another event_id; the batch was not stored.", order, seq)
}

// eventsProblem maps ParseBatch's errors onto problems: 400 for a body that
// does not decode, 422 listing every broken rule.
func eventsProblem(err error) error {
	if se, ok := errors.AsType[*orderevents.SyntaxError](err); ok {
		return malformed(se.Field, se.Msg)
	}
	if ve, ok := errors.AsType[*orderevents.ValidationError](err); ok {
		p := invalid()
		for _, fe := range ve.Errors {
			p.Errors = append(p.Errors, FieldError{Field: fe.Field, Message: fe.Message})
		}
		return p
	}
	return badRequest("The body is not a valid event batch.")
}

func handleAppendEvents(d Deps) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := r.Context()
		body, err := readBody(w, r, maxEventsBody)
		if err != nil {
			writeError(w, r, d.Logger, err)
			return
		}
		events, err := orderevents.ParseBatch(body)
		if err != nil {
			writeError(w, r, d.Logger, eventsProblem(err))
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
			if errors.Is(err, domain.ErrSequenceConflict) {
				// The internal chain names tables and event ids; the client
				// gets the order and sequence, the log gets the rest.
				d.Logger.InfoContext(ctx, "order event sequence conflict", "client_id", principal.ClientID, "err", err)
				writeProblem(w, problem(http.StatusConflict, "sequence-conflict", "Sequence conflict", sequenceConflictDetail(err, events)))
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

// projectionsResponse is the projections list plus, when events also
// arrive from NATS, that consumer's backlog.
type projectionsResponse struct {
	listResponse[domain.ProjectionStatus]

	Ingestion []IngestionStatus `json:"ingestion,omitempty"`
}

func handleProjections(d Deps) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		list, err := d.Events.Projections(r.Context())
		if err != nil {
			writeError(w, r, d.Logger, err)
			return
		}
		out := projectionsResponse{listResponse: listResponse[domain.ProjectionStatus]{Object: "list", Data: list}}
		if d.Ingestion != nil {
			out.Ingestion = d.Ingestion.IngestionStatus(r.Context())
		}
		writeJSON(w, http.StatusOK, out)
	})
}
