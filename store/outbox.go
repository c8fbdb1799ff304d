package store

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"

	"github.com/tapdesk/tapdesk"
	"github.com/tapdesk/tapdesk/mail"
)

// mailLease is how long a claimed outbox item is reserved for one worker.
const mailLease = 2 * time.Minute

// enqueue queues mail for a request inside the caller's transaction, with a
// "Queue mail" audit event per message.
func (db *DB) enqueue(ctx context.Context, tx *sql.Tx, r *tapdesk.Request, cause tapdesk.Event, mails []Mail) error {
	now := cause.Time
	if now.IsZero() {
		now = db.Now()
	}
	for _, m := range mails {
		if _, err := tx.ExecContext(ctx, `
			INSERT INTO outbox (kind, request_id, recipient, next_attempt_at, created_at)
			VALUES (?, ?, ?, ?, ?)`, m.Kind, r.ID, m.To, ts(now), ts(now)); err != nil {
			return fmt.Errorf("queue mail: %w", err)
		}
		ev := tapdesk.Event{
			Time: now, Activity: tapdesk.ActMailQueued, Category: tapdesk.CatMail,
			Actor: cause.Actor, ActorIP: cause.ActorIP, ActorAgent: cause.ActorAgent,
			Details: map[string]string{"kind": m.Kind, "to": m.To},
		}
		if err := db.appendEvent(ctx, tx, ev.ForRequest(r)); err != nil {
			return err
		}
	}
	return nil
}

// DueMail claims up to limit outbox items that are due, leasing them so a
// second worker (or instance) does not send them too.
func (db *DB) DueMail(ctx context.Context, now time.Time, limit int) ([]mail.Item, error) {
	var items []mail.Item
	err := db.inTx(ctx, func(tx *sql.Tx) error {
		db.quiet(tx) // leases outbox items only
		rows, err := tx.QueryContext(ctx, `
			SELECT id, kind, request_id, recipient, attempts, created_at FROM outbox
			WHERE sent_at IS NULL AND gave_up_at IS NULL AND next_attempt_at <= ?
			  AND (lease_until IS NULL OR lease_until < ?)
			ORDER BY id LIMIT ?`, ts(now), ts(now), limit)
		if err != nil {
			return fmt.Errorf("due mail: %w", err)
		}
		for rows.Next() {
			var it mail.Item
			if err := rows.Scan(&it.ID, &it.Kind, &it.RequestID, &it.To, &it.Attempts, timeCol{&it.CreatedAt}); err != nil {
				rows.Close()
				return fmt.Errorf("scan outbox: %w", err)
			}
			items = append(items, it)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		if len(items) == 0 {
			return nil
		}
		ids := make([]any, 0, len(items)+1)
		ids = append(ids, ts(now.Add(mailLease)))
		for _, it := range items {
			ids = append(ids, it.ID)
		}
		_, err = tx.ExecContext(ctx, `UPDATE outbox SET lease_until = ? WHERE id IN (?`+strings.Repeat(", ?", len(items)-1)+`)`, ids...)
		return err
	})
	return items, err
}

// MarkMailSent records a delivered message and its audit event.
func (db *DB) MarkMailSent(ctx context.Context, id int64, now time.Time) error {
	return db.inTx(ctx, func(tx *sql.Tx) error {
		db.quiet(tx) // the outbox and an audit event
		if _, err := tx.ExecContext(ctx, `UPDATE outbox SET sent_at = ?, attempts = attempts + 1, lease_until = NULL, last_error = '' WHERE id = ?`, ts(now), id); err != nil {
			return fmt.Errorf("mark mail sent: %w", err)
		}
		return db.mailEvent(ctx, tx, id, now, tapdesk.ActMailSent, tapdesk.ResultSuccess, "")
	})
}

// MarkMailFailed records a failed attempt; a zero retryAt gives up.
func (db *DB) MarkMailFailed(ctx context.Context, id int64, now, retryAt time.Time, reason string) error {
	return db.inTx(ctx, func(tx *sql.Tx) error {
		db.quiet(tx) // the outbox and an audit event
		var err error
		if retryAt.IsZero() {
			_, err = tx.ExecContext(ctx, `UPDATE outbox SET gave_up_at = ?, attempts = attempts + 1, lease_until = NULL, last_error = ? WHERE id = ?`, ts(now), reason, id)
		} else {
			_, err = tx.ExecContext(ctx, `UPDATE outbox SET next_attempt_at = ?, attempts = attempts + 1, lease_until = NULL, last_error = ? WHERE id = ?`, ts(retryAt), reason, id)
		}
		if err != nil {
			return fmt.Errorf("mark mail failed: %w", err)
		}
		if !retryAt.IsZero() {
			reason += " (will retry at " + ts(retryAt) + ")"
		}
		return db.mailEvent(ctx, tx, id, now, tapdesk.ActMailFailed, tapdesk.ResultFailure, reason)
	})
}

func (db *DB) mailEvent(ctx context.Context, tx *sql.Tx, id int64, now time.Time, act tapdesk.Activity, res tapdesk.Result, reason string) error {
	var kind, requestID, to string
	if err := tx.QueryRowContext(ctx, `SELECT kind, request_id, recipient FROM outbox WHERE id = ?`, id).Scan(&kind, &requestID, &to); err != nil {
		return fmt.Errorf("load outbox item %d: %w", id, err)
	}
	var corr, target, targetUPN string
	_ = tx.QueryRowContext(ctx, `SELECT correlation_id, target_id, target_upn FROM requests WHERE id = ?`, requestID).Scan(&corr, &target, &targetUPN)
	return db.appendEvent(ctx, tx, tapdesk.Event{
		Time: now, Activity: act, Category: tapdesk.CatMail, Result: res, Reason: reason,
		RequestID: requestID, CorrelationID: corr, TargetID: target, TargetUPN: targetUPN,
		Details: map[string]string{"kind": kind, "to": to, "outbox_id": fmt.Sprint(id)},
	})
}

// OutboxCounts reports pending and given-up mail (readiness, dashboard).
func (db *DB) OutboxCounts(ctx context.Context) (pending, failed int, err error) {
	err = db.db.QueryRowContext(ctx, `SELECT
		COALESCE(SUM(CASE WHEN sent_at IS NULL AND gave_up_at IS NULL THEN 1 ELSE 0 END), 0),
		COALESCE(SUM(CASE WHEN gave_up_at IS NOT NULL THEN 1 ELSE 0 END), 0) FROM outbox`).Scan(&pending, &failed)
	return pending, failed, err
}
