-- +goose Up
-- When a pending request's approvers were reminded (half its decision window
-- gone without a decision); NULL until then. Escalation happens once.
ALTER TABLE requests ADD COLUMN escalated_at TEXT;

-- +goose Down
ALTER TABLE requests DROP COLUMN escalated_at;
