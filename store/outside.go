package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/tapdesk/tapdesk"
)

// Passes made outside tapdesk (migrations 00012): the cursor of the scans
// of Entra's directory audit log, the entries examined, and the passes no
// issue of tapdesk explained.

// OutsidePassCursor is where the next scan reads from (before the log's
// delay is taken off); ok is false before the first complete scan.
func (db *DB) OutsidePassCursor(ctx context.Context) (at time.Time, ok bool, err error) {
	var raw string
	err = db.db.QueryRowContext(ctx, `SELECT read_from FROM outside_pass_cursor WHERE id = 1`).Scan(&raw)
	if errors.Is(err, sql.ErrNoRows) {
		return time.Time{}, false, nil
	}
	if err != nil {
		return time.Time{}, false, fmt.Errorf("read the outside-pass cursor: %w", err)
	}
	at, err = parseTS(raw)
	return at, err == nil, err
}

// SetOutsidePassCursor moves the cursor to at, once a scan has read
// everything from before it, and forgets the entries examined before
// forgetBefore (no scan reads that far back again). The cursor never moves
// back: two instances scanning at once leave the later one.
func (db *DB) SetOutsidePassCursor(ctx context.Context, at, forgetBefore time.Time) error {
	return db.inQuietTx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `INSERT INTO outside_pass_cursor (id, read_from) VALUES (1, ?)
			ON CONFLICT (id) DO UPDATE SET read_from = excluded.read_from
			WHERE outside_pass_cursor.read_from < excluded.read_from`, ts(at)); err != nil {
			return fmt.Errorf("move the outside-pass cursor: %w", err)
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM directory_audits_examined WHERE activity_at < ?`, ts(forgetBefore)); err != nil {
			return fmt.Errorf("forget examined directory audits: %w", err)
		}
		return nil
	})
}

// DirectoryAuditExamined reports whether the entry was examined already.
func (db *DB) DirectoryAuditExamined(ctx context.Context, auditID string) (bool, error) {
	var n int
	err := db.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM directory_audits_examined WHERE audit_id = ?`, auditID).Scan(&n)
	if err != nil {
		return false, fmt.Errorf("look up directory audit %s: %w", auditID, err)
	}
	return n > 0, nil
}

