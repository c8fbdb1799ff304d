-- +goose Up
-- A request's events in order of the trail. A recount, an evidence pack
-- and the request's timeline ask for the first (or last) event of one
-- request. With request_id alone, PostgreSQL's planner may find it by
-- walking the trail from its start and filtering each event, expecting a
-- request's events spread evenly over it; but they lie together, at the
-- trail's end for a request being issued. On a trail of a few thousand
-- events that walk cost a reveal milliseconds, growing with the trail.
-- With the number in the index it is one index lookup, whatever the
-- planner expects.
CREATE INDEX audit_events_request_seq ON audit_events (request_id, seq);
DROP INDEX audit_events_request;

-- +goose Down
CREATE INDEX audit_events_request ON audit_events (request_id);
DROP INDEX audit_events_request_seq;
