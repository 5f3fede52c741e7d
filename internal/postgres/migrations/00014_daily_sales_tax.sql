-- +goose Up
-- merchant_daily_sales sums the tax in its gross: per day and currency, the
-- tax_cents of the orders that are not cancelled (report.OrderAmounts), in
-- numeric like the other sums.
--
-- The projection's own per-order fold, merchant_sales_orders, has held each
-- order's tax_cents since 00012, and it is written in the same transaction
-- as the day rows, so the sums are backfilled from it here: no rebuild is
-- needed. The same is done for the versions of the projection kept beside
-- the live one (a rebuild or verify being built, a retired version kept for
-- rollback), whose tables were created LIKE the live ones before this column
-- existed: a pass over them, or a rollback to them, then finds the column.
--
-- merchant_sales_orders is locked first, as a projector pass locks it before
-- the day rows, so the backfill reads a fold no pass is changing and the two
-- cannot deadlock. A worker of an older release still running after this
-- migration adds no tax to the days it changes; `reportctl projections
-- verify merchant_daily_sales` shows that as drift and `rebuild` clears it.
-- +goose StatementBegin
DO $$
DECLARE
    s text;
BEGIN
    FOR s IN
        SELECT 'public'
        UNION
        SELECT schema_name FROM projection_versions
        WHERE name = 'merchant_daily_sales' AND state IN ('building', 'retired')
    LOOP
        IF to_regclass(format('%I.merchant_daily_sales', s)) IS NULL
           OR to_regclass(format('%I.merchant_sales_orders', s)) IS NULL THEN
            CONTINUE;
        END IF;
        EXECUTE format('LOCK TABLE %I.merchant_sales_orders IN SHARE MODE', s);
        EXECUTE format('ALTER TABLE %I.merchant_daily_sales ADD COLUMN tax_cents numeric NOT NULL DEFAULT 0', s);
        -- The day of an order is the UTC day of placed_at, as the projector
        -- buckets it (readmodel's orderState.contribution).
        EXECUTE format($q$
            UPDATE %1$I.merchant_daily_sales m SET tax_cents = t.tax
            FROM (SELECT client_id, merchant_id, (placed_at AT TIME ZONE 'UTC')::date AS day, currency,
                         sum(tax_cents) AS tax
                  FROM %1$I.merchant_sales_orders
                  WHERE placed_at IS NOT NULL AND merchant_id <> '' AND cancelled_at IS NULL AND tax_cents <> 0
                  GROUP BY 1, 2, 3, 4) t
            WHERE m.client_id = t.client_id AND m.merchant_id = t.merchant_id
              AND m.day = t.day AND m.currency = t.currency$q$, s);
    END LOOP;
END;
$$;
-- +goose StatementEnd

-- +goose Down
-- +goose StatementBegin
DO $$
DECLARE
    s text;
BEGIN
    FOR s IN
        SELECT 'public'
        UNION
        SELECT schema_name FROM projection_versions
        WHERE name = 'merchant_daily_sales' AND state IN ('building', 'retired')
    LOOP
        IF to_regclass(format('%I.merchant_daily_sales', s)) IS NOT NULL THEN
            EXECUTE format('ALTER TABLE %I.merchant_daily_sales DROP COLUMN IF EXISTS tax_cents', s);
        END IF;
    END LOOP;
END;
$$;
-- +goose StatementEnd
