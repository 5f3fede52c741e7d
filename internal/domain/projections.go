package domain

// ProjectionStatus is one read-model projection's checkpoint and lag: the
// read model reports it, GET /v1/projections and the metrics show it.
type ProjectionStatus struct {
	Name       string  `json:"name"`
	Position   int64   `json:"position"`    // last log position consumed: applied, held or parked
	Head       int64   `json:"head"`        // last log position
	LagEvents  int64   `json:"lag_events"`  // log events not yet consumed
	LagSeconds float64 `json:"lag_seconds"` // age of the oldest of them
	HeldEvents int64   `json:"held_events"` // consumed, waiting for an earlier sequence
	// HeldOrders are the orders with a gap. The API does not publish it
	// (openapi.yaml); reportctl shows it.
	HeldOrders int64 `json:"-"`
	// ParkedEvents failed to apply and hold back their own order (see
	// readmodel's Parked and RetryParked); each order has at most one.
	ParkedEvents int64 `json:"parked_events"`
}
