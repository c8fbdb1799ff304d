-- +goose Up
-- "This wasn't me" links mailed to the target of a request and their
-- manager. Like approval links, only the SHA-256 of the token is stored; a
-- link is spent once, and works until a pass of its request could no
-- longer be in use. It needs no sign-in and can only stop the request.
CREATE TABLE dispute_links (
    token_hash  TEXT PRIMARY KEY,
    request_id  TEXT NOT NULL REFERENCES requests (id),
    recipient   TEXT NOT NULL,
    created_at  TEXT NOT NULL,
    expires_at  TEXT NOT NULL,
    used_at     TEXT
);
CREATE INDEX dispute_links_request ON dispute_links (request_id);

-- +goose Down
DROP TABLE dispute_links;
