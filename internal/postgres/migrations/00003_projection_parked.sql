-- +goose Up
-- An event that cannot be applied to its order (a payload that does not
-- decode, amounts that break the money rules, a value the tables cannot hold)
-- is parked here instead of stopping the projection. It holds back only its
-- own order: the order's later events wait in projection_held behind it, as
-- behind a gap. The event itself stays in the log; `reportctl events retry`
-- moves it back to projection_held and applies it again.
CREATE TABLE projection_parked (
    projection text NOT NULL,
    client_id  text NOT NULL,
    order_id   text NOT NULL,
    sequence   bigint NOT NULL,
    position   bigint NOT NULL,
    error      text NOT NULL,
    parked_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (projection, client_id, order_id, sequence)
);

-- Sums of many orders do not fit bigint (two orders of 2^63-1 cents already
-- overflow, which stopped the projection for every tenant): the sums are
-- numeric, which cannot overflow; readers check that what they read fits
-- their int64. Counts get bigint for the same reason. This rewrites the
-- table, which holds one row per merchant, day and currency.
ALTER TABLE merchant_daily_sales
    ALTER COLUMN orders TYPE bigint,
    ALTER COLUMN cancellations TYPE bigint,
    ALTER COLUMN gross_cents TYPE numeric,
    ALTER COLUMN refunds_cents TYPE numeric,
    ALTER COLUMN net_cents TYPE numeric;

-- +goose Down
ALTER TABLE merchant_daily_sales
    ALTER COLUMN orders TYPE integer,
    ALTER COLUMN cancellations TYPE integer,
    ALTER COLUMN gross_cents TYPE bigint,
    ALTER COLUMN refunds_cents TYPE bigint,
    ALTER COLUMN net_cents TYPE bigint;
DROP TABLE projection_parked;
