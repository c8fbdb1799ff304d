package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/tapdesk/tapdesk/siem"
)

// The SIEM stream reads the audit trail after each sink's cursor. That is
// safe as an outbox because seq commits in order: every write transaction
// takes the one write lock (SQLite's, or the advisory lock on PostgreSQL)
// and appends head+1, so no event with a lower seq can commit after one
// with a higher seq has been read. A cursor never skips an event.

// SIEMEvents returns up to limit audit events after afterSeq, oldest
// first, each with its JSON (the export's line shape).
func (db *DB) SIEMEvents(ctx context.Context, afterSeq int64, limit int) ([]siem.Event, error) {
	var r exportRow // reused row after row: each event's JSON is a copy
	out, err := queryAll(ctx, db.db, func(s rowScanner) (siem.Event, error) {
		if err := s.Scan(&r.seq, &r.record, &r.mac, &r.keyID); err != nil {
			return siem.Event{}, err
		}
		if err := parseRecord(r.record, &r.fields); err != nil {
			return siem.Event{}, fmt.Errorf("audit event %d: %w (run tapdesk audit verify)", r.seq, err)
		}
		t, err := parseTS(r.fields[0])
		if err != nil {
			return siem.Event{}, fmt.Errorf("audit event %d time: %w", r.seq, err)
		}
		return siem.Event{Seq: r.seq, Time: t, Activity: r.fields[1], Category: r.fields[2], Result: r.fields[3],
			RequestID: r.fields[13], Mac: r.mac, KeyID: r.keyID, JSON: appendEventJSON(nil, &r)}, nil
	}, `SELECT seq, record, mac, key_id FROM audit_events WHERE seq > ? ORDER BY seq LIMIT ?`, afterSeq, limit)
	if err != nil {
		return nil, fmt.Errorf("read audit events to stream: %w", err)
	}
	return out, nil
}

// TakeSIEMLease takes the sink's lease for holder until until, or renews
// it if holder has it; it fails (held false) while another holder's lease
// runs. One conditional update decides, so two instances asking at once
// never both get it. The sink's row is made on first use.
func (db *DB) TakeSIEMLease(ctx context.Context, sink, holder string, now, until time.Time) (cursor int64, held bool, err error) {
	if err := db.lockWrites(ctx); err != nil {
		return 0, false, err
	}
	defer db.unlockWrites()
	if _, err := db.db.ExecContext(ctx, `INSERT INTO siem_cursors (sink) VALUES (?) ON CONFLICT (sink) DO NOTHING`, sink); err != nil {
		return 0, false, fmt.Errorf("siem cursor for %s: %w", sink, err)
	}
	err = db.db.QueryRowContext(ctx, `UPDATE siem_cursors SET holder = ?, lease_until = ?
		WHERE sink = ? AND (holder = ? OR holder = '' OR lease_until IS NULL OR lease_until < ?)
		RETURNING delivered_seq`, holder, ts(until), sink, holder, ts(now)).Scan(&cursor)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, fmt.Errorf("siem lease for %s: %w", sink, err)
	}
	return cursor, true, nil
}

// AdvanceSIEMCursor records that the sink's receiver acknowledged every
// event after from up to to. It moves the cursor only from where holder
// read it, and only for the lease's holder: one that lost its lease (it
// stalled past it and another instance took over), or whose cursor an
// operator moved meanwhile (a replay), gets siem.ErrLeaseLost, reads the
// cursor again and sends from there, which at worst sends events twice.
func (db *DB) AdvanceSIEMCursor(ctx context.Context, sink, holder string, from, to int64, now time.Time) error {
	if to <= from {
		return fmt.Errorf("siem cursor for %s: %d does not move it forward from %d", sink, to, from)
	}
	if err := db.lockWrites(ctx); err != nil {
		return err
	}
	defer db.unlockWrites()
	return db.moveSIEMCursor(ctx, sink, holder, from, to, now)
}

