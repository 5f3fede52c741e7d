-- +goose Up
-- A report may ask for the data as it stood at a time (as_of): it is folded
-- from the event log, not read from the projections.
ALTER TABLE reports ADD COLUMN as_of timestamptz;

-- An as_of report finds its subject's orders by their OrderPlaced events.
CREATE INDEX order_events_placed_customer
    ON order_events (client_id, (data->>'customer_id'), occurred_at) WHERE type = 'OrderPlaced';
CREATE INDEX order_events_placed_merchant
    ON order_events (client_id, (data->>'merchant_id'), occurred_at) WHERE type = 'OrderPlaced';

-- +goose Down
DROP INDEX order_events_placed_merchant;
DROP INDEX order_events_placed_customer;
ALTER TABLE reports DROP COLUMN as_of;
