// Package readmodel is the order read model (CQRS): it appends validated
// order events to the append-only log in Postgres, projects them into the
// report tables (customer_order_history, merchant_daily_sales), rebuilds and
// verifies those projections from the log, and streams report rows from them.
//
// Every projection keeps its checkpoint in the same transaction as the rows
// it changes, so each log event is applied exactly once. Each order's events
// are applied strictly in sequence order; an event that arrives early is held
// in projection_held until the gap before it fills. An event that fails to
// apply (it does not decode, it breaks the money rules of
// report.OrderAmounts, or Postgres refuses its values) is parked in
// projection_parked for its own order: that order's later events wait
// behind it, everything else goes on, and RetryParked applies it again.
//
// Reports as of a past instant (OpenDocumentAsOf) and an order's audit trail
// (OrderAsOf) fold the log itself with the same fold and the same rules.
// Every event is read through one upcast step (Store.decode, which is
// orderevents.Decode): the projector, the as_of fold, OrderAsOf and the
// audit trail's upcast data all see older schema versions as the latest.
//
// Projections are versioned (versions.go): Rebuild builds a new version in a
// schema of its own with the same fold, resumably, and swaps it in at once;
// Verify builds one and lists the rows in which the live version differs.
package readmodel
