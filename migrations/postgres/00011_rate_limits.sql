-- +goose Up
-- The pace of limited actions, shared by every instance on this database.
-- One row per limit (file.person) and key: the key is an HMAC of the
-- person's object id or the client address, never the plain value. tat is
-- the generic cell rate algorithm's theoretical arrival time in Unix
-- nanoseconds; a row whose tat has passed is a full bucket, as no row is,
-- and the sweep deletes it. admitted is what the last check decided, for
-- RETURNING to read back in the same statement.
--
-- UNLOGGED: a check writes no WAL. After a crash or on a promoted standby
-- the table starts empty, which only gives everyone their full limits
-- back once. No index on tat: updates then stay heap-only (HOT) and the
-- sweep scans a small table once a minute; fillfactor leaves room on each
-- page for those updates.
CREATE UNLOGGED TABLE rate_limits (
    limit_name TEXT    NOT NULL,
    key_hash   BYTEA   NOT NULL,
    tat        BIGINT  NOT NULL,
    admitted   BOOLEAN NOT NULL,
    PRIMARY KEY (limit_name, key_hash)
) WITH (fillfactor = 70);

-- +goose Down
DROP TABLE rate_limits;
