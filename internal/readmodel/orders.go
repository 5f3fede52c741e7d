package readmodel

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/reportd/reportd/internal/orderevents"
	"github.com/reportd/reportd/internal/report"
)

// ErrNoOrderEvents means the client has no events of that order (before the
// given time, for OrderAsOf).
var ErrNoOrderEvents = errors.New("no events of this order")

// LoggedEvent is one event as the log holds it: the audit trail. Data is in
// the shape of its SchemaVersion, as stored. When that is older than the
// type's latest version, Upcast is the data as every reader reads it (the
// projector's own upcast step), in version UpcastVersion; else both are
// empty.
type LoggedEvent struct {
	Position      int64
	EventID       string
	OrderID       string
	Sequence      int64
	Type          string
	SchemaVersion int
	OccurredAt    time.Time
	RecordedAt    time.Time
	Data          json.RawMessage
	UpcastVersion int
	Upcast        json.RawMessage
}

// upcast fills in e's Upcast. Data that no longer decodes is shown as stored
// only: the audit trail lists what the log holds, and the projector parks it.
func (s *Store) upcast(e *LoggedEvent) {
	latest := orderevents.LatestSchemaVersion(e.Type)
	if e.SchemaVersion >= latest {
		return
	}
	v, err := s.decode(e.Type, e.SchemaVersion, e.Data)
	if err != nil {
		return
	}
	if b, err := json.Marshal(v); err == nil {
		e.UpcastVersion, e.Upcast = latest, b
	}
}

// OrderEvents lists one order's events in sequence order, those after
// sequence afterSeq, at most limit of them. It reads the read pool, like
// reports: on a replica, the newest events may show a moment later.
func (s *Store) OrderEvents(ctx context.Context, clientID, orderID string, afterSeq int64, limit int) ([]LoggedEvent, error) {
	rows, err := s.read.Query(ctx, `SELECT position, event_id, order_id, sequence, type, schema_version, occurred_at, recorded_at, data
		FROM order_events WHERE client_id = $1 AND order_id = $2 AND sequence > $3
		ORDER BY sequence LIMIT $4`, clientID, orderID, afterSeq, limit)
	if err != nil {
		return nil, fmt.Errorf("list events of order %s: %w", orderID, err)
	}
	list, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (LoggedEvent, error) {
		var e LoggedEvent
		err := row.Scan(&e.Position, &e.EventID, &e.OrderID, &e.Sequence, &e.Type, &e.SchemaVersion, &e.OccurredAt, &e.RecordedAt, &e.Data)
		e.OccurredAt, e.RecordedAt = e.OccurredAt.UTC(), e.RecordedAt.UTC()
		s.upcast(&e)
		return e, err
	})
	if err != nil {
		return nil, fmt.Errorf("list events of order %s: %w", orderID, err)
	}
	return list, nil
}

// OrderSnapshot is an order as it stood at a time, folded from its events.
type OrderSnapshot struct {
	report.OrderRow

	LastSequence int64
	// Applied events made the state; Held ones wait behind a gap in the
	// sequence (or behind a parked event), as the projector holds them.
	Applied, Held int
	// Parked is the event that failed to apply, with why; nil when none.
	Parked      *LoggedEvent
	ParkedError string
	Amounts     report.Amounts
}

// OrderAsOf folds the order's events with occurred_at ≤ asOf, in sequence
// order, with the projector's own fold (orderState.apply) and its rules:
// an event applies only right after its predecessor; one that fails is
// parked and holds back the rest. ErrNoOrderEvents when there is none.
func (s *Store) OrderAsOf(ctx context.Context, clientID, orderID string, asOf time.Time) (OrderSnapshot, error) {
	rows, err := s.read.Query(ctx, `SELECT position, event_id, sequence, type, schema_version, occurred_at, recorded_at, data
		FROM order_events WHERE client_id = $1 AND order_id = $2 AND occurred_at <= $3
		ORDER BY sequence`, clientID, orderID, asOf)
	if err != nil {
		return OrderSnapshot{}, fmt.Errorf("read events of order %s: %w", orderID, err)
	}
	defer rows.Close()
	st := orderState{ClientID: clientID, OrderID: orderID}
	var snap OrderSnapshot
	seen := 0
	for rows.Next() {
		seen++
		var e logEvent
		var eventID string
		var recorded time.Time
		if err := rows.Scan(&e.Position, &eventID, &e.Sequence, &e.Type, &e.Version, &e.OccurredAt, &recorded, &e.Data); err != nil {
			return OrderSnapshot{}, fmt.Errorf("read events of order %s: %w", orderID, err)
		}
		if snap.Parked != nil || e.Sequence != st.LastSequence+1 {
			snap.Held++
			continue
		}
		if err := st.apply(&e, s.decode); err != nil {
			snap.Parked = &LoggedEvent{Position: e.Position, EventID: eventID, OrderID: orderID, Sequence: e.Sequence, Type: e.Type,
				SchemaVersion: e.Version, OccurredAt: e.OccurredAt.UTC(), RecordedAt: recorded.UTC(), Data: e.Data}
			snap.ParkedError = err.Error()
			continue
		}
		snap.Applied++
	}
	if err := rows.Err(); err != nil {
		return OrderSnapshot{}, fmt.Errorf("read events of order %s: %w", orderID, err)
	}
	if seen == 0 {
		return OrderSnapshot{}, fmt.Errorf("order %s as of %s: %w", orderID, asOf.Format(time.RFC3339), ErrNoOrderEvents)
	}
	snap.OrderRow, snap.LastSequence = st.row(), st.LastSequence
	snap.Amounts, _ = report.OrderAmounts(snap.OrderRow) // apply keeps every applied state within the rules
	return snap, nil
}
