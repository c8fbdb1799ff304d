package store

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/tapdesk/tapdesk"
)

// The reads behind the auditor's reports page. Everything comes from the
// audit trail (signed events), not the requests table; tapdesk.BuildReport
// shapes it. All of it is read in one snapshot, so the charts agree with
// each other even while requests are being filed.

// ReportFacts reads what a report over [from, to) needs: counts SQL makes
// (issues per day, denials per reason, filings per agent, decisions per
// approver) and the events of each request filed in the period.
func (db *DB) ReportFacts(ctx context.Context, from, to time.Time) (tapdesk.ReportFacts, error) {
	var out tapdesk.ReportFacts
	conn, err := db.db.Conn(ctx)
	if err != nil {
		return out, err
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, db.dialect.snapshot); err != nil {
		return out, fmt.Errorf("begin read: %w", err)
	}
	defer conn.ExecContext(context.WithoutCancel(ctx), "ROLLBACK")
	f, t := ts(from), ts(to)
	success := string(tapdesk.ResultSuccess)

	// Times are fixed-width UTC text on both databases: the first ten
	// characters are the day.
	if out.IssuedByDay, err = reportCounts(ctx, conn, `SELECT SUBSTR(time, 1, 10) AS day, '', COUNT(*) FROM audit_events
		WHERE activity = ? AND result = ? AND time >= ? AND time < ? GROUP BY SUBSTR(time, 1, 10) ORDER BY day`,
		string(tapdesk.ActIssueAttempt), success, f, t); err != nil {
		return out, fmt.Errorf("count passes issued: %w", err)
	}
	// reason and actor_name are not columns of their own: read them from
	// the signed record.
	reason, actorName := db.dialect.recordField(4), db.dialect.recordField(8)
	if out.Denials, err = reportCounts(ctx, conn, `SELECT `+reason+`, '', COUNT(*) FROM audit_events
		WHERE activity = ? AND result = ? AND time >= ? AND time < ? GROUP BY `+reason,
		string(tapdesk.ActDeny), success, f, t); err != nil {
		return out, fmt.Errorf("count denials: %w", err)
	}
	// One name per actor: the latest they signed with in the period.
	byActor := `SELECT actor_upn, MAX(` + actorName + `), COUNT(*) FROM audit_events
		WHERE activity IN (?, ?) AND result = ? AND time >= ? AND time < ? GROUP BY actor_upn`
	if out.Agents, err = reportCounts(ctx, conn, byActor,
		string(tapdesk.ActRequestFiled), string(tapdesk.ActRequestFiled), success, f, t); err != nil {
		return out, fmt.Errorf("count requests per agent: %w", err)
	}
	if out.Approvers, err = reportCounts(ctx, conn, byActor,
		string(tapdesk.ActApprove), string(tapdesk.ActDeny), success, f, t); err != nil {
		return out, fmt.Errorf("count decisions per approver: %w", err)
	}

	// The events the replay reads of every request filed in the period,
	// in trail order (later events too: a request filed on the last day
	// may be decided after it).
	acts := []any{}
	marks := ""
	for _, a := range tapdesk.Activities() {
		if tapdesk.ReplayReads(a) {
			acts = append(acts, string(a))
			if marks != "" {
				marks += ", "
			}
			marks += "?"
		}
	}
	args := append([]any{string(tapdesk.ActRequestFiled), success, f, t}, acts...)
	evs, err := queryAll(ctx, conn, scanEvent, `SELECT seq, record FROM audit_events
		WHERE request_id IN (SELECT request_id FROM audit_events
			WHERE activity = ? AND result = ? AND time >= ? AND time < ? AND request_id <> '')
		AND activity IN (`+marks+`) ORDER BY request_id, seq`, args...)
	if err != nil {
		return out, fmt.Errorf("read filed requests' events: %w", err)
	}
	for _, ev := range evs {
		if n := len(out.Trails); n == 0 || out.Trails[n-1][0].RequestID != ev.RequestID {
			out.Trails = append(out.Trails, nil)
		}
		out.Trails[len(out.Trails)-1] = append(out.Trails[len(out.Trails)-1], ev)
	}
	return out, nil
}

func reportCounts(ctx context.Context, conn *sql.Conn, q string, args ...any) ([]tapdesk.ReportCount, error) {
	return queryAll(ctx, conn, func(s rowScanner) (tapdesk.ReportCount, error) {
		var c tapdesk.ReportCount
		err := s.Scan(&c.Key, &c.Name, &c.N)
		return c, err
	}, q, args...)
}
