package domain

import "time"

// ProjectionStatus is one read-model projection's checkpoint and lag: the
// read model reports it, GET /v1/projections and the metrics show it.
type ProjectionStatus struct {
	Name string `json:"name"`
	// Position: every log event up to it is consumed (applied, held or
	// parked); the lowest of the partitions' checkpoints.
	Position   int64   `json:"position"`
	Head       int64   `json:"head"`        // last log position
	LagEvents  int64   `json:"lag_events"`  // log events not yet consumed, summed over partitions
	LagSeconds float64 `json:"lag_seconds"` // age of the oldest of them
	HeldEvents int64   `json:"held_events"` // consumed, waiting for an earlier sequence
	// HeldOrders are the orders with a gap. The API does not publish it
	// (openapi.yaml); reportctl shows it.
	HeldOrders int64 `json:"-"`
	// ParkedEvents failed to apply and hold back their own order (see
	// readmodel's Parked and RetryParked); each order has at most one.
	ParkedEvents int64 `json:"parked_events"`
	// Partitions split the projection's orders across workers; empty until
	// a worker has created them.
	Partitions []PartitionStatus `json:"partitions"`
}

// PartitionStatus is one partition of a projection: its checkpoint, lag and
// lease.
type PartitionStatus struct {
	Partition int   `json:"partition"`
	Position  int64 `json:"position"`   // the log position it has read up to
	LagEvents int64 `json:"lag_events"` // its orders' log events after Position
	// Leased says a worker holds its lease. Which worker (Owner: host, pid)
	// is for operators, in the metrics; the API, open to every tenant, does
	// not show the deployment's host names.
	Leased bool `json:"leased"`
	// Owner is the worker holding its lease; empty when free (never leased,
	// released, or expired).
	Owner          string     `json:"-"`
	LeaseExpiresAt *time.Time `json:"lease_expires_at,omitempty"`
}
