// Package jobs defines reportd's background work the way net/http defines
// routes: task types and payloads, constructors, handlers, the retry policy,
// the enqueuer and the sweeper that re-enqueues work whose task was lost.
//
// Rendering and delivery are separate tasks, so a failing webhook never
// re-renders a report. Postgres rows are the truth; tasks only carry work,
// and every handler checks the row before it acts, because asynq delivers
// at least once.
//
// A report event becomes one delivery per target. Deliveries to a client's
// webhook endpoints are admitted one attempt at a time (EndpointStore): a
// report's later event waits for its earlier one, a paused endpoint lets one
// probe through, and leases in Postgres cap the attempts in flight per
// endpoint across workers. A delivery that may not go yet ends its run with
// a wait that IsFailure does not count, so waiting never burns an attempt.
// So does a report's or a delivery's run that meets an outage of Postgres,
// Redis or S3 (see Unavailable), for up to DEPENDENCY_OUTAGE_MAX.
package jobs
