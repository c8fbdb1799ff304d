package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/tapdesk/tapdesk"
	"github.com/tapdesk/tapdesk/mail"
)

// CreateDisputeLink stores the hash of a freshly minted "This wasn't me"
// token. Links of the same request stay valid side by side: the user and
// their manager each hold one, and the issued notice brings fresh ones.
//
// It waits for this process's turn to write like every other write: run
// beside the turn, on SQLite it found the lock taken by a page's
// transaction (or took it from one), and SQLite's busy handler then made
// the loser sleep 1, 2, 5 … ms between tries, past the moment the lock
// freed. The mail worker makes one per notice mailed, four per flow.
func (db *DB) CreateDisputeLink(ctx context.Context, token, requestID, recipient string, now, expires time.Time) error {
	if err := db.lockWrites(ctx); err != nil {
		return fmt.Errorf("store dispute link: %w", err)
	}
	defer db.unlockWrites()
	if _, err := db.db.ExecContext(ctx, `
		INSERT INTO dispute_links (token_hash, request_id, recipient, created_at, expires_at)
		VALUES (?, ?, ?, ?, ?)`, HashToken(token), requestID, recipient, ts(now), ts(expires)); err != nil {
		return fmt.Errorf("store dispute link: %w", err)
	}
	return nil
}

// DisputeLink is a "This wasn't me" link as stored: whose request, and
// whom it was mailed to.
type DisputeLink struct {
	RequestID string
	Recipient string
}

// DisputeLink checks a "This wasn't me" token without spending it and
// returns its request with approvals. The link comes back with a refusal
// too when the token is known, for the audit event.
func (db *DB) DisputeLink(ctx context.Context, token string, now time.Time) (*tapdesk.Request, DisputeLink, error) {
	var l DisputeLink
	var expires time.Time
	var used nullTime
	err := db.db.QueryRowContext(ctx, `SELECT request_id, recipient, expires_at, used_at FROM dispute_links WHERE token_hash = ?`, HashToken(token)).
		Scan(&l.RequestID, &l.Recipient, timeCol{&expires}, &used)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, l, tapdesk.ErrDisputeLinkUnknown
	}
	if err != nil {
		return nil, l, fmt.Errorf("load dispute link: %w", err)
	}
	switch {
	case used.t != nil:
		return nil, l, tapdesk.ErrDisputeLinkUsed
	case !now.Before(expires):
		return nil, l, tapdesk.ErrDisputeLinkExpired
	}
	r, err := db.Request(ctx, l.RequestID)
	return r, l, err
}

// Dispute spends the token and moves its request to disputed in one
// transaction, with the audit events and the alert mail. The update is
// conditional on ch.From and deliberately ignores an issue claim: a dispute
// must win over an issue under way, whose own approved -> issued update
// then fails and deletes the pass it made. If the request moved meanwhile,
// nothing is written (the token stays unspent) and ECONFLICT comes back.
func (db *DB) Dispute(ctx context.Context, token string, r *tapdesk.Request, ch Change, mails []Mail, evs ...tapdesk.Event) error {
	if ch.To != tapdesk.StateDisputed || len(evs) == 0 {
		return fmt.Errorf("store: dispute needs the disputed state and an audit event")
	}
	if ch.At.IsZero() {
		ch.At = db.Now()
	}
	return db.inTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE dispute_links SET used_at = ?
			WHERE token_hash = ? AND request_id = ? AND used_at IS NULL AND expires_at > ?`,
			ts(ch.At), HashToken(token), r.ID, ts(ch.At))
		if err != nil {
			return fmt.Errorf("use dispute link: %w", err)
		}
		if n, _ := res.RowsAffected(); n != 1 {
			return tapdesk.ErrDisputeLinkUsed
		}
		if err := db.transition(ctx, tx, r.ID, ch); err != nil {
			return err
		}
		for _, ev := range evs {
			if err := db.appendEvent(ctx, tx, ev.ForRequest(r)); err != nil {
				return err
			}
		}
		return db.enqueue(ctx, tx, r, evs[0], mails)
	})
}

// NoticeRecipients lists who was told, when r was filed, that a pass was
// requested for them (the target's and manager's Entra addresses, resolved
// then): they are told again when it is issued.
func (db *DB) NoticeRecipients(ctx context.Context, requestID string) ([]string, error) {
	st, err := db.prepared(ctx, `SELECT recipient FROM outbox WHERE request_id = ? AND kind = ? ORDER BY id`)
	if err != nil {
		return nil, fmt.Errorf("load notice recipients: %w", err)
	}
	rows, err := st.QueryContext(ctx, requestID, mail.KindPassRequested)
	if err != nil {
		return nil, fmt.Errorf("load notice recipients: %w", err)
	}
	out, err := scanAll(rows, scanString)
	if err != nil {
		return nil, fmt.Errorf("load notice recipients: %w", err)
	}
	return out, nil
}
