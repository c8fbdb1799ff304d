-- +goose Up
-- Nothing to do on SQLite: seq is the rowid, which every index ends with,
-- so audit_events_request already orders a request's events by seq
-- (PostgreSQL's migration 18 adds seq to its index).
SELECT 1;

-- +goose Down
SELECT 1;
