// Package jobs defines reportd's background work the way net/http defines
// routes: task types and payloads, constructors, handlers, the retry policy,
// the enqueuer and the sweeper that re-enqueues work whose task was lost.
//
// Rendering and delivery are separate tasks, so a failing webhook never
// re-renders a report. Postgres rows are the truth; tasks only carry work,
// and every handler checks the row before it acts, because asynq delivers
// at least once.
package jobs
