-- +goose Up
-- The pace of limited actions, kept in the database so that several
-- instances count together (on PostgreSQL; on SQLite, one instance, the
-- limits are kept in memory and this table stays empty). One row per limit
-- (file.person) and key: the key is an HMAC of the person's object id or
-- the client address, never the plain value. tat is the generic cell rate
-- algorithm's theoretical arrival time in Unix nanoseconds; a row whose tat
-- has passed is a full bucket, as no row is, and the sweep deletes it.
-- admitted is what the last check decided, for it to read back in the same
-- statement. No index on tat: the sweep scans a small table once a minute,
-- while every check would pay to keep an index current.
CREATE TABLE rate_limits (
    limit_name TEXT    NOT NULL,
    key_hash   BLOB    NOT NULL,
    tat        INTEGER NOT NULL,
    admitted   INTEGER NOT NULL,
    PRIMARY KEY (limit_name, key_hash)
) WITHOUT ROWID;

-- +goose Down
DROP TABLE rate_limits;
