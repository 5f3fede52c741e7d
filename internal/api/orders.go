package api

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gorilla/mux"

	"github.com/reportd/reportd/internal/domain"
	"github.com/reportd/reportd/internal/orderevents"
)

// OrderEvent is one entry of an order's audit trail: the event as the log
// holds it, in its own schema_version. Upcast is present only for an event
// of an older version: its data as every reader reads it, in the type's
// latest version.
type OrderEvent struct {
	Object        string          `json:"object"` // "order_event"
	EventID       string          `json:"event_id"`
	OrderID       string          `json:"order_id"`
	Sequence      int64           `json:"sequence"`
	Type          string          `json:"type"`
	SchemaVersion int             `json:"schema_version"`
	OccurredAt    time.Time       `json:"occurred_at"`
	RecordedAt    time.Time       `json:"recorded_at"`
	Position      int64           `json:"position"`
	Data          json.RawMessage `json:"data"`
	Upcast        *UpcastData     `json:"upcast,omitempty"`
}

// UpcastData is an older event's data read as a newer schema version.
type UpcastData struct {
	SchemaVersion int             `json:"schema_version"`
	Data          json.RawMessage `json:"data"`
}

// ParkedOrderEvent is the event that failed to apply and holds back the rest.
type ParkedOrderEvent struct {
	EventID  string `json:"event_id"`
	Sequence int64  `json:"sequence"`
	Type     string `json:"type"`
	Error    string `json:"error"`
}

// OrderState is an order as it stood at as_of, folded from its events.
type OrderState struct {
	Object         string     `json:"object"` // "order"
	OrderID        string     `json:"order_id"`
	AsOf           time.Time  `json:"as_of"`
	Status         *string    `json:"status"` // null while no event could apply (a gap before it)
	CustomerID     *string    `json:"customer_id"`
	MerchantID     *string    `json:"merchant_id"`
	Currency       *string    `json:"currency"`
	ItemCount      int        `json:"item_count"`
	TotalCents     int64      `json:"total_cents"`
	TaxCents       int64      `json:"tax_cents"` // of total_cents
	RefundedCents  int64      `json:"refunded_cents"`
	NetCents       int64      `json:"net_cents"`
	PlacedAt       *time.Time `json:"placed_at"`
	PaidAt         *time.Time `json:"paid_at"`
	ShippedAt      *time.Time `json:"shipped_at"`
	CancelledAt    *time.Time `json:"cancelled_at"`
	Carrier        *string    `json:"carrier"`
	TrackingNumber *string    `json:"tracking_number"`
	LastSequence   int64      `json:"last_sequence"`
	EventsApplied  int        `json:"events_applied"`
	// EventsHeld occurred by as_of but wait behind a gap in the sequence or
	// behind the parked event, as the read model holds them.
	EventsHeld int               `json:"events_held"`
	Parked     *ParkedOrderEvent `json:"parked"`
}

// Orders reads one order's events from the log.
type Orders interface {
	// OrderEvents lists the order's events after sequence afterSeq, in
	// sequence order, at most limit.
	OrderEvents(ctx context.Context, clientID, orderID string, afterSeq int64, limit int) ([]OrderEvent, error)
	// OrderAsOf folds the order's events that occurred at or before asOf;
	// domain.ErrNotFound when there are none.
	OrderAsOf(ctx context.Context, clientID, orderID string, asOf time.Time) (OrderState, error)
}

// orderID reads {order_id} with the events' own id rule.
func orderID(r *http.Request) (string, *FieldError) {
	id := mux.Vars(r)["order_id"]
	if !orderevents.IsID(id) {
		return "", &FieldError{Field: "order_id", Message: fmt.Sprintf("must be 1 to %d characters of letters, digits and _ . : -", orderevents.MaxIDLen)}
	}
	return id, nil
}

var errNoOrderEvents = problem(http.StatusNotFound, "not-found", "Not found", "This client has no events of that order.")

func handleOrderEvents(d Deps) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := r.Context()
		q := r.URL.Query()
		var errs []FieldError
		id, ferr := orderID(r)
		if ferr != nil {
			errs = append(errs, *ferr)
		}
		limit, lerr := parseLimit(q.Get("limit"))
		if lerr != nil {
			errs = append(errs, *lerr)
		}
		after, err := decodeSequenceCursor(q.Get("cursor"))
		if err != nil {
			errs = append(errs, FieldError{Field: "cursor", Message: "is not a cursor this API returned"})
		}
		if len(errs) > 0 {
			writeProblem(w, invalid(errs...))
			return
		}
		list, err := d.Orders.OrderEvents(ctx, principalFrom(ctx).ClientID, id, after, limit+1)
		if err != nil {
			writeError(w, r, d.Logger, err)
			return
		}
		if len(list) == 0 && after == 0 {
			writeProblem(w, errNoOrderEvents)
			return
		}
		out := listResponse[OrderEvent]{Object: "list", Data: list}
		if len(list) > limit {
			out.Data, out.HasMore = list[:limit], true
			c := encodeSequenceCursor(list[limit-1].Sequence)
			out.NextCursor = &c
		}
		writeJSON(w, http.StatusOK, out)
	})
}

func handleOrderAsOf(d Deps) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := r.Context()
		var errs []FieldError
		id, ferr := orderID(r)
		if ferr != nil {
			errs = append(errs, *ferr)
		}
		asOf := d.Now().UTC()
		if v, ok := r.URL.Query()["as_of"]; ok {
			t, err := time.Parse(time.RFC3339Nano, v[0])
			if err != nil || len(v) > 1 {
				errs = append(errs, FieldError{Field: "as_of", Message: "must be one RFC 3339 timestamp such as 2026-01-02T15:04:05Z (send + as %2B)"})
			}
			asOf = t.UTC()
		}
		if len(errs) > 0 {
			writeProblem(w, invalid(errs...))
			return
		}
		st, err := d.Orders.OrderAsOf(ctx, principalFrom(ctx).ClientID, id, asOf)
		if errors.Is(err, domain.ErrNotFound) {
			writeProblem(w, problem(http.StatusNotFound, "not-found", "Not found",
				"This client has no events of that order that occurred at or before as_of."))
			return
		}
		if err != nil {
			writeError(w, r, d.Logger, err)
			return
		}
		writeJSON(w, http.StatusOK, st)
	})
}

// Audit-trail cursors are opaque to clients: base64url of "seq:<n>", the
// last sequence of the page.
func encodeSequenceCursor(seq int64) string {
	return base64.RawURLEncoding.EncodeToString([]byte("seq:" + strconv.FormatInt(seq, 10)))
}

func decodeSequenceCursor(c string) (int64, error) {
	if c == "" {
		return 0, nil
	}
	if len(c) > maxCursor {
		return 0, errors.New("cursor too long")
	}
	raw, err := base64.RawURLEncoding.DecodeString(c)
	if err != nil {
		return 0, fmt.Errorf("decode cursor: %w", err)
	}
	n, ok := strings.CutPrefix(string(raw), "seq:")
	seq, err := strconv.ParseInt(n, 10, 64)
	if !ok || err != nil || seq < 1 {
		return 0, errors.New("malformed cursor")
	}
	return seq, nil
}
