package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/reportd/reportd/internal/domain"
	"github.com/reportd/reportd/internal/ids"
	"github.com/reportd/reportd/internal/webhook"
)

// EndpointStore holds the clients' webhook endpoints.
type EndpointStore interface {
	// CreateEndpoint stores e; secret, if set, is its own signing key.
	CreateEndpoint(ctx context.Context, e domain.Endpoint, secret string) (domain.Endpoint, error)
	GetEndpoint(ctx context.Context, clientID, id string) (domain.Endpoint, error)
	ListEndpoints(ctx context.Context, clientID string) ([]domain.Endpoint, error)
	UpdateEndpoint(ctx context.Context, clientID, id string, c domain.EndpointChange) (domain.Endpoint, error)
	DeleteEndpoint(ctx context.Context, clientID, id string) error
}

// endpointIDPrefix is the prefix of webhook endpoint ids.
const endpointIDPrefix = "ep"

// maxDescription bounds an endpoint's description, in characters.
const maxDescription = 256

type createEndpointRequest struct {
	URL         string   `json:"url"`
	Events      []string `json:"events,omitempty"`
	Description string   `json:"description,omitempty"`
	// Signing is "client" (the default: the client's keys, v1 or v1a) or
	// "endpoint" (a "whsec_" secret of its own, shown once in the answer).
	Signing string `json:"signing,omitempty"`
}

type patchEndpointRequest struct {
	URL         *string   `json:"url,omitempty"`
	Events      *[]string `json:"events,omitempty"`
	Description *string   `json:"description,omitempty"`
	// Status "active" enables a paused or disabled endpoint.
	Status *string `json:"status,omitempty"`
}

func validateEndpointURL(url string, s Settings) *FieldError {
	if url == "" {
		return &FieldError{Field: "url", Message: "is required"}
	}
	if err := webhook.ValidateURL(url, s.AllowPrivateWebhooks); err != nil {
		return &FieldError{Field: "url", Message: err.Error()}
	}
	return nil
}

func validateEvents(events []string) *FieldError {
	for i, e := range events {
		if !domain.KnownEventType(e) {
			return &FieldError{Field: fmt.Sprintf("events[%d]", i), Message: "must be one of " + strings.Join(domain.EventTypes, ", ")}
		}
		if slices.Index(events, e) != i {
			return &FieldError{Field: fmt.Sprintf("events[%d]", i), Message: "is listed twice"}
		}
	}
	return nil
}

func validateDescription(d string) *FieldError {
	if utf8.RuneCountInString(d) > maxDescription {
		return &FieldError{Field: "description", Message: fmt.Sprintf("must be at most %d characters", maxDescription)}
	}
	return nil
}

func collect(errs ...*FieldError) []FieldError {
	var out []FieldError
	for _, e := range errs {
		if e != nil {
			out = append(out, *e)
		}
	}
	return out
}

func endpointError(w http.ResponseWriter, r *http.Request, d Deps, err error) {
	if errors.Is(err, domain.ErrTooMany) {
		writeProblem(w, problem(http.StatusConflict, "too-many-endpoints", "Too many webhook endpoints",
			fmt.Sprintf("A client may have at most %d webhook endpoints. Delete one to create another.", domain.MaxEndpointsPerClient)))
		return
	}
	writeError(w, r, d.Logger, err)
}

func handleCreateEndpoint(d Deps) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := r.Context()
		var req createEndpointRequest
		if err := decodeJSON(w, r, &req); err != nil {
			writeError(w, r, d.Logger, err)
			return
		}
		var signingErr *FieldError
		switch req.Signing {
		case "", domain.SigningClient, domain.SigningEndpoint:
		default:
			signingErr = &FieldError{Field: "signing", Message: "must be client or endpoint"}
		}
		if errs := collect(validateEndpointURL(req.URL, d.Settings), validateEvents(req.Events),
			validateDescription(req.Description), signingErr); len(errs) > 0 {
			writeProblem(w, invalid(errs...))
			return
		}
		var secret string
		if req.Signing == domain.SigningEndpoint {
			var err error
			if secret, err = webhook.NewSecret(); err != nil {
				writeError(w, r, d.Logger, fmt.Errorf("make endpoint secret: %w", err))
				return
			}
		}
		events := req.Events
		if events == nil {
			events = []string{}
		}
		created, err := d.Endpoints.CreateEndpoint(ctx, domain.Endpoint{
			ID: ids.New(endpointIDPrefix), ClientID: principalFrom(ctx).ClientID,
			URL: req.URL, Description: req.Description, Events: events,
		}, secret)
		if err != nil {
			endpointError(w, r, d, err)
			return
		}
		created.Secret = secret // this once, never again
		w.Header().Set("Location", "/v1/webhook-endpoints/"+created.ID)
		writeJSON(w, http.StatusCreated, created)
	})
}

func handleListEndpoints(d Deps) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := r.Context()
		list, err := d.Endpoints.ListEndpoints(ctx, principalFrom(ctx).ClientID)
		if err != nil {
			writeError(w, r, d.Logger, err)
			return
		}
		if list == nil {
			list = []domain.Endpoint{}
		}
		writeJSON(w, http.StatusOK, listResponse[domain.Endpoint]{Object: "list", Data: list})
	})
}

func handleGetEndpoint(d Deps) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := r.Context()
		id, ok := pathID(r, endpointIDPrefix)
		if !ok {
			writeProblem(w, errNotFound)
			return
		}
		e, err := d.Endpoints.GetEndpoint(ctx, principalFrom(ctx).ClientID, id)
		if err != nil {
			writeError(w, r, d.Logger, err)
			return
		}
		writeJSON(w, http.StatusOK, e)
	})
}

func handlePatchEndpoint(d Deps) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := r.Context()
		id, ok := pathID(r, endpointIDPrefix)
		if !ok {
			writeProblem(w, errNotFound)
			return
		}
		var req patchEndpointRequest
		if err := decodeJSON(w, r, &req); err != nil {
			writeError(w, r, d.Logger, err)
			return
		}
		var errs []FieldError
		if req.URL != nil {
			errs = append(errs, collect(validateEndpointURL(*req.URL, d.Settings))...)
		}
		if req.Events != nil {
			errs = append(errs, collect(validateEvents(*req.Events))...)
		}
		if req.Description != nil {
			errs = append(errs, collect(validateDescription(*req.Description))...)
		}
		if req.Status != nil && *req.Status != string(domain.EndpointActive) {
			errs = append(errs, FieldError{Field: "status", Message: "must be active (to enable the endpoint); it pauses and disables itself"})
		}
		if len(errs) > 0 {
			writeProblem(w, invalid(errs...))
			return
		}
		updated, err := d.Endpoints.UpdateEndpoint(ctx, principalFrom(ctx).ClientID, id, domain.EndpointChange{
			URL: req.URL, Description: req.Description, Events: req.Events, Enable: req.Status != nil,
		})
		if err != nil {
			writeError(w, r, d.Logger, err)
			return
		}
		writeJSON(w, http.StatusOK, updated)
	})
}

func handleDeleteEndpoint(d Deps) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := r.Context()
		id, ok := pathID(r, endpointIDPrefix)
		if !ok {
			writeProblem(w, errNotFound)
			return
		}
		if err := d.Endpoints.DeleteEndpoint(ctx, principalFrom(ctx).ClientID, id); err != nil {
			writeError(w, r, d.Logger, err)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
}
