-- +goose NO TRANSACTION
-- +goose Up
-- Each worker process renews its row about once a second and deletes it on
-- a clean shutdown; a row older than WORKER_HEARTBEAT_TIMEOUT (or none) means
-- the worker is gone, and the rescuer queues its running reports again
-- without waiting for asynq's lease. host and pid are how asynq names the
-- process too: the rescuer finds a stale worker's active webhook tasks by
-- them. Outside a transaction (for the index below), so each statement can
-- run again.
CREATE TABLE IF NOT EXISTS worker_heartbeats (
    worker_id  text PRIMARY KEY,
    host       text NOT NULL DEFAULT '',
    pid        integer NOT NULL DEFAULT 0,
    started_at timestamptz NOT NULL DEFAULT now(),
    seen_at    timestamptz NOT NULL DEFAULT now()
);

-- run_by is the worker running the report's current run; run_seq numbers
-- runs (each StartReport takes the next) and fences them: only the current
-- run may finish the report or give its attempt back. A constant default
-- adds the columns without rewriting the table.
ALTER TABLE reports ADD COLUMN IF NOT EXISTS run_by text, ADD COLUMN IF NOT EXISTS run_seq bigint NOT NULL DEFAULT 0;

-- CONCURRENTLY, so reports go on being created while a big table is indexed.
CREATE INDEX CONCURRENTLY IF NOT EXISTS reports_running_by ON reports (run_by) WHERE status = 'running';

-- +goose Down
DROP INDEX IF EXISTS reports_running_by;
ALTER TABLE reports DROP COLUMN IF EXISTS run_by, DROP COLUMN IF EXISTS run_seq;
DROP TABLE IF EXISTS worker_heartbeats;
