package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/tapdesk/tapdesk"
	"github.com/tapdesk/tapdesk/mail"
)

// AlertCursor is the seq of the last audit event the alert rules have
// read (0: none; a new installation starts at the beginning).
func (db *DB) AlertCursor(ctx context.Context) (int64, error) {
	c, err := db.CheckAlertCursor(ctx)
	return c.Seq, err
}

// CheckAlertCursor is the alert cursor and whether the trail still holds
// the event there with the mac it had when the job read it (a cursor at 0,
// or none yet, is always intact).
func (db *DB) CheckAlertCursor(ctx context.Context) (tapdesk.TrailCursor, error) {
	var c tapdesk.TrailCursor
	var mac sql.NullString
	err := db.db.QueryRowContext(ctx, `SELECT c.last_seq, c.last_mac, e.mac FROM alert_cursor c
		LEFT JOIN audit_events e ON e.seq = c.last_seq WHERE c.id = 1`).Scan(&c.Seq, &c.Mac, &mac)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return c, fmt.Errorf("read the alert cursor: %w", err)
	}
	if c.Head, err = auditHead(ctx, db.db); err != nil {
		return c, fmt.Errorf("audit head: %w", err)
	}
	c.Intact = c.Seq == 0 || (mac.Valid && mac.String == c.Mac && c.Head >= c.Seq)
	return c, nil
}

// EventsAfter lists up to limit events after seq, oldest first.
func (db *DB) EventsAfter(ctx context.Context, seq int64, limit int) ([]tapdesk.Event, error) {
	evs, err := queryAll(ctx, db.db, scanEvent, `SELECT seq, record FROM audit_events WHERE seq > ? ORDER BY seq LIMIT ?`, seq, limit)
	if err != nil {
		return nil, fmt.Errorf("read audit events after %d: %w", seq, err)
	}
	return evs, nil
}

// EventsBetween lists the events of the activities from the time since up
// to and including seq upTo, in seq order (the alert rules' windows).
func (db *DB) EventsBetween(ctx context.Context, since time.Time, upTo int64, activities ...tapdesk.Activity) ([]tapdesk.Event, error) {
	if len(activities) == 0 {
		return nil, nil
	}
	args := []any{ts(since), upTo}
	marks := make([]string, len(activities))
	for i, a := range activities {
		marks[i], args = "?", append(args, string(a))
	}
	evs, err := queryAll(ctx, db.db, scanEvent, `SELECT seq, record FROM audit_events WHERE time >= ? AND seq <= ? AND activity IN (`+
		strings.Join(marks, ", ")+`) ORDER BY seq`, args...)
	if err != nil {
		return nil, fmt.Errorf("read audit events in an alert window: %w", err)
	}
	return evs, nil
}

// Requesters maps request ids to the agents who filed them (unknown ids
// are left out).
func (db *DB) Requesters(ctx context.Context, ids []string) (map[string]tapdesk.Actor, error) {
	out := map[string]tapdesk.Actor{}
	ids = slices.Compact(slices.Sorted(slices.Values(ids)))
	for len(ids) > 0 {
		chunk := ids[:min(len(ids), 200)]
		ids = ids[len(chunk):]
		args := make([]any, len(chunk))
		for i, id := range chunk {
			args[i] = id
		}
		found, err := queryAll(ctx, db.db, scanRequester, `SELECT id, requester_tid, requester_oid, requester_upn, requester_name FROM requests WHERE id IN (`+
			strings.TrimSuffix(strings.Repeat("?, ", len(chunk)), ", ")+`)`, args...)
		if err != nil {
			return nil, fmt.Errorf("read the requesters of decided requests: %w", err)
		}
		for _, r := range found {
			out[r.id] = r.Actor
		}
	}
	return out, nil
}

// requester is a request's id and the agent who filed it.
type requester struct {
	id string
	tapdesk.Actor
}

func scanRequester(s rowScanner) (requester, error) {
	var r requester
	err := s.Scan(&r.id, &r.TenantID, &r.ObjectID, &r.UPN, &r.Name)
	return r, err
}