// ExplainByIssue looks for an issue of tapdesk that explains the pass
// registration r: an issue attempt (tapdesk.ActIssueAttempt) for r's user
// between from and to that made a pass (it names the pass's method id: a
// pass issued, or one created but deleted unseen) and explains no other
// registration. An issue begun whose create failed made no pass, so it
// explains nothing. The user is matched on r's object id, or on its UPN
// when the entry names no id. If there is one, r is recorded as examined
// and explained by it. explained is false when no issue fits; nothing is
// written then.
func (db *DB) ExplainByIssue(ctx context.Context, r tapdesk.PassRegistration, from, to, now time.Time) (explained bool, err error) {
	if r.TargetID == "" && r.TargetUPN == "" {
		return false, nil
	}
	err = db.inQuietTx(ctx, func(tx *sql.Tx) error {
		user, arg := `target_id = ?`, r.TargetID
		if r.TargetID == "" {
			user, arg = `LOWER(target_upn) = LOWER(?)`, r.TargetUPN
		}
		var seq int64
		err := tx.QueryRowContext(ctx, `SELECT seq FROM audit_events WHERE activity = ? AND COALESCE(`+db.dialect.recordField(15)+`, '') <> '' AND `+user+`
			AND time >= ? AND time <= ?
			AND seq NOT IN (SELECT issue_seq FROM directory_audits_examined WHERE issue_seq IS NOT NULL)
			ORDER BY seq LIMIT 1`, string(tapdesk.ActIssueAttempt), arg, ts(from), ts(to)).Scan(&seq)
		if errors.Is(err, sql.ErrNoRows) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("look for the issue behind directory audit %s: %w", r.AuditID, err)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO directory_audits_examined (audit_id, activity_at, issue_seq, examined_at)
			VALUES (?, ?, ?, ?) ON CONFLICT (audit_id) DO NOTHING`, r.AuditID, ts(r.At), seq, ts(now)); err != nil {
			return fmt.Errorf("note directory audit %s examined: %w", r.AuditID, err)
		}
		explained = true
		return nil
	})
	return explained, err
}

// RecordOutsidePass records a pass no issue explains, with its audit event,
// in one transaction. recorded is false when the entry was examined
// meanwhile (another instance's scan): nothing is written then.
func (db *DB) RecordOutsidePass(ctx context.Context, p tapdesk.OutsidePass, ev tapdesk.Event) (recorded bool, err error) {
	err = db.inQuietTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `INSERT INTO directory_audits_examined (audit_id, activity_at, issue_seq, examined_at)
			VALUES (?, ?, NULL, ?) ON CONFLICT (audit_id) DO NOTHING`, p.AuditID, ts(p.At), ts(p.FoundAt))
		if err != nil {
			return fmt.Errorf("note directory audit %s examined: %w", p.AuditID, err)
		}
		if n, _ := res.RowsAffected(); n != 1 {
			return nil
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO outside_passes (audit_id, created_at, target_id, target_upn, target_name,
			by_app, by_id, by_upn, by_name, by_ip, via_tapdesk_app, method_id, found_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			p.AuditID, ts(p.At), p.TargetID, p.TargetUPN, p.TargetName, p.ByApp, p.ByID, p.ByUPN, p.ByName, p.ByIP,
			p.ViaTapdeskApp, p.MethodID, ts(p.FoundAt)); err != nil {
			return fmt.Errorf("record outside pass %s: %w", p.AuditID, err)
		}
		if err := db.appendEvent(ctx, tx, ev); err != nil {
			return err
		}
		recorded = true
		return nil
	})
	return recorded, err
}

// OutsidePassDeleted records that the outside pass of the directory audit
// entry was deleted at at (gone: it was gone already), with ev when there is
// an event to write.
func (db *DB) OutsidePassDeleted(ctx context.Context, auditID string, at time.Time, gone bool, ev *tapdesk.Event) error {
	return db.inQuietTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE outside_passes SET deleted_at = ?, gone = ? WHERE audit_id = ? AND deleted_at IS NULL`,
			ts(at), gone, auditID)
		if err != nil {
			return fmt.Errorf("record outside pass %s deleted: %w", auditID, err)
		}
		if n, _ := res.RowsAffected(); n != 1 {
			return conflict("Already handled", "The outside pass was recorded as deleted meanwhile.")
		}
		if ev != nil {
			return db.appendEvent(ctx, tx, *ev)
		}
		return nil
	})
}

// OutsidePassesToDelete lists the outside passes not deleted yet, oldest
// first (at most limit).
func (db *DB) OutsidePassesToDelete(ctx context.Context, limit int) ([]tapdesk.OutsidePass, error) {
	return db.outsidePasses(ctx, `WHERE deleted_at IS NULL ORDER BY created_at LIMIT ?`, limit)
}

// OutsidePasses lists the passes made outside tapdesk, newest first (at
// most limit).
func (db *DB) OutsidePasses(ctx context.Context, limit int) ([]tapdesk.OutsidePass, error) {
	return db.outsidePasses(ctx, `ORDER BY created_at DESC, audit_id LIMIT ?`, limit)
}

func (db *DB) outsidePasses(ctx context.Context, where string, args ...any) ([]tapdesk.OutsidePass, error) {
	out, err := queryAll(ctx, db.db, scanOutsidePass, `SELECT audit_id, created_at, target_id, target_upn, target_name, by_app, by_id, by_upn,
		by_name, by_ip, via_tapdesk_app, method_id, found_at, deleted_at, gone FROM outside_passes `+where, args...)
	if err != nil {
		return nil, fmt.Errorf("list outside passes: %w", err)
	}
	return out, nil
}

func scanOutsidePass(s rowScanner) (tapdesk.OutsidePass, error) {
	var p tapdesk.OutsidePass
	var deleted nullTime
	err := s.Scan(&p.AuditID, timeCol{&p.At}, &p.TargetID, &p.TargetUPN, &p.TargetName, &p.ByApp, &p.ByID, &p.ByUPN,
		&p.ByName, &p.ByIP, &p.ViaTapdeskApp, &p.MethodID, timeCol{&p.FoundAt}, &deleted, &p.Gone)
	p.DeletedAt = deleted.t
	return p, err
}
