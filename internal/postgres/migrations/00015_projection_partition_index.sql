-- +goose NO TRANSACTION
-- +goose Up
-- Each projection partition reads only its own orders' events: this index
-- holds them by (partition, position) for the default 8 partitions
-- (PROJECTION_PARTITIONS), so a pass over partition i after checkpoint c is
-- one range scan instead of a scan, and an md5, of every event after c.
-- The planner uses an expression index only when the query names the same
-- expression, so the projector writes the partition count into its queries
-- as a literal (readmodel/partindex.go). Another count gets its own index,
-- which the worker (at start-up) and reportctl projections rebuild (before
-- the swap that re-partitions) create the same way; until it exists passes
-- are correct, only slower. CONCURRENTLY, so appends go on while a big log
-- is indexed.
CREATE INDEX CONCURRENTLY IF NOT EXISTS order_events_partition_8_idx
    ON order_events (projection_partition(client_id, order_id, 8), position);

-- +goose Down
-- Every partition index (the worker may have made some for other counts):
-- they depend on projection_partition, which 00010's down drops.
-- +goose StatementBegin
DO $$
DECLARE i regclass;
BEGIN
    FOR i IN SELECT c.oid::regclass FROM pg_class c
             WHERE c.relkind = 'i' AND c.relnamespace = 'public'::regnamespace
               AND c.relname ~ '^order_events_partition_[0-9]+_idx$'
    LOOP
        EXECUTE 'DROP INDEX ' || i;
    END LOOP;
END;
$$;
-- +goose StatementEnd
