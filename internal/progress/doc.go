// Package progress tracks how far a running report's build is and publishes
// it at most once per interval, so a per-row call costs the renderer next to
// nothing and the system of record sees at most one write a second.
package progress
