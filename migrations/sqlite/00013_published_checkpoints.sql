-- +goose Up
-- Signed checkpoints of the audit trail's head (evidence package), one row
-- per publishing slot: an interval's start ("2026-11-29T05:00:00Z"), or a
-- shutdown or an evidence pack that needed one at once. Several instances
-- on one database race to insert an interval's row; the one whose insert
-- lands publishes, the others see the row and do nothing. seq, mac and
-- line stay NULL while the claimer verifies and signs; a claim left
-- unsigned past its lease (the claimer crashed) may be taken over.
CREATE TABLE published_checkpoints (
    slot       TEXT PRIMARY KEY,
    claimed_at TEXT NOT NULL,
    seq        INTEGER,
    mac        TEXT,
    line       TEXT
);
CREATE INDEX published_checkpoints_seq ON published_checkpoints (seq) WHERE seq IS NOT NULL;

-- +goose Down
DROP TABLE published_checkpoints;
