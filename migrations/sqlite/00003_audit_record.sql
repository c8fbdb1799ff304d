-- +goose Up
-- An audit event becomes one record: a JSON array of its fields as strings
-- (time, activity, category, result, reason, actor tid, oid, upn, name, ip,
-- user agent, target id, upn, request id, correlation id, TAP method id,
-- details), which is exactly what the hash chain's mac covers. The columns
-- that filters and indexes use are generated from the record, so they can
-- never disagree with what was signed. Events chained under the earlier
-- layout (mac over separate columns) keep their mac but no longer verify.
CREATE TABLE audit_events_record (
    seq            INTEGER PRIMARY KEY,
    record         TEXT NOT NULL,
    mac            TEXT NOT NULL,
    time           TEXT GENERATED ALWAYS AS (json_extract(record, '$[0]')) VIRTUAL,
    activity       TEXT GENERATED ALWAYS AS (json_extract(record, '$[1]')) VIRTUAL,
    result         TEXT GENERATED ALWAYS AS (json_extract(record, '$[3]')) VIRTUAL,
    actor_oid      TEXT GENERATED ALWAYS AS (json_extract(record, '$[6]')) VIRTUAL,
    actor_upn      TEXT GENERATED ALWAYS AS (json_extract(record, '$[7]')) VIRTUAL,
    target_id      TEXT GENERATED ALWAYS AS (json_extract(record, '$[11]')) VIRTUAL,
    target_upn     TEXT GENERATED ALWAYS AS (json_extract(record, '$[12]')) VIRTUAL,
    request_id     TEXT GENERATED ALWAYS AS (json_extract(record, '$[13]')) VIRTUAL
);
INSERT INTO audit_events_record (seq, record, mac)
SELECT seq, json_array(time, activity, category, result, reason, actor_tid, actor_oid, actor_upn,
                       actor_name, actor_ip, actor_agent, target_id, target_upn, request_id,
                       correlation_id, tap_method_id, details), mac
FROM audit_events ORDER BY seq;
DROP TABLE audit_events;
ALTER TABLE audit_events_record RENAME TO audit_events;
CREATE INDEX audit_events_time ON audit_events (time);
CREATE INDEX audit_events_request ON audit_events (request_id);
CREATE INDEX audit_events_activity ON audit_events (activity, seq);

-- +goose Down
CREATE TABLE audit_events_columns (
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
INSERT INTO audit_events_columns
SELECT seq, record->>0, record->>1, record->>2, record->>3, record->>4, record->>5, record->>6,
       record->>7, record->>8, record->>9, record->>10, record->>11, record->>12, record->>13,
       record->>14, record->>15, record->>16, mac
FROM audit_events ORDER BY seq;
DROP TABLE audit_events;
ALTER TABLE audit_events_columns RENAME TO audit_events;
CREATE INDEX audit_events_time ON audit_events (time);
CREATE INDEX audit_events_request ON audit_events (request_id);
