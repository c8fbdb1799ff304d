-- +goose Up
-- Where each SIEM sink has got to in the audit trail. The trail is already
-- an ordered, durable log (seq commits in order: writes take turns on the
-- advisory lock), so a sink needs no queue of its own: delivered_seq is the
-- last event the receiver acknowledged, and delivery resumes after it. It
-- only moves forward, after an acknowledgement (at least once; receivers
-- drop duplicates by seq). The lease (holder, lease_until) lets one
-- instance at a time deliver to a sink; it is taken with a conditional
-- update, so two instances never both hold it.
CREATE TABLE siem_cursors (
    sink          TEXT   NOT NULL PRIMARY KEY,
    delivered_seq BIGINT NOT NULL DEFAULT 0,
    delivered_at  TEXT,
    holder        TEXT   NOT NULL DEFAULT '',
    lease_until   TEXT
);

-- +goose Down
DROP TABLE siem_cursors;
