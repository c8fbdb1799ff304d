package store

import (
	"context"
	"strings"
	"time"

	"github.com/tapdesk/tapdesk"
)

// TargetRequests lists the requests for one target that an approver weighs
// beside a request (tapdesk.TargetFacts): those still open, and those whose
// pass was issued at or after issuedSince. Newest first, at most 50 (a
// person with more is a story the audit page tells).
func (db *DB) TargetRequests(ctx context.Context, targetID string, issuedSince time.Time) ([]*tapdesk.Request, error) {
	args := []any{targetID}
	for _, s := range tapdesk.OpenStates {
		args = append(args, string(s))
	}
	args = append(args, ts(issuedSince))
	return db.requestsWhere(ctx, `target_id = ? AND (state IN (`+strings.TrimSuffix(strings.Repeat("?, ", len(tapdesk.OpenStates)), ", ")+`) OR issued_at >= ?)
		ORDER BY created_at DESC, id LIMIT 50`, args...)
}
