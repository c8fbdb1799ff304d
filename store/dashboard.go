package store

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/tapdesk/tapdesk"
)

// The reads behind the dashboards: an approver's own decisions, the counts
// an auditor sees, and who signed in lately with which roles.

// containsPattern is a LIKE pattern matching s anywhere, lower-cased, its
// own % _ and \ escaped (the queries say ESCAPE '\').
func containsPattern(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)
	return "%" + r.Replace(strings.ToLower(s)) + "%"
}

// Decided is a request as one approver decided it.
type Decided struct {
	Request   *tapdesk.Request // a summary (RequestFilter.Summary's columns)
	Decision  tapdesk.Decision
	DecidedAt time.Time
}

// DecidedBy lists the latest decisions of the approver with object id oid,
// newest first, with the requests they decided.
func (db *DB) DecidedBy(ctx context.Context, oid string, limit int) ([]Decided, error) {
	st, err := db.prepared(ctx, `SELECT r.id, r.state, r.requester_tid, r.requester_oid, r.requester_name,
		r.target_id, r.target_upn, r.target_name, r.ticket_ref, r.created_at, r.expires_at, a.decision, a.created_at
		FROM approvals a JOIN requests r ON r.id = a.request_id
		WHERE a.approver_oid = ? ORDER BY a.created_at DESC LIMIT `+fmt.Sprint(max(limit, 1)))
	if err != nil {
		return nil, fmt.Errorf("list decisions: %w", err)
	}
	rows, err := st.QueryContext(ctx, oid)
	if err != nil {
		return nil, fmt.Errorf("list decisions: %w", err)
	}
	out, err := scanAll(rows, func(s rowScanner) (Decided, error) {
		r := &tapdesk.Request{}
		d := Decided{Request: r}
		err := s.Scan(&r.ID, &r.State, &r.Requester.TenantID, &r.Requester.ObjectID, &r.Requester.Name,
			&r.TargetID, &r.TargetUPN, &r.TargetName, &r.TicketRef, timeCol{&r.CreatedAt}, timeCol{&r.ExpiresAt},
			&d.Decision, timeCol{&d.DecidedAt})
		return d, err
	})
	if err != nil {
		return nil, fmt.Errorf("list decisions: %w", err)
	}
	return out, nil
}

// PassesIssuedSince counts the passes issued at or after since, whatever
// happened to them later (revoked, disputed).
func (db *DB) PassesIssuedSince(ctx context.Context, since time.Time) (int, error) {
	var n int
	err := db.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM requests WHERE issued_at IS NOT NULL AND issued_at >= ?`, ts(since)).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("count passes issued: %w", err)
	}
	return n, nil
}

// LatestSignIns is each person's latest successful sign-in at or after
// since, newest first, at most limit of them: the roles in its details are
// the ones they hold now, as far as tapdesk knows (roles are read at every
// sign-in).
func (db *DB) LatestSignIns(ctx context.Context, since time.Time, limit int) ([]tapdesk.Event, error) {
	out, err := queryAll(ctx, db.db, scanEvent, `SELECT seq, record FROM audit_events WHERE seq IN (
		SELECT MAX(seq) FROM audit_events WHERE activity = ? AND result = ? AND time >= ? GROUP BY actor_oid)
		ORDER BY seq DESC LIMIT `+fmt.Sprint(max(limit, 1)),
		string(tapdesk.ActSignIn), string(tapdesk.ResultSuccess), ts(since))
	if err != nil {
		return nil, fmt.Errorf("list sign-ins: %w", err)
	}
	return out, nil
}
