package store

import (
	"context"
	"database/sql"
	"fmt"
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
	m, err := db.readThreatMode(ctx, nil)
	if err != nil {
		return m, err
	}
	c.mu.Lock()
	c.ok, c.gen, c.at, c.mode = true, gen, now, m
	c.mu.Unlock()
	return m, nil
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
func (db *DB) SetThreatMode(ctx context.Context, on bool, by tapdesk.Actor, reason string, ev tapdesk.Event) error {
	return db.inTx(ctx, func(tx *sql.Tx) error {
		if ev.Time.IsZero() {
			ev.Time = db.Now()
		}
		res, err := tx.ExecContext(ctx, `UPDATE threat_mode SET switched_on = ?, changed_at = ?, changed_by_oid = ?, changed_by_name = ?, reason = ?
			WHERE id = 1 AND switched_on = ?`, on, ts(ev.Time), by.ObjectID, by.Name, reason, !on)
		if err != nil {
			return fmt.Errorf("switch threat mode: %w", err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			if on {
				return conflict("Already on", "Heightened-threat mode is already on.")
			}
			return conflict("Already off", "Heightened-threat mode is already off.")
		}
		return db.appendEvent(ctx, tx, ev)
	})
}
