-- +goose Up
-- Timestamps are TEXT in the fixed-width UTC form 2006-01-02T15:04:05.000000Z
-- so they sort as strings and read well in exports.

CREATE TABLE requests (
    id                  TEXT PRIMARY KEY,
    correlation_id      TEXT NOT NULL,
    state               TEXT NOT NULL,
    requester_tid       TEXT NOT NULL,
    requester_oid       TEXT NOT NULL,
    requester_upn       TEXT NOT NULL,
    requester_name      TEXT NOT NULL,
    target_id           TEXT NOT NULL,
    target_upn          TEXT NOT NULL,
    target_name         TEXT NOT NULL,
    ticket_ref          TEXT NOT NULL,
    justification       TEXT NOT NULL,
    verification_method TEXT NOT NULL,
    verification_note   TEXT NOT NULL,
    lifetime_minutes    INTEGER NOT NULL,
    usable_once         BOOLEAN NOT NULL,
    start_at            TEXT,
    approvals_required  INTEGER NOT NULL,
    created_at          TEXT NOT NULL,
    updated_at          TEXT NOT NULL,
    expires_at          TEXT NOT NULL,
    issue_claimed_at    TEXT,
    tap_method_id       TEXT NOT NULL DEFAULT '',
    tap_start_at        TEXT,
    tap_expires_at      TEXT,
    issued_at           TEXT,
    revealed_at         TEXT,
    failure_reason      TEXT NOT NULL DEFAULT '',
    decision_note       TEXT NOT NULL DEFAULT ''
);
CREATE INDEX requests_state_expires ON requests (state, expires_at);
CREATE INDEX requests_requester ON requests (requester_oid, created_at);
CREATE INDEX requests_created ON requests (created_at);

CREATE TABLE approvals (
    request_id    TEXT NOT NULL REFERENCES requests (id),
    approver_tid  TEXT NOT NULL,
    approver_oid  TEXT NOT NULL,
    approver_upn  TEXT NOT NULL,
    approver_name TEXT NOT NULL,
    decision      TEXT NOT NULL,
    reason        TEXT NOT NULL,
    created_at    TEXT NOT NULL,
    PRIMARY KEY (request_id, approver_tid, approver_oid)
);

-- Approval email links: only the SHA-256 of the token is kept.
CREATE TABLE approval_links (
    token_hash  TEXT PRIMARY KEY,
    request_id  TEXT NOT NULL REFERENCES requests (id),
    recipient   TEXT NOT NULL,
    created_at  TEXT NOT NULL,
    expires_at  TEXT NOT NULL,
    used_at     TEXT,
    used_by_oid TEXT NOT NULL DEFAULT ''
);
CREATE INDEX approval_links_request ON approval_links (request_id);

-- Mail to send. The body is composed at send time (links are minted then),
-- so nothing secret waits here.
CREATE TABLE outbox (
    id              INTEGER PRIMARY KEY,
    kind            TEXT NOT NULL,
    request_id      TEXT NOT NULL,
    recipient       TEXT NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TEXT NOT NULL,
    lease_until     TEXT,
    created_at      TEXT NOT NULL,
    sent_at         TEXT,
    gave_up_at      TEXT,
    last_error      TEXT NOT NULL DEFAULT ''
);
CREATE INDEX outbox_due ON outbox (sent_at, gave_up_at, next_attempt_at);

CREATE TABLE audit_events (
    seq            INTEGER PRIMARY KEY,
    time           TEXT NOT NULL,
    activity       TEXT NOT NULL,
    category       TEXT NOT NULL,
    result         TEXT NOT NULL,
    reason         TEXT NOT NULL DEFAULT '',
    actor_tid      TEXT NOT NULL DEFAULT '',
    actor_oid      TEXT NOT NULL DEFAULT '',
    actor_upn      TEXT NOT NULL DEFAULT '',
    actor_name     TEXT NOT NULL DEFAULT '',
    actor_ip       TEXT NOT NULL DEFAULT '',
    actor_agent    TEXT NOT NULL DEFAULT '',
    target_id      TEXT NOT NULL DEFAULT '',
    target_upn     TEXT NOT NULL DEFAULT '',
    request_id     TEXT NOT NULL DEFAULT '',
    correlation_id TEXT NOT NULL DEFAULT '',
    tap_method_id  TEXT NOT NULL DEFAULT '',
    details        TEXT NOT NULL DEFAULT '{}',
    mac            TEXT NOT NULL DEFAULT ''
);
CREATE INDEX audit_events_time ON audit_events (time);
CREATE INDEX audit_events_request ON audit_events (request_id);

-- Server-side sessions (alexedwards/scs store layout).
CREATE TABLE sessions (
    token  TEXT PRIMARY KEY,
    data   BLOB NOT NULL,
    expiry REAL NOT NULL
);
CREATE INDEX sessions_expiry_idx ON sessions (expiry);

-- +goose Down
DROP TABLE sessions;
DROP TABLE audit_events;
DROP TABLE outbox;
DROP TABLE approval_links;
DROP TABLE approvals;
DROP TABLE requests;
