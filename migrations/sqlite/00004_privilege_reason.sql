-- +goose Up
-- Why a request needs two approvers, as Entra showed the target at filing
-- ("holds Tap.Approver in tapdesk"); empty when one approver is enough. The
-- request page and the approval mail say it.
ALTER TABLE requests ADD COLUMN privilege_reason TEXT NOT NULL DEFAULT '';

-- +goose Down
ALTER TABLE requests DROP COLUMN privilege_reason;
