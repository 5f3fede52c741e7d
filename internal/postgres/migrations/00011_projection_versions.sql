-- +goose Up
-- Versions of each projection (blue/green rebuilds, see readmodel's
-- versions.go). A rebuild or a verify builds a new version in its own schema
-- (schema_name, tables created LIKE the live ones) beside the live one and
-- catches it up in short transactions; a rebuild then swaps it in, moving the
-- old version's tables into a schema of their own, kept for rollback until
-- the next rebuild of that projection drops it.
--   building: being built in schema_name (a killed build resumes from there)
--   live:     its tables are the ones in public
--   retired:  the version a swap replaced, kept in schema_name
--   dropped:  its tables are gone (a verify's shadow, or a retired version
--             the next rebuild dropped)
-- position is the log position the version was at when it went live, was
-- retired, or was compared with the live one.
CREATE TABLE projection_versions (
    name        text NOT NULL,
    version     integer NOT NULL CHECK (version >= 1),
    state       text NOT NULL CHECK (state IN ('building', 'live', 'retired', 'dropped')),
    purpose     text NOT NULL CHECK (purpose IN ('initial', 'rebuild', 'verify')),
    schema_name text NOT NULL,
    position    bigint NOT NULL DEFAULT 0,
    started_at  timestamptz NOT NULL DEFAULT now(),
    swapped_at  timestamptz,
    retired_at  timestamptz,
    PRIMARY KEY (name, version)
);
CREATE UNIQUE INDEX projection_versions_one_live ON projection_versions (name) WHERE state = 'live';
CREATE UNIQUE INDEX projection_versions_one_building ON projection_versions (name) WHERE state = 'building';
INSERT INTO projection_versions (name, version, state, purpose, schema_name, swapped_at)
VALUES ('customer_order_history', 1, 'live', 'initial', 'public', now()),
       ('merchant_daily_sales', 1, 'live', 'initial', 'public', now());

-- The last `reportctl projections verify` of each projection: how many rows
-- differed between the live version and a fresh fold of the log at position.
-- The worker exports it as reportd_projection_drift_rows, so a scheduled
-- verify can alert.
CREATE TABLE projection_drift (
    name       text PRIMARY KEY,
    checked_at timestamptz NOT NULL,
    position   bigint NOT NULL,
    drift_rows bigint NOT NULL CHECK (drift_rows >= 0)
);

-- +goose Down
DROP TABLE projection_drift;
DROP TABLE projection_versions;
