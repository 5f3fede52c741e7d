-- +goose Up
-- A report may ask for the data as it stood at a time (as_of): it is folded
-- from the event log, not read from the projections.
ALTER TABLE reports ADD COLUMN as_of timestamptz;

-- An as_of report finds its subject's orders by their OrderPlaced events.
-- The ids are indexed by their md5: the log may hold events from before the
-- edge bounded ids, and an index entry too large would refuse the append.
CREATE INDEX order_events_placed_customer
    ON order_events (client_id, md5(data->>'customer_id'), occurred_at) WHERE type = 'OrderPlaced';
CREATE INDEX order_events_placed_merchant
    ON order_events (client_id, md5(data->>'merchant_id'), occurred_at) WHERE type = 'OrderPlaced';

-- +goose Down
DROP INDEX order_events_placed_merchant;
DROP INDEX order_events_placed_customer;
ALTER TABLE reports DROP COLUMN as_of;
