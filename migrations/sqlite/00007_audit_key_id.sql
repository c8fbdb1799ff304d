-- +goose Up
-- Each audit event names the key that signed it, so the audit key can be
-- rotated: key_id is derived from the key (never the key itself), and the
-- event's mac covers it ("tapdesk-audit-v3"), so it cannot be switched
-- unnoticed. Events written before have no key id (''): they keep their v2
-- mac and verify with whichever configured key signed them.
ALTER TABLE audit_events ADD COLUMN key_id TEXT NOT NULL DEFAULT '';

-- +goose Down
-- Events signed with a key id no longer verify once it is gone.
ALTER TABLE audit_events DROP COLUMN key_id;
