-- +goose Up
-- The order event log: append-only, one global position. Uniqueness is per
-- tenant (client). Appends are serialised by a transaction-scoped advisory
-- lock (see readmodel.Append) so positions become visible in order.
CREATE TABLE order_events (
    position    bigserial PRIMARY KEY,
    client_id   text NOT NULL REFERENCES clients (id),
    event_id    text NOT NULL,
    order_id    text NOT NULL,
    sequence    bigint NOT NULL CHECK (sequence >= 1),
    type        text NOT NULL,
    occurred_at timestamptz NOT NULL,
    data        jsonb NOT NULL,
    recorded_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (client_id, event_id),
    UNIQUE (client_id, order_id, sequence)
);

-- +goose StatementBegin
CREATE FUNCTION order_events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'order_events is append-only: % is not allowed', TG_OP;
END;
$$;
-- +goose StatementEnd

CREATE TRIGGER order_events_append_only
    BEFORE UPDATE OR DELETE ON order_events
    FOR EACH ROW EXECUTE FUNCTION order_events_append_only();

-- One checkpoint per projection: the last log position it has consumed. It is
-- updated in the same transaction as the projection's rows (exactly-once).
CREATE TABLE projection_checkpoints (
    name       text PRIMARY KEY,
    position   bigint NOT NULL DEFAULT 0,
    updated_at timestamptz NOT NULL DEFAULT now()
);
INSERT INTO projection_checkpoints (name) VALUES ('customer_order_history'), ('merchant_daily_sales');

-- Events consumed from the log but not yet applied because an earlier
-- sequence of their order is missing. The event itself stays in the log.
CREATE TABLE projection_held (
    projection text NOT NULL,
    client_id  text NOT NULL,
    order_id   text NOT NULL,
    sequence   bigint NOT NULL,
    position   bigint NOT NULL,
    PRIMARY KEY (projection, client_id, order_id, sequence)
);

-- customer_order_history: one row per order, the fold of its events in
-- sequence order. last_sequence is the last applied sequence.
CREATE TABLE customer_order_history (
    client_id       text NOT NULL,
    order_id        text NOT NULL,
    last_sequence   bigint NOT NULL,
    customer_id     text NOT NULL DEFAULT '',
    merchant_id     text NOT NULL DEFAULT '',
    status          text NOT NULL,
    placed_at       timestamptz,
    paid_at         timestamptz,
    shipped_at      timestamptz,
    cancelled_at    timestamptz,
    item_count      integer NOT NULL DEFAULT 0,
    currency        text NOT NULL DEFAULT '',
    total_cents     bigint NOT NULL DEFAULT 0,
    refunded_cents  bigint NOT NULL DEFAULT 0,
    carrier         text NOT NULL DEFAULT '',
    tracking_number text NOT NULL DEFAULT '',
    PRIMARY KEY (client_id, order_id)
);
CREATE INDEX customer_order_history_customer
    ON customer_order_history (client_id, customer_id, placed_at, order_id);

-- merchant_daily_sales keeps its own per-order fold so that it is an
-- independent consumer of the log (own checkpoint, own rebuild).
CREATE TABLE merchant_sales_orders (LIKE customer_order_history INCLUDING DEFAULTS INCLUDING CONSTRAINTS);
ALTER TABLE merchant_sales_orders ADD PRIMARY KEY (client_id, order_id);

-- merchant_daily_sales: per client, merchant, day of placed_at (UTC) and
-- currency. orders counts orders placed that day (cancelled ones included);
-- cancellations counts those of them now cancelled; gross_cents sums
-- total_cents of those not cancelled; refunds_cents sums refunds of those not
-- cancelled; net_cents = gross_cents - refunds_cents. A cancelled order thus
-- leaves the money columns entirely and is never counted twice.
CREATE TABLE merchant_daily_sales (
    client_id     text NOT NULL,
    merchant_id   text NOT NULL,
    day           date NOT NULL,
    currency      text NOT NULL,
    orders        integer NOT NULL,
    cancellations integer NOT NULL,
    gross_cents   bigint NOT NULL,
    refunds_cents bigint NOT NULL,
    net_cents     bigint NOT NULL,
    PRIMARY KEY (client_id, merchant_id, day, currency)
);

-- +goose Down
DROP TABLE merchant_daily_sales;
DROP TABLE merchant_sales_orders;
DROP TABLE customer_order_history;
DROP TABLE projection_held;
DROP TABLE projection_checkpoints;
DROP TABLE order_events;
DROP FUNCTION order_events_append_only();
