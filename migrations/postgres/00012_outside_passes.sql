-- +goose Up
-- Passes made outside tapdesk (issue 13). The job reads Entra's directory
-- audit log for pass registrations from a little before its cursor, and
-- examines each entry once: directory_audits_examined remembers the entries
-- examined (and which issue of tapdesk's explained one, so an issue
-- explains one pass only); outside_passes keeps those no issue explained.
-- The cursor is one row: the time the last complete read started.
CREATE TABLE outside_pass_cursor (
    id        INTEGER PRIMARY KEY CHECK (id = 1),
    read_from TEXT    NOT NULL
);

CREATE TABLE directory_audits_examined (
    audit_id    TEXT    PRIMARY KEY,
    activity_at TEXT    NOT NULL,
    issue_seq   BIGINT,
    examined_at TEXT    NOT NULL
);
CREATE INDEX directory_audits_examined_at ON directory_audits_examined (activity_at);
CREATE UNIQUE INDEX directory_audits_examined_issue ON directory_audits_examined (issue_seq) WHERE issue_seq IS NOT NULL;

CREATE TABLE outside_passes (
    audit_id        TEXT    PRIMARY KEY,
    created_at      TEXT    NOT NULL,
    target_id       TEXT    NOT NULL,
    target_upn      TEXT    NOT NULL,
    target_name     TEXT    NOT NULL,
    by_app          BOOLEAN NOT NULL,
    by_id           TEXT    NOT NULL,
    by_upn          TEXT    NOT NULL,
    by_name         TEXT    NOT NULL,
    by_ip           TEXT    NOT NULL,
    via_tapdesk_app BOOLEAN NOT NULL,
    method_id       TEXT    NOT NULL DEFAULT '',
    found_at        TEXT    NOT NULL,
    deleted_at      TEXT,
    gone            BOOLEAN NOT NULL DEFAULT FALSE
);
CREATE INDEX outside_passes_created ON outside_passes (created_at);

-- +goose Down
DROP TABLE outside_passes;
DROP TABLE directory_audits_examined;
DROP TABLE outside_pass_cursor;
