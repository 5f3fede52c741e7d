-- +goose Up
-- Each event records the schema version of its data (see
-- orderevents.Decode). Every event logged before this column existed is
-- version 1, which the constant default says without rewriting a row: the
-- log stays append-only and readers upcast old versions when they read.
-- The check is NOT VALID so that adding it does not scan the whole log under
-- an exclusive lock: every old row holds the default, and new rows are checked.
ALTER TABLE order_events ADD COLUMN schema_version integer NOT NULL DEFAULT 1;
ALTER TABLE order_events ADD CONSTRAINT order_events_schema_version_positive
    CHECK (schema_version >= 1) NOT VALID;

-- The tax an order's lines carry (OrderPlaced version 2), part of its
-- total_cents. Orders folded from version 1 events stated no tax: 0.
ALTER TABLE customer_order_history ADD COLUMN tax_cents bigint NOT NULL DEFAULT 0;
ALTER TABLE merchant_sales_orders ADD COLUMN tax_cents bigint NOT NULL DEFAULT 0;

-- +goose Down
ALTER TABLE merchant_sales_orders DROP COLUMN tax_cents;
ALTER TABLE customer_order_history DROP COLUMN tax_cents;
ALTER TABLE order_events DROP COLUMN schema_version;
