package store

import (
	"cmp"
	"context"
	"database/sql"
	"fmt"
	"slices"
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
		if _, err := db.execIn(ctx, tx, `
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
// second worker (or instance) does not send them too. The claim is one
// statement: it leases exactly the rows it returns, so two instances
// polling at once never get the same mail. On PostgreSQL it skips rows
// another instance is claiming this instant (SKIP LOCKED) instead of
// waiting for them, and it does not take the write lock the other writes
// take turns on: polling for mail never holds up a page.
func (db *DB) DueMail(ctx context.Context, now time.Time, limit int) ([]mail.Item, error) {
	if err := db.lockWrites(ctx); err != nil {
		return nil, err
	}
	defer db.unlockWrites()
	rows, err := db.db.QueryContext(ctx, `
		UPDATE outbox SET lease_until = ? WHERE id IN (
			SELECT id FROM outbox
			WHERE sent_at IS NULL AND gave_up_at IS NULL AND next_attempt_at <= ?
			  AND (lease_until IS NULL OR lease_until < ?)
			ORDER BY id LIMIT ? `+db.dialect.skipLocked+`)
		RETURNING id, kind, request_id, recipient, attempts, created_at`,
		ts(now.Add(mailLease)), ts(now), ts(now), limit)
	if err != nil {
		return nil, fmt.Errorf("due mail: %w", err)
	}
	items, err := scanAll(rows, func(s rowScanner) (mail.Item, error) {
		var it mail.Item
		err := s.Scan(&it.ID, &it.Kind, &it.RequestID, &it.To, &it.Attempts, timeCol{&it.CreatedAt})
		return it, err
	})
	if err != nil {
		return nil, fmt.Errorf("due mail: %w", err)
	}
	// RETURNING's order is not the subquery's: send the oldest first.
	slices.SortFunc(items, func(a, b mail.Item) int { return cmp.Compare(a.ID, b.ID) })
	return items, nil
}

// MarkMailSent records a delivered message and its audit event.
func (db *DB) MarkMailSent(ctx context.Context, id int64, now time.Time) error {
	return db.inQuietTx(ctx, func(tx *sql.Tx) error { // the outbox and an audit event
		st, err := db.statement(ctx, tx, `UPDATE outbox SET sent_at = ?, attempts = attempts + 1, lease_until = NULL, last_error = '' WHERE id = ?`)
		if err != nil {
			return fmt.Errorf("mark mail sent: %w", err)
		}
		if _, err := st.ExecContext(ctx, ts(now), id); err != nil {
			return fmt.Errorf("mark mail sent: %w", err)
		}
		return db.mailEvent(ctx, tx, id, now, tapdesk.ActMailSent, tapdesk.ResultSuccess, "")
	})
}

// MarkMailsSent records a batch of delivered messages, each with its audit
// event, in one transaction: the mail worker's one write for a batch
// instead of one per message. The outbox rows and what their events name
// are read in one query.
func (db *DB) MarkMailsSent(ctx context.Context, ids []int64, now time.Time) error {
	if len(ids) == 0 {
		return nil
	}
	return db.inQuietTx(ctx, func(tx *sql.Tx) error { // the outbox and audit events
		mark, err := db.statement(ctx, tx, `UPDATE outbox SET sent_at = ?, attempts = attempts + 1, lease_until = NULL, last_error = '' WHERE id = ?`)
		if err != nil {
			return fmt.Errorf("mark mail sent: %w", err)
		}
		args := make([]any, len(ids))
		for i, id := range ids {
			if _, err := mark.ExecContext(ctx, ts(now), id); err != nil {
				return fmt.Errorf("mark mail %d sent: %w", id, err)
			}
			args[i] = id
		}
		rows, err := tx.QueryContext(ctx, `SELECT o.id, o.kind, o.request_id, o.recipient,
				COALESCE(r.correlation_id, ''), COALESCE(r.target_id, ''), COALESCE(r.target_upn, '')
			FROM outbox o LEFT JOIN requests r ON r.id = o.request_id
			WHERE o.id IN (`+strings.TrimSuffix(strings.Repeat("?, ", len(ids)), ", ")+`)`, args...)
		if err != nil {
			return fmt.Errorf("load outbox items: %w", err)
		}
		evs := make(map[int64]tapdesk.Event, len(ids))
		for rows.Next() {
			var id int64
			var kind, to string
			ev := tapdesk.Event{Time: now, Activity: tapdesk.ActMailSent, Category: tapdesk.CatMail, Result: tapdesk.ResultSuccess}
			if err := rows.Scan(&id, &kind, &ev.RequestID, &to, &ev.CorrelationID, &ev.TargetID, &ev.TargetUPN); err != nil {
				rows.Close()
				return fmt.Errorf("load outbox items: %w", err)
			}
			ev.Details = map[string]string{"kind": kind, "to": to, "outbox_id": fmt.Sprint(id)}
			evs[id] = ev
		}
		if err := rows.Close(); err != nil {
			return fmt.Errorf("load outbox items: %w", err)
		}
		if err := rows.Err(); err != nil {
			return fmt.Errorf("load outbox items: %w", err)
		}
		// The events in the order the worker sent the mail.
		for _, id := range ids {
			ev, ok := evs[id]
			if !ok {
				return fmt.Errorf("load outbox item %d: %w", id, sql.ErrNoRows)
			}
			if err := db.appendEvent(ctx, tx, ev); err != nil {
				return err
			}
		}
		return nil
	})
}

// MarkMailFailed records a failed attempt; a zero retryAt gives up.
func (db *DB) MarkMailFailed(ctx context.Context, id int64, now, retryAt time.Time, reason string) error {
	return db.inQuietTx(ctx, func(tx *sql.Tx) error { // the outbox and an audit event
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
	item, err := db.statement(ctx, tx, `SELECT kind, request_id, recipient FROM outbox WHERE id = ?`)
	if err == nil {
		err = item.QueryRowContext(ctx, id).Scan(&kind, &requestID, &to)
	}
	if err != nil {
		return fmt.Errorf("load outbox item %d: %w", id, err)
	}
	var corr, target, targetUPN string
	if req, err := db.statement(ctx, tx, `SELECT correlation_id, target_id, target_upn FROM requests WHERE id = ?`); err == nil {
		_ = req.QueryRowContext(ctx, requestID).Scan(&corr, &target, &targetUPN)
	}
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
