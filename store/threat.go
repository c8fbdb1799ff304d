package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"maps"
	"sync"
	"time"

	"github.com/tapdesk/tapdesk"
)

// threatModeTTL is how long the mode read from the database is used while
// the change count cannot be trusted (PostgreSQL with its change feed
// down): another instance's switch is seen within this time. While the
// count is trusted, a switch anywhere is seen by the next page after its
// commit's notice arrives.
const threatModeTTL = 2 * time.Second

// threatCache holds the mode as last read, with the change count and time
// it was read at: every page reads the mode for its banner.
type threatCache struct {
	mu   sync.Mutex
	ok   bool
	gen  uint64
	at   time.Time
	mode tapdesk.ThreatMode
}

// ThreatMode is heightened-threat mode as stored (Forced is the caller's to
// set). Read from memory while nothing was written since (see
// threatModeTTL).
func (db *DB) ThreatMode(ctx context.Context) (tapdesk.ThreatMode, error) {
	gen, trusted := db.Generation()
	now := db.Now()
	c := &db.threat
	c.mu.Lock()
	if c.ok && c.gen == gen && (trusted || now.Sub(c.at) < threatModeTTL) {
		m := c.mode
		c.mu.Unlock()
		return m, nil
	}
	c.mu.Unlock()
	m, err := db.heldThreatMode(ctx, db.db)
	if err != nil {
		return m, err
	}
	c.mu.Lock()
	c.ok, c.gen, c.at, c.mode = true, gen, now, m
	c.mu.Unlock()
	return m, nil
}

// heldThreatMode is the stored mode held to the audit trail's last switch
// (tapdesk.HoldThreatMode).
func (db *DB) heldThreatMode(ctx context.Context, q querier) (tapdesk.ThreatMode, error) {
	var tx *sql.Tx
	if t, ok := q.(*sql.Tx); ok {
		tx = t
	}
	stored, err := db.readThreatMode(ctx, tx)
	if err != nil {
		return stored, err
	}
	last, err := db.lastThreatSwitch(ctx, q)
	if err != nil {
		return stored, err
	}
	m, _ := tapdesk.HoldThreatMode(stored, last)
	return m, nil
}

// lastThreatSwitch reads the trail's last switch of the mode and checks its
// mac against the event before it, or the prune checkpoint standing for
// that event. nil: the trail holds no switch.
func (db *DB) lastThreatSwitch(ctx context.Context, q querier) (*tapdesk.ThreatSwitch, error) {
	var row chainRow
	err := q.QueryRowContext(ctx, `SELECT seq, record, mac, key_id FROM audit_events
		WHERE seq = (SELECT MAX(seq) FROM audit_events WHERE activity = ?)`, string(tapdesk.ActThreatModeChanged)).
		Scan(&row.seq, &row.record, &row.mac, &row.keyID)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read the last switch of heightened-threat mode: %w", err)
	}
	sw := &tapdesk.ThreatSwitch{Seq: row.seq}
	if ev, err := decodeEvent(row.seq, row.record); err == nil {
		sw.On = ev.Details[tapdesk.ThreatModeDetail] == tapdesk.OnOff(true)
	}
	prev, anchored := "", row.seq == 1
	if !anchored {
		err := q.QueryRowContext(ctx, `SELECT mac FROM audit_events WHERE seq = ?`, row.seq-1).Scan(&prev)
		switch {
		case err == nil:
			anchored = true
		case errors.Is(err, sql.ErrNoRows):
			checkpoints, err := db.readCheckpoints(ctx, q)
			if err != nil {
				return nil, err
			}
			var cp checkpoint
			cp, anchored = checkpoints[row.seq-1]
			prev = cp.mac
		default:
			return nil, fmt.Errorf("read the audit event before the last switch of heightened-threat mode: %w", err)
		}
	}
	sw.Verified = anchored && db.keys != nil && db.keys.ring().checks(prev, row.seq, &row)
	return sw, nil
}

func (db *DB) readThreatMode(ctx context.Context, tx *sql.Tx) (tapdesk.ThreatMode, error) {
	const q = `SELECT switched_on, changed_at, changed_by_oid, changed_by_name, reason FROM threat_mode WHERE id = 1`
	st, err := db.statement(ctx, tx, q)
	if err != nil {
		return tapdesk.ThreatMode{}, err
	}
	var m tapdesk.ThreatMode
	var since nullTime
	if err := st.QueryRowContext(ctx).Scan(&m.On, &since, &m.By.ObjectID, &m.By.Name, &m.Reason); err != nil {
		return tapdesk.ThreatMode{}, fmt.Errorf("read threat mode: %w", err)
	}
	if since.t != nil {
		m.Since = *since.t
	}
	return m, nil
}

// SetThreatMode switches the mode to on, by whom and why, with its audit
// event in the same transaction. The update is conditional: a switch that
// finds the mode already as asked (two admins at once) changes nothing and
// is a conflict.
//
// "As asked" is the mode as held to the trail (heldThreatMode): a row
// switched off behind tapdesk's back holds the mode on, and switching it
// off here then records the switch the row lacks. Switches are written
// under the write lock, so the mode read is the one replaced.
func (db *DB) SetThreatMode(ctx context.Context, on bool, by tapdesk.Actor, reason string, ev tapdesk.Event) error {
	return db.inTx(ctx, func(tx *sql.Tx) error {
		if ev.Time.IsZero() {
			ev.Time = db.Now()
		}
		cur, err := db.heldThreatMode(ctx, tx)
		if err != nil {
			return err
		}
		if cur.On == on {
			if on {
				return conflict("Already on", "Heightened-threat mode is already on.")
			}
			return conflict("Already off", "Heightened-threat mode is already off.")
		}
		if _, err := tx.ExecContext(ctx, `UPDATE threat_mode SET switched_on = ?, changed_at = ?, changed_by_oid = ?, changed_by_name = ?, reason = ?
			WHERE id = 1`, on, ts(ev.Time), by.ObjectID, by.Name, reason); err != nil {
			return fmt.Errorf("switch threat mode: %w", err)
		}
		// The event says what the row now says: that is what the mode is
		// held to (lastThreatSwitch).
		ev.Details = maps.Clone(ev.Details)
		if ev.Details == nil {
			ev.Details = map[string]string{}
		}
		ev.Details[tapdesk.ThreatModeDetail] = tapdesk.OnOff(on)
		return db.appendEvent(ctx, tx, ev)
	})
}

// ThreatModeFinding is why the mode is held on, when it is
// (tapdesk.HoldThreatMode), read afresh for the sweep's tamper check.
func (db *DB) ThreatModeFinding(ctx context.Context) (string, error) {
	stored, err := db.readThreatMode(ctx, nil)
	if err != nil {
		return "", err
	}
	last, err := db.lastThreatSwitch(ctx, db.db)
	if err != nil {
		return "", err
	}
	_, finding := tapdesk.HoldThreatMode(stored, last)
	return finding, nil
}
