-- +goose Up
-- When Graph says it created the issued pass, by its own clock (closing the
-- loop compares registered methods with it); NULL for passes issued before.
ALTER TABLE requests ADD COLUMN tap_created_at TEXT;
-- The sweep looks for claims older than their lease, and asks whether a
-- pass found in Entra is one tapdesk recorded.
CREATE INDEX requests_issue_claimed ON requests (issue_claimed_at) WHERE issue_claimed_at IS NOT NULL;
CREATE INDEX requests_tap_method ON requests (tap_method_id) WHERE tap_method_id <> '';

-- +goose Down
DROP INDEX requests_tap_method;
DROP INDEX requests_issue_claimed;
ALTER TABLE requests DROP COLUMN tap_created_at;
