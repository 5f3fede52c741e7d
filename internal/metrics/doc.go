// Package metrics is reportd's Prometheus instrumentation: request, report,
// webhook, queue and projection metrics on an explicit registry, served by
// [Metrics.Handler].
//
// A *Metrics implements the observers the other packages declare
// (api.HTTPObserver, jobs.Observer, jobs.DeliveryObserver). Queue sizes and
// projection lag are read at scrape time by collectors, so they are never
// stale and cost nothing between scrapes. Every name starts with "reportd_".
package metrics
