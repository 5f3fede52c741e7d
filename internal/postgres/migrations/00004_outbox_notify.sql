-- +goose Up
-- New reports wake the dispatchers: the NOTIFY is sent in the inserting
-- transaction and delivered on its commit, so a dispatcher that wakes finds
-- the rows. One per statement: the API batches inserts (see insertBatcher),
-- and one wake-up serves a whole batch. A statement that inserted nothing
-- (a client over its quota) wakes them for nothing, which costs one empty
-- claim.
-- +goose StatementBegin
CREATE FUNCTION reports_outbox_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('reports_outbox', '');
    RETURN NULL;
END
$$;
-- +goose StatementEnd

CREATE TRIGGER reports_outbox_notify AFTER INSERT ON reports
    FOR EACH STATEMENT EXECUTE FUNCTION reports_outbox_notify();

-- +goose Down
DROP TRIGGER reports_outbox_notify ON reports;
DROP FUNCTION reports_outbox_notify();
