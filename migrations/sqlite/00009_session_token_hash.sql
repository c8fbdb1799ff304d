-- +goose Up
-- Sessions are now stored under a hash of their token, with data bound to
-- the token. Rows stored under plain tokens would never be found again and
-- their tokens must not stay on disk: delete them (people sign in again).
DELETE FROM sessions;

-- +goose Down
-- The older tapdesk cannot read rows keyed by token hashes: same again.
DELETE FROM sessions;
