// Package capacity turns the costs that `make bench` measures per report and
// per event (CPU-ms of each component, Redis commands, Postgres statements
// and WAL bytes, S3 requests and bytes) into deployment sizes, and writes
// docs/capacity.md with the arithmetic shown. The measuring is done by the
// bench harness (bench/capacity_stage.go); this package only holds the
// figures' shape (Figures, saved as bench/capacity.json), the arithmetic
// (Plan*, one place, unit-tested) and the document (Markdown).
package capacity