// moveSIEMCursor moves the sink's cursor from from to to for the lease's
// holder (siem.ErrLeaseLost: not theirs, or moved meanwhile), under the
// caller's write lock. The mac of the event at to goes with it, so a cut
// in the trail's tail below the cursor shows (CheckSIEMCursor).
func (db *DB) moveSIEMCursor(ctx context.Context, sink, holder string, from, to int64, now time.Time) error {
	res, err := db.db.ExecContext(ctx, `UPDATE siem_cursors SET delivered_seq = ?, delivered_at = ?, delivered_mac = `+macAtSeq+`
		WHERE sink = ? AND holder = ? AND delivered_seq = ?`, to, ts(now), to, sink, holder, from)
	if err != nil {
		return fmt.Errorf("siem cursor for %s: %w", sink, err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return fmt.Errorf("siem cursor for %s: %w", sink, err)
	} else if n == 0 {
		return siem.ErrLeaseLost
	}
	return nil
}

// CheckSIEMCursor says whether the trail still holds the event at the
// sink's cursor with the mac it had when it was delivered, and the trail's
// head. A cursor at 0, or no longer at cursor (moved meanwhile: the
// cursor's update catches that), counts as intact.
func (db *DB) CheckSIEMCursor(ctx context.Context, sink string, cursor int64) (head int64, intact bool, err error) {
	if head, err = auditHead(ctx, db.db); err != nil {
		return 0, false, fmt.Errorf("audit head: %w", err)
	}
	if cursor == 0 {
		return head, true, nil
	}
	var want string
	var got sql.NullString
	err = db.db.QueryRowContext(ctx, `SELECT c.delivered_mac, e.mac FROM siem_cursors c
		LEFT JOIN audit_events e ON e.seq = c.delivered_seq WHERE c.sink = ? AND c.delivered_seq = ?`, sink, cursor).Scan(&want, &got)
	if errors.Is(err, sql.ErrNoRows) {
		return head, true, nil
	}
	if err != nil {
		return 0, false, fmt.Errorf("siem cursor for %s: %w", sink, err)
	}
	// An empty mac is a cursor set by hand (a replay or a start at the
	// head, docs/SIEM.md): only the event's presence can be checked.
	return head, got.Valid && (want == "" || got.String == want) && head >= cursor, nil
}

// ResumeSIEMCursor moves the sink's cursor from from, where the trail no
// longer reaches, back to the trail's head, for the lease's holder
// (siem.ErrLeaseLost otherwise). It returns the head.
func (db *DB) ResumeSIEMCursor(ctx context.Context, sink, holder string, from int64, now time.Time) (int64, error) {
	if err := db.lockWrites(ctx); err != nil {
		return 0, err
	}
	defer db.unlockWrites()
	head, err := auditHead(ctx, db.db)
	if err != nil {
		return 0, fmt.Errorf("audit head: %w", err)
	}
	if err := db.moveSIEMCursor(ctx, sink, holder, from, head, now); err != nil {
		return 0, err
	}
	return head, nil
}

// ReleaseSIEMLease gives up holder's lease on the sink, if it has it.
func (db *DB) ReleaseSIEMLease(ctx context.Context, sink, holder string) error {
	if err := db.lockWrites(ctx); err != nil {
		return err
	}
	defer db.unlockWrites()
	if _, err := db.db.ExecContext(ctx, `UPDATE siem_cursors SET holder = '', lease_until = NULL WHERE sink = ? AND holder = ?`,
		sink, holder); err != nil {
		return fmt.Errorf("siem lease for %s: %w", sink, err)
	}
	return nil
}

// SIEMLag is how far the sink is behind the head of the trail: events not
// yet acknowledged (seq is dense, so the head's seq less the cursor), and
// the time of the oldest of them. A sink never used is behind by the whole
// trail: it starts from the first event.
func (db *DB) SIEMLag(ctx context.Context, sink string) (behind int64, oldest time.Time, err error) {
	var cursor int64
	err = db.db.QueryRowContext(ctx, `SELECT delivered_seq FROM siem_cursors WHERE sink = ?`, sink).Scan(&cursor)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return 0, time.Time{}, fmt.Errorf("siem cursor for %s: %w", sink, err)
	}
	head, err := auditHead(ctx, db.db)
	if err != nil {
		return 0, time.Time{}, fmt.Errorf("audit head: %w", err)
	}
	if head <= cursor {
		return 0, time.Time{}, nil
	}
	var at string
	err = db.db.QueryRowContext(ctx, `SELECT time FROM audit_events WHERE seq > ? ORDER BY seq LIMIT 1`, cursor).Scan(&at)
	if errors.Is(err, sql.ErrNoRows) {
		return head - cursor, time.Time{}, nil
	}
	if err != nil {
		return 0, time.Time{}, fmt.Errorf("oldest event not streamed: %w", err)
	}
	oldest, err = parseTS(at)
	if err != nil {
		return 0, time.Time{}, fmt.Errorf("oldest event not streamed: %w", err)
	}
	return head - cursor, oldest, nil
}
