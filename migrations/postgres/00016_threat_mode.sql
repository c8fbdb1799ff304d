-- +goose Up
-- Heightened-threat mode (issue 13), one row shared by every instance:
-- whether it is on, when it was last switched, by whom and why (the audit
-- trail keeps each switch too). TAPDESK_THREAT_MODE forcing it on is a
-- setting, not a row: it writes the row on at start.
CREATE TABLE threat_mode (
    id              INTEGER PRIMARY KEY CHECK (id = 1),
    switched_on     BOOLEAN NOT NULL DEFAULT FALSE,
    changed_at      TEXT,
    changed_by_oid  TEXT NOT NULL DEFAULT '',
    changed_by_name TEXT NOT NULL DEFAULT '',
    reason          TEXT NOT NULL DEFAULT ''
);
INSERT INTO threat_mode (id) VALUES (1);

-- +goose Down
DROP TABLE threat_mode;
