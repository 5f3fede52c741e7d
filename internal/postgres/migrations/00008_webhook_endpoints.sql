-- +goose Up
-- A client's webhook endpoints (up to 10, enforced at insert). Each has its
-- own event filter (empty: every event type) and health. secret is the
-- endpoint's own signing key, sealed as webhook_secrets.secret is; NULL signs
-- with the client's keys. Deleting an endpoint keeps its row (deleted_at), so
-- its deliveries and their attempt logs stay readable.
--
-- Health is the circuit breaker: consecutive_failures counts failed attempts
-- since the last success; at WEBHOOK_BREAKER_FAILURES the endpoint is paused
-- and probe_at is when its next single probe may go (probe_step is its place
-- in the retry schedule); failing_since is the first failure of the run, and
-- WEBHOOK_DISABLE_AFTER past it the endpoint is disabled.
CREATE TABLE webhook_endpoints (
    id                   text PRIMARY KEY,
    client_id            text NOT NULL REFERENCES clients (id),
    url                  text NOT NULL,
    description          text NOT NULL DEFAULT '',
    events               text[] NOT NULL DEFAULT '{}',
    secret               text,
    status               text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'paused', 'disabled')),
    consecutive_failures integer NOT NULL DEFAULT 0,
    failing_since        timestamptz,
    probe_at             timestamptz,
    probe_step           integer NOT NULL DEFAULT 0,
    disabled_at          timestamptz,
    created_at           timestamptz NOT NULL DEFAULT now(),
    updated_at           timestamptz NOT NULL DEFAULT now(),
    deleted_at           timestamptz
);
CREATE INDEX webhook_endpoints_client ON webhook_endpoints (client_id, created_at, id) WHERE deleted_at IS NULL;

-- A delivery is one event for one target: target is 'default' for the
-- report's webhook_url (or the client's default URL), or the endpoint's id.
-- Existing rows all went to the default target. sequence is the event's
-- data.sequence within its report; one target gets a report's events in
-- that order. lease_until marks an attempt in flight, for the per-endpoint
-- concurrency limit: a crashed worker's lease simply runs out.
ALTER TABLE deliveries
    ADD COLUMN target      text NOT NULL DEFAULT 'default',
    ADD COLUMN endpoint_id text REFERENCES webhook_endpoints (id),
    ADD COLUMN sequence    integer NOT NULL DEFAULT 1,
    ADD COLUMN lease_until timestamptz,
    ADD CONSTRAINT deliveries_target CHECK ((target = 'default') = (endpoint_id IS NULL) AND (endpoint_id IS NULL OR target = endpoint_id));
ALTER TABLE deliveries DROP CONSTRAINT deliveries_report_id_event_type_key;
ALTER TABLE deliveries ADD CONSTRAINT deliveries_report_event_target UNIQUE (report_id, event_type, target);
-- The ordering check: the earlier events of one report to one target.
CREATE INDEX deliveries_report_target ON deliveries (report_id, target, sequence);
CREATE INDEX deliveries_endpoint ON deliveries (endpoint_id, status, created_at) WHERE endpoint_id IS NOT NULL;
CREATE INDEX deliveries_endpoint_leased ON deliveries (endpoint_id, lease_until) WHERE lease_until IS NOT NULL;

-- report.running is announced once per report, not once per attempt.
ALTER TABLE reports ADD COLUMN running_announced_at timestamptz;

-- +goose Down
ALTER TABLE reports DROP COLUMN running_announced_at;
DROP INDEX deliveries_endpoint_leased;
DROP INDEX deliveries_endpoint;
DROP INDEX deliveries_report_target;
ALTER TABLE deliveries DROP CONSTRAINT deliveries_report_event_target;
DELETE FROM delivery_attempts WHERE delivery_id IN (SELECT id FROM deliveries WHERE target <> 'default');
DELETE FROM deliveries WHERE target <> 'default';
ALTER TABLE deliveries ADD CONSTRAINT deliveries_report_id_event_type_key UNIQUE (report_id, event_type);
ALTER TABLE deliveries DROP CONSTRAINT deliveries_target,
    DROP COLUMN lease_until, DROP COLUMN sequence, DROP COLUMN endpoint_id, DROP COLUMN target;
DROP TABLE webhook_endpoints;
