-- +goose Up
-- Projections split across processes. Each projection's orders are divided
-- into partitions by projection_partition(client_id, order_id, partitions);
-- each partition has its own checkpoint and is leased by one worker at a
-- time (see readmodel/partitions.go). The rows are created by the first
-- worker that starts, with PROJECTION_PARTITIONS of them, each starting at
-- the projection's single checkpoint as this migration froze it.
CREATE TABLE projection_partitions (
    projection  text NOT NULL REFERENCES projection_checkpoints (name),
    partition   integer NOT NULL CHECK (partition >= 0),
    partitions  integer NOT NULL CHECK (partitions >= 1 AND partition < partitions),
    -- The log position this partition has read up to: every event of the
    -- partition's orders up to it is applied, held or parked. It is a global
    -- log position, not the partition's last own event, so an idle partition
    -- still moves with the log and min(position) keeps meaning "everything
    -- up to here is in the read model".
    position    bigint NOT NULL,
    owner       text,               -- the worker holding the lease; NULL: free
    token       bigint NOT NULL DEFAULT 0, -- fencing token, +1 on every new lease
    expires_at  timestamptz NOT NULL DEFAULT '-infinity',
    updated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (projection, partition)
);

-- Workers running a projection's partitions, so each knows its fair share
-- (ceil(partitions / live workers)) before it owns anything.
CREATE TABLE projection_workers (
    projection  text NOT NULL REFERENCES projection_checkpoints (name),
    owner       text NOT NULL,
    expires_at  timestamptz NOT NULL,
    PRIMARY KEY (projection, owner)
);

-- The partition of an order: md5 rather than hashtext, whose values
-- Postgres does not promise to keep across major versions; an order that
-- moved partitions could be applied out of order.
CREATE FUNCTION projection_partition(client_id text, order_id text, partitions integer)
    RETURNS integer LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
    RETURN (('x' || substr(md5(client_id || chr(31) || order_id), 1, 8))::bit(32)::bigint % partitions)::integer;

-- The single checkpoint is frozen from here on: it is the starting point of
-- every partition. A worker of an older release, which would project every
-- order under the single checkpoint beside the partitioned workers (and so
-- apply events twice), fails on its checkpoint update instead.
-- +goose StatementBegin
CREATE FUNCTION projection_checkpoints_frozen() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'projection % is partitioned (projection_partitions): upgrade this worker, its single checkpoint is frozen', OLD.name
        USING ERRCODE = 'object_not_in_prerequisite_state';
END;
$$;
-- +goose StatementEnd

CREATE TRIGGER projection_checkpoints_frozen
    BEFORE UPDATE OF position ON projection_checkpoints
    FOR EACH ROW WHEN (OLD.position IS DISTINCT FROM NEW.position)
    EXECUTE FUNCTION projection_checkpoints_frozen();

-- +goose Down
DROP TRIGGER projection_checkpoints_frozen ON projection_checkpoints;
DROP FUNCTION projection_checkpoints_frozen();
-- Back to one checkpoint: the lowest partition's, so nothing is skipped
-- (events between it and the others' are applied idempotently: the fold
-- drops sequences at or behind it).
UPDATE projection_checkpoints c SET position = p.position
FROM (SELECT projection, min(position) AS position FROM projection_partitions GROUP BY projection) p
WHERE p.projection = c.name;
DROP FUNCTION projection_partition(text, text, integer);
DROP TABLE projection_workers;
DROP TABLE projection_partitions;
