-- +goose Up
-- How far a running report's build is: written by the worker at most once a
-- second while it renders, shown by GET /v1/reports/{id} while the report
-- runs. It is a display value, not state: nothing decides on it.
ALTER TABLE reports ADD COLUMN progress jsonb;

-- +goose Down
ALTER TABLE reports DROP COLUMN progress;
