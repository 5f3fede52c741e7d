-- +goose Up
-- Report schedules. Every worker claims due rows (next_run_at <= now) with
-- FOR UPDATE SKIP LOCKED and, in one transaction, inserts the fire's report
-- and moves next_run_at past now; a paused schedule has no next_run_at.
CREATE TABLE schedules (
    id              text PRIMARY KEY,
    client_id       text NOT NULL REFERENCES clients (id),
    cron            text NOT NULL,
    timezone        text NOT NULL,
    report          jsonb NOT NULL,
    paused          boolean NOT NULL DEFAULT false,
    next_run_at     timestamptz,
    last_run_at     timestamptz,
    last_report_id  text,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX schedules_client_created ON schedules (client_id, created_at DESC, id DESC);
CREATE INDEX schedules_due ON schedules (next_run_at) WHERE next_run_at IS NOT NULL;

-- A report remembers the fire that made it. No foreign key: deleting a
-- schedule leaves its reports as they were. The unique pair is the fire's
-- idempotency key, so no crash or race can make two reports of one fire;
-- partial, so reports requested directly cost the index nothing.
ALTER TABLE reports ADD COLUMN schedule_id text, ADD COLUMN scheduled_for timestamptz;
CREATE UNIQUE INDEX reports_schedule_fire ON reports (schedule_id, scheduled_for) WHERE schedule_id IS NOT NULL;

-- A schedule that may now fire sooner than any loop expects (a new one, a
-- resume, a new cron) wakes the scheduler loops, so it does not wait for a
-- loop's longest sleep. A fire only moves next_run_at later, which needs no
-- wake-up, so the busiest path sends no notifications.
-- +goose StatementBegin
CREATE FUNCTION schedules_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('schedules_changed', '');
    RETURN NULL;
END
$$;
-- +goose StatementEnd

CREATE TRIGGER schedules_notify_insert AFTER INSERT ON schedules
    FOR EACH ROW WHEN (NEW.next_run_at IS NOT NULL) EXECUTE FUNCTION schedules_notify();
CREATE TRIGGER schedules_notify_update AFTER UPDATE OF next_run_at ON schedules
    FOR EACH ROW WHEN (NEW.next_run_at < coalesce(OLD.next_run_at, 'infinity'))
    EXECUTE FUNCTION schedules_notify();

-- +goose Down
DROP TRIGGER schedules_notify_update ON schedules;
DROP TRIGGER schedules_notify_insert ON schedules;
DROP FUNCTION schedules_notify();
DROP INDEX reports_schedule_fire;
ALTER TABLE reports DROP COLUMN schedule_id, DROP COLUMN scheduled_for;
DROP TABLE schedules;
