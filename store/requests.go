package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/tapdesk/tapdesk"
)

// Mail is an outbox entry to queue with a state change.
type Mail struct {
	Kind string
	To   string
}

// FileRequest stores a new pending request, its audit event and the mail to
// its approvers in one transaction. A target with an open request already
// gets a conflict (tapdesk.SecondOpenRequest) and nothing is written: the
// check and the insert share the transaction, which holds the write lock
// from its start, and a unique index backs it.
func (db *DB) FileRequest(ctx context.Context, r *tapdesk.Request, ev tapdesk.Event, mail []Mail) error {
	return db.inTx(ctx, func(tx *sql.Tx) error {
		open, err := db.openRequestFor(ctx, tx, r.TargetID)
		if err != nil {
			return err
		}
		if open != nil {
			return tapdesk.SecondOpenRequest(open)
		}
		_, err = db.execIn(ctx, tx, `
			INSERT INTO requests (id, correlation_id, state,
				requester_tid, requester_oid, requester_upn, requester_name,
				target_id, target_upn, target_name,
				ticket_ref, justification, verification_method, verification_note,
				lifetime_minutes, usable_once, start_at, approvals_required,
				created_at, updated_at, expires_at, privilege_reason)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			r.ID, r.CorrelationID, string(r.State),
			r.Requester.TenantID, r.Requester.ObjectID, r.Requester.UPN, r.Requester.Name,
			r.TargetID, r.TargetUPN, r.TargetName,
			r.TicketRef, r.Justification, r.VerificationMethod, r.VerificationNote,
			r.LifetimeMinutes, r.UsableOnce, tsPtr(r.StartAt), r.ApprovalsRequired,
			ts(r.CreatedAt), ts(r.UpdatedAt), ts(r.ExpiresAt), r.PrivilegeReason)
		if err != nil {
			return fmt.Errorf("insert request: %w", err)
		}
		if err := db.appendEvent(ctx, tx, ev.ForRequest(r)); err != nil {
			return err
		}
		return db.enqueue(ctx, tx, r, ev, mail)
	})
}

// OpenRequestFor returns the target's open (pending or approved) request,
// or nil when there is none.
func (db *DB) OpenRequestFor(ctx context.Context, targetID string) (*tapdesk.Request, error) {
	return db.openRequestFor(ctx, nil, targetID)
}

// openRequestFor is OpenRequestFor within tx (nil: outside any).
func (db *DB) openRequestFor(ctx context.Context, tx *sql.Tx, targetID string) (*tapdesk.Request, error) {
	placeholders := strings.TrimSuffix(strings.Repeat("?, ", len(tapdesk.OpenStates)), ", ")
	args := []any{targetID}
	for _, s := range tapdesk.OpenStates {
		args = append(args, string(s))
	}
	st, err := db.statement(ctx, tx, `SELECT `+requestColumns+` FROM requests
		WHERE target_id = ? AND state IN (`+placeholders+`) ORDER BY created_at, id LIMIT 1`)
	if err != nil {
		return nil, fmt.Errorf("open request for %s: %w", targetID, err)
	}
	r, err := scanRequest(st.QueryRowContext(ctx, args...))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("open request for %s: %w", targetID, err)
	}
	return r, nil
}

const requestColumns = `id, correlation_id, state,
	requester_tid, requester_oid, requester_upn, requester_name,
	target_id, target_upn, target_name,
	ticket_ref, justification, verification_method, verification_note,
	lifetime_minutes, usable_once, start_at, approvals_required,
	created_at, updated_at, expires_at,
	tap_method_id, tap_start_at, tap_expires_at, issued_at, revealed_at,
	failure_reason, decision_note, privilege_reason, tap_created_at, issue_claimed_at`

type rowScanner interface{ Scan(dest ...any) error }

func scanRequest(s rowScanner) (*tapdesk.Request, error) {
	r := &tapdesk.Request{}
	var startAt, tapStart, tapExp, issued, revealed, tapCreated, claimed nullTime
	err := s.Scan(&r.ID, &r.CorrelationID, &r.State,
		&r.Requester.TenantID, &r.Requester.ObjectID, &r.Requester.UPN, &r.Requester.Name,
		&r.TargetID, &r.TargetUPN, &r.TargetName,
		&r.TicketRef, &r.Justification, &r.VerificationMethod, &r.VerificationNote,
		&r.LifetimeMinutes, &r.UsableOnce, &startAt, &r.ApprovalsRequired,
		timeCol{&r.CreatedAt}, timeCol{&r.UpdatedAt}, timeCol{&r.ExpiresAt},
		&r.TAPMethodID, &tapStart, &tapExp, &issued, &revealed,
		&r.FailureReason, &r.DecisionNote, &r.PrivilegeReason, &tapCreated, &claimed)
	if err != nil {
		return nil, err
	}
	r.StartAt, r.TAPStartAt, r.TAPExpiresAt, r.IssuedAt, r.RevealedAt = startAt.t, tapStart.t, tapExp.t, issued.t, revealed.t
	r.TAPCreatedAt, r.IssueClaimedAt = tapCreated.t, claimed.t
	return r, nil
}

// summaryColumns are the columns of RequestFilter.Summary.
const summaryColumns = `id, state, requester_tid, requester_oid, requester_name,
	target_id, target_upn, target_name, ticket_ref, created_at, expires_at`

func scanSummary(s rowScanner) (*tapdesk.Request, error) {
	r := &tapdesk.Request{}
	err := s.Scan(&r.ID, &r.State, &r.Requester.TenantID, &r.Requester.ObjectID, &r.Requester.Name,
		&r.TargetID, &r.TargetUPN, &r.TargetName, &r.TicketRef, timeCol{&r.CreatedAt}, timeCol{&r.ExpiresAt})
	if err != nil {
		return nil, err
	}
	return r, nil
}

// Request loads one request with its approvals. A missing one is ENOTFOUND.
func (db *DB) Request(ctx context.Context, id string) (*tapdesk.Request, error) {
	st, err := db.prepared(ctx, `SELECT `+requestColumns+` FROM requests WHERE id = ?`)
	if err != nil {
		return nil, fmt.Errorf("load request: %w", err)
	}
	r, err := scanRequest(st.QueryRowContext(ctx, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, tapdesk.Titledf(tapdesk.ENOTFOUND, "Request not found", "There is no request %q.", id)
	}
	if err != nil {
		return nil, fmt.Errorf("load request: %w", err)
	}
	if err := db.loadApprovals(ctx, []*tapdesk.Request{r}); err != nil {
		return nil, err
	}
	return r, nil
}

// loadApprovals fills in the approvals of many requests with one query.
func (db *DB) loadApprovals(ctx context.Context, rs []*tapdesk.Request) error {
	if len(rs) == 0 {
		return nil
	}
	byID := make(map[string]*tapdesk.Request, len(rs))
	args := make([]any, 0, len(rs))
	for _, r := range rs {
		byID[r.ID] = r
		args = append(args, r.ID)
	}
	query := `
		SELECT request_id, approver_tid, approver_oid, approver_upn, approver_name, decision, reason, created_at
		FROM approvals WHERE request_id IN (?` + strings.Repeat(", ?", len(rs)-1) + `) ORDER BY created_at`
	var rows *sql.Rows
	var err error
	if len(rs) == 1 {
		// One request (its page, a decision, a reveal): the statement is
		// prepared once. Lists vary in length and stay unprepared.
		var st *sql.Stmt
		if st, err = db.prepared(ctx, query); err == nil {
			rows, err = st.QueryContext(ctx, args...)
		}
	} else {
		rows, err = db.db.QueryContext(ctx, query, args...)
	}
	if err != nil {
		return fmt.Errorf("load approvals: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var a tapdesk.Approval
		if err := rows.Scan(&a.RequestID, &a.Approver.TenantID, &a.Approver.ObjectID, &a.Approver.UPN, &a.Approver.Name,
			&a.Decision, &a.Reason, timeCol{&a.CreatedAt}); err != nil {
			return fmt.Errorf("scan approval: %w", err)
		}
		r := byID[a.RequestID]
		r.Approvals = append(r.Approvals, a)
	}
	return rows.Err()
}

// RequestFilter selects requests for lists. Zero fields select everything.
type RequestFilter struct {
	RequesterOID  string
	States        []tapdesk.State
	Limit         int
	WithApprovals bool // also load each request's approvals (one more query)
	// Summary reads only summaryColumns: what a request list shows and what
	// tapdesk.CheckDecide reads. Every other field stays zero. Each column
	// costs per row, so a page of 25 reads a third of the full row.
	Summary bool
	// TAPValidAt selects requests whose issued pass is still valid then.
	TAPValidAt time.Time
	// Search selects requests whose target name or UPN, or ticket,
	// contains it, ignoring case (an agent's history search).
	Search string
	// Offset skips that many of the newest (paging, with Limit).
	Offset int
}

// Requests lists requests newest first.
func (db *DB) Requests(ctx context.Context, f RequestFilter) ([]*tapdesk.Request, error) {
	var conds []string
	var args []any
	if f.RequesterOID != "" {
		conds = append(conds, "requester_oid = ?")
		args = append(args, f.RequesterOID)
	}
	if len(f.States) > 0 {
		conds = append(conds, "state IN (?"+strings.Repeat(", ?", len(f.States)-1)+")")
		for _, s := range f.States {
			args = append(args, string(s))
		}
	}
	if !f.TAPValidAt.IsZero() {
		conds = append(conds, "tap_expires_at > ?")
		args = append(args, ts(f.TAPValidAt))
	}
	if f.Search != "" {
		conds = append(conds, `(LOWER(target_name) LIKE ? ESCAPE '\' OR LOWER(target_upn) LIKE ? ESCAPE '\' OR LOWER(ticket_ref) LIKE ? ESCAPE '\')`)
		pat := containsPattern(f.Search)
		args = append(args, pat, pat, pat)
	}
	where := "TRUE"
	if len(conds) > 0 {
		where = strings.Join(conds, " AND ")
	}
	where += " ORDER BY created_at DESC"
	if f.Limit > 0 {
		where += fmt.Sprintf(" LIMIT %d", f.Limit)
		if f.Offset > 0 {
			where += fmt.Sprintf(" OFFSET %d", f.Offset)
		}
	}
	cols, scan := requestColumns, scanRequest
	if f.Summary {
		cols, scan = summaryColumns, scanSummary
	}
	out, err := db.listRequests(ctx, cols, scan, where, args...)
	if err != nil {
		return nil, err
	}
	if f.WithApprovals {
		if err := db.loadApprovals(ctx, out); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// requestsWhere loads, in one query, the requests matching cond (which may
// end in ORDER BY and LIMIT), without their approvals.
func (db *DB) requestsWhere(ctx context.Context, cond string, args ...any) ([]*tapdesk.Request, error) {
	return db.listRequests(ctx, requestColumns, scanRequest, cond, args...)
}

// listRequests reads cols of the requests matching cond with scan.
func (db *DB) listRequests(ctx context.Context, cols string, scan func(rowScanner) (*tapdesk.Request, error), cond string, args ...any) ([]*tapdesk.Request, error) {
	st, err := db.prepared(ctx, `SELECT `+cols+` FROM requests WHERE `+cond)
	if err != nil {
		return nil, fmt.Errorf("list requests: %w", err)
	}
	rows, err := st.QueryContext(ctx, args...)
	if err != nil {
		return nil, fmt.Errorf("list requests: %w", err)
	}
	out, err := scanAll(rows, scan)
	if err != nil {
		return nil, fmt.Errorf("list requests: %w", err)
	}
	return out, nil
}

// Change is one state transition and the fields it sets.
type Change struct {
	From, To      tapdesk.State
	At            time.Time
	TAP           *tapdesk.TAPInfo // issued: the created pass's metadata
	Revealed      bool             // issued: the pass was shown in this response
	FailureReason string
	DecisionNote  string
	// Unclaimed makes the change fail if a reveal has claimed the request
	// (cancel and expiry must not race an issue that is under way).
	// Otherwise a change from approved of a request whose IssueClaimedAt is
	// set goes through only while that claim still holds: a reveal that
	// outlived its lease, whose claim the sweep settled, records nothing.
	Unclaimed bool
	claimedAt *time.Time // the claim noted on the request, set by Transition
}

// Transition moves a request from one state to another, writing its audit
// event and queuing its mail in the same transaction. The update is
// conditional on the current state: if the request moved meanwhile (two
// clicks, two tabs, two instances) it fails with ECONFLICT and nothing is
// written.
func (db *DB) Transition(ctx context.Context, r *tapdesk.Request, ch Change, mail []Mail, evs ...tapdesk.Event) error {
	if len(evs) == 0 {
		return fmt.Errorf("store: transition %s -> %s without an audit event", ch.From, ch.To)
	}
	return db.inTx(ctx, func(tx *sql.Tx) error {
		ch.claimedAt = r.IssueClaimedAt
		if err := db.transition(ctx, tx, r.ID, ch); err != nil {
			return err
		}
		for _, ev := range evs {
			if ch.TAP != nil {
				ev.TAPMethodID = ch.TAP.MethodID
			}
			if err := db.appendEvent(ctx, tx, ev.ForRequest(r)); err != nil {
				return err
			}
		}
		return db.enqueue(ctx, tx, r, evs[0], mail)
	})
}

func (db *DB) transition(ctx context.Context, tx *sql.Tx, id string, ch Change) error {
	if !tapdesk.CanTransition(ch.From, ch.To) {
		return fmt.Errorf("store: transition %s -> %s is not in the state machine", ch.From, ch.To)
	}
	if ch.At.IsZero() {
		ch.At = db.Now()
	}
	set := []string{"state = ?", "updated_at = ?"}
	args := []any{string(ch.To), ts(ch.At)}
	if ch.TAP != nil {
		exp := ch.TAP.ExpiresAt()
		set = append(set, "tap_method_id = ?", "tap_start_at = ?", "tap_expires_at = ?", "issued_at = ?", "tap_created_at = ?")
		args = append(args, ch.TAP.MethodID, ts(ch.TAP.StartAt), ts(exp), ts(ch.At), tsPtr(&ch.TAP.CreatedAt))
	}
	if ch.Revealed {
		set = append(set, "revealed_at = ?")
		args = append(args, ts(ch.At))
	}
	if ch.FailureReason != "" {
		set = append(set, "failure_reason = ?")
		args = append(args, ch.FailureReason)
	}
	if ch.DecisionNote != "" {
		set = append(set, "decision_note = ?")
		args = append(args, ch.DecisionNote)
	}
	args = append(args, id, string(ch.From))
	where := ` WHERE id = ? AND state = ?`
	switch {
	case ch.Unclaimed:
		where += ` AND issue_claimed_at IS NULL`
	case ch.From == tapdesk.StateApproved && ch.claimedAt != nil:
		where += ` AND issue_claimed_at = ?`
		args = append(args, ts(*ch.claimedAt))
	}
	res, err := db.execIn(ctx, tx, `UPDATE requests SET `+strings.Join(set, ", ")+where, args...)
	if err != nil {
		return fmt.Errorf("update request state: %w", err)
	}
	if n, _ := res.RowsAffected(); n != 1 {
		return conflict("Changed meanwhile", "This request changed while you were looking at it (it is no longer %s). Reload the page to see where it stands.", ch.From)
	}
	return nil
}

// Decide records an approver's decision. A denial ends the request; an
// approval ends it as approved once enough distinct approvers agreed. The
// approval row's primary key stops one approver deciding twice.
func (db *DB) Decide(ctx context.Context, r *tapdesk.Request, a tapdesk.Approval, ev tapdesk.Event, mail []Mail) (tapdesk.State, error) {
	newState := tapdesk.StatePending
	err := db.inTx(ctx, func(tx *sql.Tx) error {
		// Touch the request first, conditionally: this takes the write lock and
		// proves it is still pending before anything else is written.
		res, err := db.execIn(ctx, tx, `UPDATE requests SET updated_at = ? WHERE id = ? AND state = ?`,
			ts(a.CreatedAt), r.ID, string(tapdesk.StatePending))
		if err != nil {
			return fmt.Errorf("lock request: %w", err)
		}
		if n, _ := res.RowsAffected(); n != 1 {
			return conflict("Decided meanwhile", "This request was decided or withdrawn meanwhile. Reload the page to see where it stands.")
		}
		exists, err := db.countIn(ctx, tx, `SELECT COUNT(*) FROM approvals WHERE request_id = ? AND approver_tid = ? AND approver_oid = ?`,
			r.ID, a.Approver.TenantID, a.Approver.ObjectID)
		if err != nil {
			return fmt.Errorf("check approvals: %w", err)
		}
		if exists > 0 {
			return conflict("Already decided by you", "You have already decided this request. A second approval must come from someone else.")
		}
		if _, err := db.execIn(ctx, tx, `
			INSERT INTO approvals (request_id, approver_tid, approver_oid, approver_upn, approver_name, decision, reason, created_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
			r.ID, a.Approver.TenantID, a.Approver.ObjectID, a.Approver.UPN, a.Approver.Name,
			string(a.Decision), a.Reason, ts(a.CreatedAt)); err != nil {
			return fmt.Errorf("insert approval: %w", err)
		}
		approvals, err := db.countIn(ctx, tx, `SELECT COUNT(*) FROM approvals WHERE request_id = ? AND decision = ?`,
			r.ID, string(tapdesk.DecisionApprove))
		if err != nil {
			return fmt.Errorf("count approvals: %w", err)
		}
		switch {
		case a.Decision == tapdesk.DecisionDeny:
			newState = tapdesk.StateDenied
		case approvals >= r.ApprovalsRequired:
			newState = tapdesk.StateApproved
		}
		if newState != tapdesk.StatePending {
			if err := db.transition(ctx, tx, r.ID, Change{From: tapdesk.StatePending, To: newState, At: a.CreatedAt, DecisionNote: a.Reason}); err != nil {
				return err
			}
		} else {
			mail = nil // nobody to tell until the request is decided
		}
		if err := db.appendEvent(ctx, tx, ev.ForRequest(r)); err != nil {
			return err
		}
		return db.enqueue(ctx, tx, r, ev, mail)
	})
	return newState, err
}

// ClaimIssue marks an approved request as being issued, so that two
// reveals racing each other cannot both call Graph. It fails with ECONFLICT
// if the request is not approved or someone else claimed it. The claim
// holds for tapdesk.IssueClaimLease; it is noted on r, so that the outcome
// (Transition, ReleaseIssue) is recorded only while it still holds.
func (db *DB) ClaimIssue(ctx context.Context, r *tapdesk.Request, ev tapdesk.Event) error {
	now := ev.Time
	if now.IsZero() {
		now = db.Now()
	}
	now, _ = parseTS(ts(now)) // as stored, so the claim compares equal
	err := db.inTx(ctx, func(tx *sql.Tx) error {
		res, err := db.execIn(ctx, tx, `UPDATE requests SET issue_claimed_at = ?, updated_at = ?
			WHERE id = ? AND state = ? AND issue_claimed_at IS NULL`,
			ts(now), ts(now), r.ID, string(tapdesk.StateApproved))
		if err != nil {
			return fmt.Errorf("claim issue: %w", err)
		}
		if n, _ := res.RowsAffected(); n != 1 {
			return conflict(tapdesk.ClaimTakenTitle, "%s", tapdesk.ClaimTakenMessage)
		}
		return db.appendEvent(ctx, tx, ev.ForRequest(r))
	})
	if err == nil {
		r.IssueClaimedAt = &now
	}
	return err
}

// ReleaseIssue undoes ClaimIssue after a create that certainly issued
// nothing (throttled, or a lost answer whose pass was deleted), so the
// request stays approved and its requester can try again. ev records the
// failed attempt in the same transaction. When r notes its claim
// (IssueClaimedAt), only that claim is released.
func (db *DB) ReleaseIssue(ctx context.Context, r *tapdesk.Request, ev tapdesk.Event) error {
	err := db.inTx(ctx, func(tx *sql.Tx) error {
		if ev.Time.IsZero() {
			ev.Time = db.Now()
		}
		cond, args := `issue_claimed_at IS NOT NULL`, []any{ts(ev.Time), r.ID, string(tapdesk.StateApproved)}
		if r.IssueClaimedAt != nil {
			cond = `issue_claimed_at = ?`
			args = append(args, ts(*r.IssueClaimedAt))
		}
		res, err := tx.ExecContext(ctx, `UPDATE requests SET issue_claimed_at = NULL, updated_at = ?
			WHERE id = ? AND state = ? AND `+cond, args...)
		if err != nil {
			return fmt.Errorf("release issue: %w", err)
		}
		if n, _ := res.RowsAffected(); n != 1 {
			return conflict("No longer waiting for its pass", "This request is no longer waiting for its pass.")
		}
		return db.appendEvent(ctx, tx, ev.ForRequest(r))
	})
	if err == nil {
		r.IssueClaimedAt = nil
	}
	return err
}

// RequestCountsByState counts the requests in each state (metrics).
func (db *DB) RequestCountsByState(ctx context.Context) (map[tapdesk.State]int, error) {
	rows, err := db.db.QueryContext(ctx, `SELECT state, COUNT(*) FROM requests GROUP BY state`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	counts := map[tapdesk.State]int{}
	for rows.Next() {
		var s tapdesk.State
		var n int
		if err := rows.Scan(&s, &n); err != nil {
			return nil, err
		}
		counts[s] = n
	}
	return counts, rows.Err()
}
