package store

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/tapdesk/tapdesk"
	"github.com/tapdesk/tapdesk/mail"
)

// ExpireDue moves every request whose window has passed (no decision in
// time, or approved but not issued in time) to expired, each with its audit
// event and a mail to its requester, in one transaction per request. A
// request a reveal has claimed is left alone: the issue decides its fate.
// It returns how many requests expired.
func (db *DB) ExpireDue(ctx context.Context, now time.Time) (int, error) {
	due, err := db.requestsWhere(ctx, `state IN (?, ?) AND expires_at <= ? AND issue_claimed_at IS NULL`,
		string(tapdesk.StatePending), string(tapdesk.StateApproved), ts(now))
	if err != nil {
		return 0, err
	}
	n := 0
	for _, r := range due {
		reason := "No decision before " + r.ExpiresAt.UTC().Format("2006-01-02 15:04 UTC") + "."
		if r.State == tapdesk.StateApproved {
			reason = "Approved, but the pass was not issued before " + r.ExpiresAt.UTC().Format("2006-01-02 15:04 UTC") + "."
		}
		ev := tapdesk.Event{Time: now, Activity: tapdesk.ActRequestExpired, Category: tapdesk.CatRequest,
			Actor: tapdesk.SystemActor, Reason: reason, Details: map[string]string{"from_state": string(r.State)}}
		ch := Change{From: r.State, To: tapdesk.StateExpired, At: now, Unclaimed: true}
		err = db.Transition(ctx, r, ch, []Mail{{Kind: mail.KindRequestDecided, To: r.Requester.UPN}}, ev)
		if tapdesk.ErrorCode(err) == tapdesk.ECONFLICT {
			continue // decided, cancelled or claimed meanwhile
		}
		if err != nil {
			return n, err
		}
		n++
	}
	return n, nil
}

// EscalateDue reminds approvers of pending requests that have used half
// their decision window: once per request, with an audit event and a
// reminder mail to each of to (approvers, or whoever escalations go to).
// It returns how many requests were escalated.
func (db *DB) EscalateDue(ctx context.Context, now time.Time, to []string) (int, error) {
	if len(to) == 0 {
		return 0, nil
	}
	pending, err := db.requestsWhere(ctx, `state = ? AND escalated_at IS NULL AND expires_at > ?`,
		string(tapdesk.StatePending), ts(now))
	if err != nil {
		return 0, err
	}
	n := 0
	for _, r := range pending {
		half := r.CreatedAt.Add(r.ExpiresAt.Sub(r.CreatedAt) / 2)
		if now.Before(half) {
			continue
		}
		ev := tapdesk.Event{Time: now, Activity: tapdesk.ActRequestEscalate, Category: tapdesk.CatRequest,
			Actor: tapdesk.SystemActor, Reason: "Half the decision window passed without a decision.",
			Details: map[string]string{"expires": ts(r.ExpiresAt)}}
		mails := make([]Mail, 0, len(to))
		for _, addr := range to {
			mails = append(mails, Mail{Kind: mail.KindApprovalReminder, To: addr})
		}
		err = db.inTx(ctx, func(tx *sql.Tx) error {
			res, err := tx.ExecContext(ctx, `UPDATE requests SET escalated_at = ? WHERE id = ? AND state = ? AND escalated_at IS NULL`,
				ts(now), r.ID, string(tapdesk.StatePending))
			if err != nil {
				return fmt.Errorf("escalate request: %w", err)
			}
			if k, _ := res.RowsAffected(); k != 1 {
				return conflict("Decided meanwhile", "The request was decided or escalated meanwhile.")
			}
			if err := db.appendEvent(ctx, tx, ev.ForRequest(r)); err != nil {
				return err
			}
			return db.enqueue(ctx, tx, r, ev, mails)
		})
		if tapdesk.ErrorCode(err) == tapdesk.ECONFLICT {
			continue
		}
		if err != nil {
			return n, err
		}
		n++
	}
	return n, nil
}

// StaleClaims lists the requests whose issue claim has outlived its lease
// at now (tapdesk.IssueClaimLease) without an outcome recorded: the reveal
// that took it died, or could not record what Graph did. Most are approved;
// a request disputed while its pass was being created keeps the claim too,
// and may have a pass left in Entra that its reveal could not delete.
// Requests whose issue was recorded (a pass, or a failure) are not listed.
// Oldest claim first.
func (db *DB) StaleClaims(ctx context.Context, now time.Time) ([]*tapdesk.Request, error) {
	return db.requestsWhere(ctx, `issue_claimed_at IS NOT NULL AND issue_claimed_at <= ? AND tap_method_id = '' AND state <> ?
		ORDER BY issue_claimed_at`, ts(now.Add(-tapdesk.IssueClaimLease)), string(tapdesk.StateFailed))
}

// SettleClaim ends the stale claim noted on r (IssueClaimedAt and State, as
// read). An approved request goes back to approved with the claim released,
// or, when to is expired, ends expired. A request in any other state (one
// disputed during the issue) keeps its state: to must be that state, and
// only the claim is cleared. Its audit events and mail are written in the
// same transaction. The update is conditional on that very claim and state,
// so two sweeps (two instances), or a sweep and a late reveal, cannot both
// settle it; the loser gets ECONFLICT and nothing is written.
func (db *DB) SettleClaim(ctx context.Context, r *tapdesk.Request, to tapdesk.State, at time.Time, mails []Mail, evs ...tapdesk.Event) error {
	if r.IssueClaimedAt == nil {
		return fmt.Errorf("store: settle request %s: it notes no claim", r.ID)
	}
	from := r.State
	if to != from && (from != tapdesk.StateApproved || !tapdesk.CanTransition(from, to)) {
		return fmt.Errorf("store: settle request %s: %s -> %s is not in the state machine", r.ID, from, to)
	}
	if len(evs) == 0 {
		return fmt.Errorf("store: settle request %s without an audit event", r.ID)
	}
	err := db.inTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE requests SET issue_claimed_at = NULL, state = ?, updated_at = ?
			WHERE id = ? AND state = ? AND issue_claimed_at = ?`,
			string(to), ts(at), r.ID, string(from), ts(*r.IssueClaimedAt))
		if err != nil {
			return fmt.Errorf("settle claim: %w", err)
		}
		if n, _ := res.RowsAffected(); n != 1 {
			return conflict("Settled meanwhile", "The claim on this request was settled or its issue recorded meanwhile.")
		}
		for _, ev := range evs {
			if err := db.appendEvent(ctx, tx, ev.ForRequest(r)); err != nil {
				return err
			}
		}
		return db.enqueue(ctx, tx, r, evs[0], mails)
	})
	if err == nil {
		r.State, r.IssueClaimedAt = to, nil
	}
	return err
}

// TAPRecorded reports whether a request recorded the pass with this method
// id as issued, that is, shown to its agent.
func (db *DB) TAPRecorded(ctx context.Context, methodID string) (bool, error) {
	var n int
	err := db.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM requests WHERE tap_method_id = ?`, methodID).Scan(&n)
	if err != nil {
		return false, fmt.Errorf("look up pass %s: %w", methodID, err)
	}
	return n > 0, nil
}
