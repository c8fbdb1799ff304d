-- +goose Up
-- Signed checkpoints of the audit trail's head (see the SQLite migration).
CREATE TABLE published_checkpoints (
    slot       TEXT PRIMARY KEY,
    claimed_at TEXT NOT NULL,
    seq        BIGINT,
    mac        TEXT,
    line       TEXT
);
CREATE INDEX published_checkpoints_seq ON published_checkpoints (seq) WHERE seq IS NOT NULL;

-- +goose Down
DROP TABLE published_checkpoints;
