-- +goose Up
-- Audit records gained an 18th field, the id of the web request that wrote
-- the event. An older tapdesk reads records as exactly 17 fields, so this
-- version number is what stops one from opening the database after a
-- rollback (it refuses a newer schema) instead of reporting every new event
-- as tampered with. The column is generated from the signed record like the
-- others (NULL for events written before, which have no 18th field).
-- VIRTUAL: it costs no space and no rewrite of the table. No index: no
-- filter selects by it.
ALTER TABLE audit_events ADD COLUMN http_request_id TEXT GENERATED ALWAYS AS (json_extract(record, '$[17]')) VIRTUAL;

-- +goose Down
-- The older tapdesk cannot verify 18-field records: restore a backup taken
-- before the upgrade rather than migrating down over them.
ALTER TABLE audit_events DROP COLUMN http_request_id;
