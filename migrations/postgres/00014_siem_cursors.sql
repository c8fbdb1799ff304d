-- +goose Up
-- Where each SIEM sink has got to in the audit trail. The trail is already
-- an ordered, durable log (seq commits in order: writes take turns on the
-- advisory lock), so a sink needs no queue of its own: delivered_seq is the
-- last event the receiver acknowledged, and delivery resumes after it. It
-- only moves forward, after an acknowledgement (at least once; receivers
-- drop duplicates by seq). The lease (holder, lease_until) lets one
-- instance at a time deliver to a sink; it is taken with a conditional
-- update, so two instances never both hold it.
-- delivered_mac is the mac of the event at delivered_seq: if the trail no
-- longer holds that event with that mac (someone cut its tail, and new
-- events reuse the seqs), the cursor sits above the trail and the stream
-- says so and resumes from the head (siem.Streamer).
CREATE TABLE siem_cursors (
    sink          TEXT   NOT NULL PRIMARY KEY,
    delivered_seq BIGINT NOT NULL DEFAULT 0,
    delivered_mac TEXT   NOT NULL DEFAULT '',
    delivered_at  TEXT,
    holder        TEXT   NOT NULL DEFAULT '',
    lease_until   TEXT
);

-- +goose Down
DROP TABLE siem_cursors;
