-- +goose Up
-- Alerts the security team is sent (tapdesk.EvaluateAlerts over the audit
-- trail). dedupe_key is one per rule and subject and window (or per
-- event): however many instances evaluate the trail, an alert is raised
-- once. mail says how it was mailed (tapdesk.AlertMail*).
CREATE TABLE alerts (
    id          INTEGER PRIMARY KEY,
    rule        TEXT    NOT NULL,
    dedupe_key  TEXT    NOT NULL UNIQUE,
    subject     TEXT    NOT NULL,
    summary     TEXT    NOT NULL,
    event_seq   INTEGER NOT NULL,
    event_time  TEXT    NOT NULL,
    request_id  TEXT    NOT NULL DEFAULT '',
    evidence    TEXT    NOT NULL,
    mail        TEXT    NOT NULL,
    raised_at   TEXT    NOT NULL
);
-- Which alert an outbox row mails (the outbox names requests only).
CREATE TABLE alert_mail (
    outbox_id INTEGER PRIMARY KEY REFERENCES outbox (id) ON DELETE CASCADE,
    alert_id  INTEGER NOT NULL REFERENCES alerts (id)
);
-- The last audit event evaluated. An installation upgraded with a trail
-- starts at its head, so its history raises no flood of old alerts; a new
-- one has no row and starts at the beginning. last_mac is the mac of the
-- event at last_seq: if the trail no longer holds it (its tail was cut and
-- new events reuse the seqs), the job raises audit_failure and starts again
-- at the head (alerts.Job).
CREATE TABLE alert_cursor (
    id       INTEGER PRIMARY KEY CHECK (id = 1),
    last_seq INTEGER NOT NULL,
    last_mac TEXT    NOT NULL DEFAULT ''
);
INSERT INTO alert_cursor (id, last_seq, last_mac)
    SELECT 1, seq, mac FROM audit_events ORDER BY seq DESC LIMIT 1;

-- +goose Down
DROP TABLE alert_cursor;
DROP TABLE alert_mail;
DROP TABLE alerts;
