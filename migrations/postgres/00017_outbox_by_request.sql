-- +goose Up
-- The mail queued for one request: an issue reads who was told of the
-- request (its target and their manager) to tell them of the pass too.
-- Without this index that read scanned the whole outbox, which keeps
-- every mail ever sent, on every issue.
CREATE INDEX outbox_request ON outbox (request_id, kind);

-- +goose Down
DROP INDEX outbox_request;
