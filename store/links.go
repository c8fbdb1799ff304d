package store

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/tapdesk/tapdesk"
	"github.com/tapdesk/tapdesk/mail"
)

// HashToken is how link tokens are stored: only their SHA-256.
func HashToken(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

// CreateLink stores the hash of a freshly minted approval link token. An
// earlier unused link of the same request and recipient stops working (a
// mail retried after a lost answer must not leave two live links).
func (db *DB) CreateLink(ctx context.Context, token, requestID, recipient string, now, expires time.Time) error {
	return db.inTx(ctx, func(tx *sql.Tx) error {
		return createLink(ctx, tx, token, requestID, recipient, now, expires)
	})
}

func createLink(ctx context.Context, tx *sql.Tx, token, requestID, recipient string, now, expires time.Time) error {
	if _, err := tx.ExecContext(ctx, `UPDATE approval_links SET expires_at = ?
		WHERE request_id = ? AND recipient = ? AND used_at IS NULL AND expires_at > ?`,
		ts(now), requestID, recipient, ts(now)); err != nil {
		return fmt.Errorf("retire older approval links: %w", err)
	}
	if _, err := tx.ExecContext(ctx, `
		INSERT INTO approval_links (token_hash, request_id, recipient, created_at, expires_at)
		VALUES (?, ?, ?, ?, ?)`, HashToken(token), requestID, recipient, ts(now), ts(expires)); err != nil {
		return fmt.Errorf("store approval link: %w", err)
	}
	return nil
}

var _ mail.LinkBatchStore = (*DB)(nil)

// CreateLinks stores the links minted for a batch of mail in one
// transaction, in order, each as CreateLink or CreateDisputeLink would:
// the mail worker's one write for a batch's links instead of one per mail.
func (db *DB) CreateLinks(ctx context.Context, links []mail.Link) error {
	if len(links) == 0 {
		return nil
	}
	return db.inQuietTx(ctx, func(tx *sql.Tx) error { // links are held by no cache
		for _, l := range links {
			if l.Dispute {
				if _, err := tx.ExecContext(ctx, `
					INSERT INTO dispute_links (token_hash, request_id, recipient, created_at, expires_at)
					VALUES (?, ?, ?, ?, ?)`, HashToken(l.Token), l.RequestID, l.Recipient, ts(l.CreatedAt), ts(l.ExpiresAt)); err != nil {
					return fmt.Errorf("store dispute link: %w", err)
				}
				continue
			}
			if err := createLink(ctx, tx, l.Token, l.RequestID, l.Recipient, l.CreatedAt, l.ExpiresAt); err != nil {
				return err
			}
		}
		return nil
	})
}

// UseLink spends a link token for the signed-in approver and returns its
// request id. The use and its audit event commit together; the conditional
// update makes a second use fail even when two clicks race.
//
// Only the approver the link was mailed to spends it (tapdesk.IsLinkRecipient,
// decided inside the transaction on the stored recipient): anyone else gets
// tapdesk.ErrLinkNotRecipient with the request id, and the link stays as it was.
// notFresh is why the recipient's sign-in may not spend a link now (too old,
// no MFA), nil when it may; it is returned instead of spending.
func (db *DB) UseLink(ctx context.Context, token string, by tapdesk.Principal, notFresh error, now time.Time, ev tapdesk.Event) (string, error) {
	hash := HashToken(token)
	var requestID string
	err := db.inTx(ctx, func(tx *sql.Tx) error {
		var expires time.Time
		var used nullTime
		var recipient string
		err := tx.QueryRowContext(ctx, `SELECT request_id, recipient, expires_at, used_at FROM approval_links WHERE token_hash = ?`, hash).
			Scan(&requestID, &recipient, timeCol{&expires}, &used)
		if errors.Is(err, sql.ErrNoRows) {
			return tapdesk.ErrLinkUnknown
		}
		if err != nil {
			return fmt.Errorf("load approval link: %w", err)
		}
		switch {
		case used.t != nil:
			return tapdesk.ErrLinkUsed
		case !now.Before(expires):
			return tapdesk.ErrLinkExpired
		case !tapdesk.IsLinkRecipient(by, recipient):
			return tapdesk.ErrLinkNotRecipient
		case notFresh != nil:
			return notFresh
		}
		res, err := tx.ExecContext(ctx, `UPDATE approval_links SET used_at = ?, used_by_oid = ?
			WHERE token_hash = ? AND used_at IS NULL AND recipient = ?`,
			ts(now), by.ObjectID, hash, recipient)
		if err != nil {
			return fmt.Errorf("use approval link: %w", err)
		}
		if n, _ := res.RowsAffected(); n != 1 {
			return tapdesk.ErrLinkUsed
		}
		r, err := scanRequest(tx.QueryRowContext(ctx, `SELECT `+requestColumns+` FROM requests WHERE id = ?`, requestID))
		if err != nil {
			return fmt.Errorf("load request of link: %w", err)
		}
		return db.appendEvent(ctx, tx, ev.ForRequest(r))
	})
	if err != nil {
		return requestID, err
	}
	return requestID, nil
}

// ApprovalLink is a stored link as Link reads it (never the token).
type ApprovalLink struct {
	RequestID string
	Recipient string
	ExpiresAt time.Time
	UsedAt    *time.Time
	UsedByOID string
}

// Link reads the link of a token without spending it, to tell a used
// link's recipient coming back from anyone else. An unknown token is
// tapdesk.ErrLinkUnknown.
func (db *DB) Link(ctx context.Context, token string) (ApprovalLink, error) {
	var l ApprovalLink
	var used nullTime
	var by sql.NullString
	err := db.db.QueryRowContext(ctx, `SELECT request_id, recipient, expires_at, used_at, used_by_oid FROM approval_links WHERE token_hash = ?`,
		HashToken(token)).Scan(&l.RequestID, &l.Recipient, timeCol{&l.ExpiresAt}, &used, &by)
	if errors.Is(err, sql.ErrNoRows) {
		return l, tapdesk.ErrLinkUnknown
	}
	if err != nil {
		return l, fmt.Errorf("load approval link: %w", err)
	}
	l.UsedAt, l.UsedByOID = used.t, by.String
	return l, nil
}
