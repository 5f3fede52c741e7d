package domain

import (
	"errors"
	"fmt"
)

// AppendResult is the answer to one appended batch of order events, from
// every way in (the HTTP API, NATS JetStream, the seeder).
type AppendResult struct {
	Accepted   int   `json:"accepted"`
	Duplicates int   `json:"duplicates"`
	Position   int64 `json:"position"`
}

// ErrSequenceConflict means an event reuses an (order_id, sequence) that the
// log already holds under another event_id. On its own (a concurrent append
// took the sequence) it does not say which event.
var ErrSequenceConflict = errors.New("order sequence already taken by another event")

// SequenceConflictError names the event whose (order_id, sequence) another
// event holds, so the client can be told which. It wraps ErrSequenceConflict.
type SequenceConflictError struct {
	EventID  string
	OrderID  string
	Sequence int64
}

func (e *SequenceConflictError) Error() string {
	return fmt.Sprintf("append event %s: order %s sequence %d: %v", e.EventID, e.OrderID, e.Sequence, ErrSequenceConflict)
}

func (e *SequenceConflictError) Unwrap() error { return ErrSequenceConflict }
