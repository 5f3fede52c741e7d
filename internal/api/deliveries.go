package api

import (
	"fmt"
	"net/http"
	"time"

	"github.com/reportd/reportd/internal/domain"
	"github.com/reportd/reportd/internal/ids"
)

func handleReportDeliveries(d Deps) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := r.Context()
		id, ok := pathID(r, reportIDPrefix)
		if !ok {
			writeProblem(w, errNotFound)
			return
		}
		list, err := d.Deliveries.ReportDeliveries(ctx, principalFrom(ctx).ClientID, id)
		if err != nil {
			writeError(w, r, d.Logger, err)
			return
		}
		if list == nil {
			list = []domain.Delivery{}
		}
		writeJSON(w, http.StatusOK, listResponse[domain.Delivery]{Object: "list", Data: list})
	})
}

func deliveryStatusValid(s domain.DeliveryStatus) bool {
	switch s {
	case domain.DeliveryPending, domain.DeliveryDelivered, domain.DeliveryFailing, domain.DeliveryDead, domain.DeliveryDisabled:
		return true
	}
	return false
}

func parseSince(v string) (time.Time, *FieldError) { return parseTime("since", v) }

func parseTime(field, v string) (time.Time, *FieldError) {
	if v == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339, v)
	if err != nil {
		return time.Time{}, &FieldError{Field: field, Message: "must be an RFC 3339 time such as 2026-01-02T15:04:05Z"}
	}
	return t, nil
}

func handleListDeliveries(d Deps) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := r.Context()
		q := r.URL.Query()
		var errs []FieldError
		f := domain.DeliveryFilter{Status: domain.DeliveryStatus(q.Get("status"))}
		if f.Status != "" && !deliveryStatusValid(f.Status) {
			errs = append(errs, FieldError{Field: "status", Message: "must be pending, delivered, failing, dead or disabled"})
		}
		var fe *FieldError
		if f.Since, fe = parseSince(q.Get("since")); fe != nil {
			errs = append(errs, *fe)
		}
		if f.EndpointID = q.Get("endpoint_id"); f.EndpointID != "" && !ids.HasPrefix(f.EndpointID, endpointIDPrefix) {
			errs = append(errs, FieldError{Field: "endpoint_id", Message: "must be a webhook endpoint id (ep_…)"})
		}
		limit, fe := parseLimit(q.Get("limit"))
		if fe != nil {
			errs = append(errs, *fe)
		}
		var err error
		if f.AfterCreated, f.AfterID, err = decodeCursor(q.Get("cursor"), deliveryIDPrefix); err != nil {
			errs = append(errs, FieldError{Field: "cursor", Message: "is not a cursor this API returned"})
		}
		if len(errs) > 0 {
			writeProblem(w, invalid(errs...))
			return
		}
		f.Limit = limit + 1
		list, err := d.Deliveries.ListDeliveries(ctx, principalFrom(ctx).ClientID, f)
		if err != nil {
			writeError(w, r, d.Logger, err)
			return
		}
		writeJSON(w, http.StatusOK, page(list, limit,
			func(d domain.Delivery) (time.Time, string) { return d.CreatedAt, d.ID },
			func(d domain.Delivery) domain.Delivery { return d }))
	})
}

func handleRedeliver(d Deps) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := r.Context()
		id, ok := pathID(r, deliveryIDPrefix)
		if !ok {
			writeProblem(w, errNotFound)
			return
		}
		del, err := d.Deliveries.Redeliver(ctx, principalFrom(ctx).ClientID, id)
		if err != nil {
			writeError(w, r, d.Logger, err)
			return
		}
		if err := d.Queue.Redeliver(ctx, domain.WorkRef{ID: del.ID, ReportID: del.ReportID, ClientID: del.ClientID}); err != nil {
			d.Logger.WarnContext(ctx, "requeue delivery; the sweeper will retry", "delivery_id", del.ID, "err", err)
		}
		writeJSON(w, http.StatusAccepted, del)
	})
}

type replayRequest struct {
	Status domain.DeliveryStatus `json:"status"`
	Since  string                `json:"since,omitempty"` // RFC 3339; parsed here so a bad one is a 422 naming it
	Until  string                `json:"until,omitempty"` // RFC 3339, exclusive
	// EndpointID replays only one endpoint's deliveries.
	EndpointID string `json:"endpoint_id,omitempty"`
	Limit      *int   `json:"limit,omitempty"` // absent: maxReplayDeliveries
}

type replayResponse struct {
	Replayed    int      `json:"replayed"`
	DeliveryIDs []string `json:"delivery_ids"`
}

// maxReplayDeliveries is the most deliveries one replay request queues
// (openapi.yaml's limit maximum).
const maxReplayDeliveries = 1000

func handleReplayDeliveries(d Deps) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := r.Context()
		var req replayRequest
		if err := decodeJSON(w, r, &req); err != nil {
			writeError(w, r, d.Logger, err)
			return
		}
		var errs []FieldError
		if req.Status == "" {
			req.Status = domain.DeliveryDead
		}
		if req.Status != domain.DeliveryDead && req.Status != domain.DeliveryFailing {
			errs = append(errs, FieldError{Field: "status", Message: "must be dead or failing"})
		}
		limit := maxReplayDeliveries
		if req.Limit != nil {
			limit = *req.Limit
		}
		if limit < 1 || limit > maxReplayDeliveries {
			errs = append(errs, FieldError{Field: "limit", Message: fmt.Sprintf("must be from 1 to %d; leave it out for %d", maxReplayDeliveries, maxReplayDeliveries)})
		}
		since, fe := parseSince(req.Since)
		if fe != nil {
			errs = append(errs, *fe)
		}
		until, fe := parseTime("until", req.Until)
		if fe != nil {
			errs = append(errs, *fe)
		} else if req.Until != "" && !until.After(since) {
			errs = append(errs, FieldError{Field: "until", Message: "must be later than since"})
		}
		if req.EndpointID != "" && !ids.HasPrefix(req.EndpointID, endpointIDPrefix) {
			errs = append(errs, FieldError{Field: "endpoint_id", Message: "must be a webhook endpoint id (ep_…)"})
		}
		if len(errs) > 0 {
			writeProblem(w, invalid(errs...))
			return
		}
		principal := principalFrom(ctx)
		f := domain.ReplayFilter{Status: req.Status, Since: since, EndpointID: req.EndpointID, Limit: limit}
		if req.Until != "" {
			f.Until = &until
		}
		refs, err := d.Deliveries.ReplayDeliveries(ctx, principal.ClientID, f)
		if err != nil {
			writeError(w, r, d.Logger, err)
			return
		}
		ids := make([]string, len(refs))
		for i, ref := range refs {
			ids[i] = ref.ID
		}
		if err := d.Queue.Replay(ctx, refs, req.Status == domain.DeliveryDead, RequestID(ctx), nil); err != nil {
			d.Logger.WarnContext(ctx, "queue replayed deliveries; the sweeper will queue the rest", "err", err)
		}
		writeJSON(w, http.StatusAccepted, replayResponse{Replayed: len(ids), DeliveryIDs: ids})
	})
}
