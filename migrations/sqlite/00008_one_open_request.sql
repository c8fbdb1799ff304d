-- +goose Up
-- At most one open (pending or approved) request per target. The store
-- checks in the filing transaction and says which request is open; this
-- index is the backstop that holds whatever the code does.
--
-- Databases from before this rule may hold several open requests for one
-- target. Those are left as they are (they still expire or get decided),
-- marked in legacy_open_duplicate so the index admits them; every request
-- filed from now on has '' there, so a second open one is refused.
ALTER TABLE requests ADD COLUMN legacy_open_duplicate TEXT NOT NULL DEFAULT '';
UPDATE requests SET legacy_open_duplicate = id
WHERE state IN ('pending', 'approved') AND EXISTS (
    SELECT 1 FROM requests older
    WHERE older.target_id = requests.target_id
      AND older.state IN ('pending', 'approved')
      AND (older.created_at < requests.created_at
           OR (older.created_at = requests.created_at AND older.id < requests.id)));
CREATE UNIQUE INDEX requests_one_open_per_target
    ON requests (target_id, legacy_open_duplicate)
    WHERE state IN ('pending', 'approved');

-- +goose Down
DROP INDEX requests_one_open_per_target;
ALTER TABLE requests DROP COLUMN legacy_open_duplicate;
