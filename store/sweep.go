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
				return conflict("The request was decided or escalated meanwhile.")
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