// RaiseAlerts moves the alert cursor from from to to (with the mac of the
// event at to, so the next run sees if the trail is cut) and records the
// alerts the events between raised, in one transaction: each alert new by
// its key is stored with its audit event (ActAlertRaised) and, when its
// Mail is tapdesk.AlertMailQueued, a mail to each of mailTo. An alert
// whose key is already stored is skipped. If another instance moved the
// cursor meanwhile, nothing is written and the error is ECONFLICT: that
// instance evaluated these events. It returns the alerts stored, with
// their ids.
func (db *DB) RaiseAlerts(ctx context.Context, from, to int64, alerts []tapdesk.Alert, mailTo []string, now time.Time) ([]tapdesk.Alert, error) {
	var raised []tapdesk.Alert
	err := db.inQuietTx(ctx, func(tx *sql.Tx) error { // no cache holds alerts or the outbox
		raised = raised[:0]
		// One statement whether or not the row exists yet; it changes
		// nothing when the cursor is no longer at from.
		res, err := tx.ExecContext(ctx, `INSERT INTO alert_cursor (id, last_seq, last_mac)
			VALUES (1, ?, `+macAtSeq+`)
			ON CONFLICT (id) DO UPDATE SET last_seq = excluded.last_seq, last_mac = excluded.last_mac
			WHERE alert_cursor.last_seq = ?`, to, to, from)
		if err != nil {
			return fmt.Errorf("move the alert cursor: %w", err)
		}
		if n, _ := res.RowsAffected(); n != 1 {
			return conflict("Already handled", "Another instance evaluated these events for alerts.")
		}
		for _, a := range alerts {
			a.RaisedAt = now
			err := tx.QueryRowContext(ctx, `INSERT INTO alerts (rule, dedupe_key, subject, summary, event_seq, event_time, request_id, evidence, mail, raised_at)
				VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (dedupe_key) DO NOTHING RETURNING id`,
				string(a.Rule), a.Key, a.Subject, a.Summary, a.Seq, ts(a.At), a.RequestID, a.Evidence, a.Mail, ts(now)).Scan(&a.ID)
			if errors.Is(err, sql.ErrNoRows) {
				continue // raised before, by an earlier run or another instance
			}
			if err != nil {
				return fmt.Errorf("store an alert: %w", err)
			}
			ev := tapdesk.Event{Time: now, Activity: tapdesk.ActAlertRaised, Category: tapdesk.CatSecurity, Actor: tapdesk.SystemActor,
				Reason: a.Summary, RequestID: a.RequestID,
				Details: map[string]string{"alert_id": strconv.FormatInt(a.ID, 10), "rule": string(a.Rule), "subject": a.Subject,
					"event_seq": strconv.FormatInt(a.Seq, 10), "evidence": a.Evidence, "mail": a.Mail}}
			if err := db.appendEvent(ctx, tx, ev); err != nil {
				return err
			}
			if a.Mail == tapdesk.AlertMailQueued {
				if err := db.enqueueAlert(ctx, tx, a, ev, mailTo); err != nil {
					return err
				}
			}
			raised = append(raised, a)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return raised, nil
}

// enqueueAlert queues an alert's mail to each address, with the alert_mail
// row that names the alert and a "Queue mail" event per message.
func (db *DB) enqueueAlert(ctx context.Context, tx *sql.Tx, a tapdesk.Alert, cause tapdesk.Event, to []string) error {
	for _, addr := range to {
		var id int64
		err := tx.QueryRowContext(ctx, `INSERT INTO outbox (kind, request_id, recipient, next_attempt_at, created_at)
			VALUES (?, '', ?, ?, ?) RETURNING id`, mail.KindSecurityAlert, addr, ts(cause.Time), ts(cause.Time)).Scan(&id)
		if err != nil {
			return fmt.Errorf("queue alert mail: %w", err)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO alert_mail (outbox_id, alert_id) VALUES (?, ?)`, id, a.ID); err != nil {
			return fmt.Errorf("queue alert mail: %w", err)
		}
		ev := tapdesk.Event{Time: cause.Time, Activity: tapdesk.ActMailQueued, Category: tapdesk.CatMail, Actor: cause.Actor,
			RequestID: a.RequestID, Details: map[string]string{"kind": mail.KindSecurityAlert, "to": addr, "alert_id": strconv.FormatInt(a.ID, 10)}}
		if err := db.appendEvent(ctx, tx, ev); err != nil {
			return err
		}
	}
	return nil
}

const alertColumns = `id, rule, dedupe_key, subject, summary, event_seq, event_time, request_id, evidence, mail, raised_at`

func scanAlert(s rowScanner) (tapdesk.Alert, error) {
	var a tapdesk.Alert
	var rule string
	err := s.Scan(&a.ID, &rule, &a.Key, &a.Subject, &a.Summary, &a.Seq, timeCol{&a.At}, &a.RequestID, &a.Evidence, &a.Mail, timeCol{&a.RaisedAt})
	a.Rule = tapdesk.AlertRule(rule)
	return a, err
}

// Alerts lists alerts newest first: limit of them, before the id before
// (0: from the newest), and of rule when it is set.
func (db *DB) Alerts(ctx context.Context, rule tapdesk.AlertRule, before int64, limit int) ([]tapdesk.Alert, error) {
	q, args := `SELECT `+alertColumns+` FROM alerts WHERE 1 = 1`, []any{}
	if rule != "" {
		q, args = q+` AND rule = ?`, append(args, string(rule))
	}
	if before > 0 {
		q, args = q+` AND id < ?`, append(args, before)
	}
	q, args = q+` ORDER BY id DESC LIMIT ?`, append(args, limit)
	out, err := queryAll(ctx, db.db, scanAlert, q, args...)
	if err != nil {
		return nil, fmt.Errorf("list alerts: %w", err)
	}
	return out, nil
}

// AlertsSince counts the alerts raised at or after since.
func (db *DB) AlertsSince(ctx context.Context, since time.Time) (int, error) {
	var n int
	if err := db.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM alerts WHERE raised_at >= ?`, ts(since)).Scan(&n); err != nil {
		return 0, fmt.Errorf("count alerts: %w", err)
	}
	return n, nil
}

// MailedAlert is the alert an outbox row mails (ENOTFOUND: none).
func (db *DB) MailedAlert(ctx context.Context, outboxID int64) (tapdesk.Alert, error) {
	a, err := scanAlert(db.db.QueryRowContext(ctx, `SELECT `+prefixed("a.", alertColumns)+` FROM alert_mail m
		JOIN alerts a ON a.id = m.alert_id WHERE m.outbox_id = ?`, outboxID))
	if errors.Is(err, sql.ErrNoRows) {
		return a, tapdesk.Titledf(tapdesk.ENOTFOUND, "Alert not found", "No alert is mailed by outbox item %d.", outboxID)
	}
	if err != nil {
		return a, fmt.Errorf("load the alert of outbox item %d: %w", outboxID, err)
	}
	return a, nil
}

func prefixed(p, cols string) string {
	parts := strings.Split(cols, ", ")
	for i := range parts {
		parts[i] = p + parts[i]
	}
	return strings.Join(parts, ", ")
}
