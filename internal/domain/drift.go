package domain

// ProjectionDrift is the last `reportctl projections verify` of one
// projection: how many rows of the live version differed from a fresh fold
// of the log. The worker's metrics export it.
type ProjectionDrift struct {
	Name      string  `json:"name"`
	DriftRows int64   `json:"drift_rows"`
	CheckedAt float64 `json:"checked_at"` // Unix seconds
}
