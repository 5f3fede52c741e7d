// Package chaos is reportd's fault-injection suite: it runs the real api and
// worker binaries as separate processes against real Redis, Postgres and the
// S3 gateway, breaks one of them on purpose (SIGKILL, restarts, outages,
// duplicate storms) and checks that no accepted report is lost and that each
// report's webhook arrives under exactly one webhook-id.
//
// The package holds only tests. `go test ./chaos/` runs the short form
// (worker SIGKILL, webhook outages, duplicate storms, Redis restarting or
// flushed empty, S3 down for 30 s and past DEPENDENCY_OUTAGE_MAX, Postgres
// stopped for 5 s while webhooks are retried, projector workers SIGKILLed
// and started at random for 8 s);
// make chaos (scripts/chaos.sh) builds with -tags chaosfull, which adds the
// Postgres restart, the out-of-order events scenario, a Postgres failover to
// a synchronous replica, and (as root) reportd spread over network
// namespaces with a worker partitioned and Postgres slowed, and sets
// CHAOS_FULL=1 (or -chaos.full) to run every scenario at full size (S3 down
// for 4 minutes, projector workers killed for a minute). Redis, Postgres and
// the S3 gateway that a scenario restarts are private instances on ports of
// their own, so the suite never disturbs other tests. The short form runs
// six scenarios at a time; every stack's database and Redis database then
// live on a Postgres and a Redis the suite starts for itself (TestMain), not
// on the shared dev services.
package chaos
