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
	// stored is the row the mode was last held from, and switchAt when
	// the trail's last switch was read with it: a page after a write reads
	// the row again (one query), and the switch only when the row changed
	// or threatSwitchTTL has passed.
	stored   tapdesk.ThreatMode
	switchAt time.Time
	// broken is what this process's walk of the trail after the last
	// switch found wrong (WalkThreatTrail); it holds the mode on.
	broken string
}

// threatSwitchTTL bounds how long the trail's last switch, read with the
// row, is used while the row reads the same. A switch made through
// tapdesk changes the row, so it is read at once; the switch's event
// changing alone (edited, or hidden) is what the sweep's walk finds.
const threatSwitchTTL = 10 * time.Second

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
	stored, err := readThreatRow(ctx, db.db)
	if err != nil {
		return stored, err
	}
	c.mu.Lock()
	if c.ok && c.stored == stored && now.Sub(c.switchAt) < threatSwitchTTL && !now.Before(c.switchAt) {
		// The row as when the mode was last held from it: so is the mode.
		c.gen, c.at = gen, now
		m := c.mode
		c.mu.Unlock()
		return m, nil
	}
	c.mu.Unlock()
	// The row changed (a switch) or the switch read is old: row and switch
	// again, in one snapshot.
	m, stored, err := db.heldThreatModeSnapshot(ctx)
	if err != nil {
		return m, err
	}
	c.mu.Lock()
	c.ok, c.gen, c.at, c.mode, c.stored, c.switchAt = true, gen, now, m, stored, now
	c.mu.Unlock()
	return m, nil
}

// heldThreatMode is the stored mode held to the audit trail's last switch
// (tapdesk.HoldThreatMode; Held is the finding when it is held), and the
// row it was held from, read through q: a transaction, or a connection in
// one read snapshot (heldThreatModeSnapshot).
func (db *DB) heldThreatMode(ctx context.Context, q querier) (m, stored tapdesk.ThreatMode, err error) {
	stored, err = readThreatRow(ctx, q)
	if err != nil {
		return stored, stored, err
	}
	last, _, err := db.lastThreatSwitch(ctx, q)
	if err != nil {
		return stored, stored, err
	}
	db.threat.mu.Lock()
	broken := db.threat.broken
	db.threat.mu.Unlock()
	if broken != "" {
		if last == nil {
			last = &tapdesk.ThreatSwitch{On: stored.On, Verified: true}
		}
		last.Broken = broken
	}
	m, _ = tapdesk.HoldThreatMode(stored, last)
	return m, stored, nil
}

// heldThreatModeSnapshot is heldThreatMode in a read snapshot of its own: the row and the trail as of one moment, or a switch committed
// between the two reads would look like tampering.
func (db *DB) heldThreatModeSnapshot(ctx context.Context) (m, stored tapdesk.ThreatMode, err error) {
	conn, err := db.db.Conn(ctx)
	if err != nil {
		return m, stored, err
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, db.dialect.snapshot); err != nil {
		return m, stored, fmt.Errorf("begin read: %w", err)
	}
	defer conn.ExecContext(context.WithoutCancel(ctx), "ROLLBACK")
	return db.heldThreatMode(ctx, conn)
}

// lastThreatSwitch reads the trail's last switch of the mode and checks its
// mac against the event before it, or the prune checkpoint standing for
// that event, with the switch's own mac. nil: the trail holds no switch.
func (db *DB) lastThreatSwitch(ctx context.Context, q querier) (*tapdesk.ThreatSwitch, string, error) {
	// A prune checkpoint says what the mode was when it removed the
	// switches before it.
	var row chainRow
	err := q.QueryRowContext(ctx, `SELECT seq, record, mac, key_id FROM audit_events
		WHERE seq = (SELECT MAX(seq) FROM audit_events WHERE activity IN (?, ?))`,
		string(tapdesk.ActThreatModeChanged), string(tapdesk.ActAuditPruned)).
		Scan(&row.seq, &row.record, &row.mac, &row.keyID)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, "", nil
	}
	if err != nil {
		return nil, "", fmt.Errorf("read the last switch of heightened-threat mode: %w", err)
	}
	sw := &tapdesk.ThreatSwitch{Seq: row.seq}
	ev, err := decodeEvent(row.seq, row.record)
	on, isSwitch := tapdesk.ThreatSwitchOf(ev)
	if err == nil && ev.Activity == tapdesk.ActAuditPruned && !isSwitch {
		return nil, "", nil // a checkpoint from before checkpoints said the mode
	}
	sw.On = on
	if err == nil && isSwitch && ev.Activity == tapdesk.ActThreatModeChanged {
		sw.Time, sw.By, sw.Reason = ev.Time, ev.Actor, ev.Reason
	}
	prev, _, anchored, aerr := db.anchorOf(ctx, q, row.seq)
	if aerr != nil {
		return nil, "", fmt.Errorf("read the audit event before the last switch of heightened-threat mode: %w", aerr)
	}
	sw.Verified = err == nil && isSwitch && anchored && db.keys != nil && db.keys.ring().checks(prev, row.seq, &row)
	return sw, row.mac, nil
}

// readThreatRow reads the mode's row through q (Missing or Unreadable when
// it is not what tapdesk writes).
func readThreatRow(ctx context.Context, q querier) (tapdesk.ThreatMode, error) {
	// Read as stored values, so that a row written with values tapdesk
	// never writes (switched_on = 2, a date that is not one) holds the mode
	// on (HoldThreatMode) instead of failing every page that reads it.
	var on, at, oid, name, reason any
	if err := q.QueryRowContext(ctx, `SELECT switched_on, changed_at, changed_by_oid, changed_by_name, reason FROM threat_mode WHERE id = 1`).
		Scan(&on, &at, &oid, &name, &reason); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			// Deleted behind tapdesk's back: held on (HoldThreatMode).
			return tapdesk.ThreatMode{Missing: true}, nil
		}
		return tapdesk.ThreatMode{}, fmt.Errorf("read threat mode: %w", err)
	}
	var m tapdesk.ThreatMode
	unreadable := func(col string) (tapdesk.ThreatMode, error) {
		return tapdesk.ThreatMode{Unreadable: col + " holds a value tapdesk never writes"}, nil
	}
	switch v := on.(type) {
	case bool:
		m.On = v
	case int64:
		if v != 0 && v != 1 {
			return unreadable("switched_on")
		}
		m.On = v == 1
	default:
		return unreadable("switched_on")
	}
	var since nullTime
	if err := since.Scan(at); err != nil {
		return unreadable("changed_at")
	}
	if since.t != nil {
		m.Since = *since.t
	}
	for _, f := range []struct {
		col string
		v   any
		to  *string
	}{{"changed_by_oid", oid, &m.By.ObjectID}, {"changed_by_name", name, &m.By.Name}, {"reason", reason, &m.Reason}} {
		switch v := f.v.(type) {
		case string:
			*f.to = v
		case []byte:
			*f.to = string(v)
		default:
			return unreadable(f.col)
		}
	}
	return m, nil
}

// SetThreatMode switches the mode to on, by whom and why, with its audit
// event in the same transaction. A switch that finds the mode already as
// asked (two admins at once) changes nothing and is a conflict.
//
// "As asked" is the mode as held to the trail (heldThreatMode): a row
// switched off behind tapdesk's back holds the mode on, and switching it
// off, or on, here records the switch the row lacks. Switches are written
// under the write lock, so the mode read is the one replaced.
func (db *DB) SetThreatMode(ctx context.Context, on bool, by tapdesk.Actor, reason string, ev tapdesk.Event) error {
	return db.inTx(ctx, func(tx *sql.Tx) error {
		if ev.Time.IsZero() {
			ev.Time = db.Now()
		}
		cur, _, err := db.heldThreatMode(ctx, tx)
		if err != nil {
			return err
		}
		if cur.On == on && !(on && cur.Held != "") {
			if on {
				return conflict("Already on", "Heightened-threat mode is already on.")
			}
			return conflict("Already off", "Heightened-threat mode is already off.")
		}
		// An upsert: a switch puts back a row deleted behind tapdesk's back.
		if _, err := tx.ExecContext(ctx, `INSERT INTO threat_mode (id, switched_on, changed_at, changed_by_oid, changed_by_name, reason)
			VALUES (1, ?, ?, ?, ?, ?)
			ON CONFLICT (id) DO UPDATE SET switched_on = excluded.switched_on, changed_at = excluded.changed_at,
				changed_by_oid = excluded.changed_by_oid, changed_by_name = excluded.changed_by_name, reason = excluded.reason`,
			on, ts(ev.Time), by.ObjectID, by.Name, reason); err != nil {
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
	m, _, err := db.heldThreatModeSnapshot(ctx)
	return m.Held, err
}

// WalkThreatTrail walks the audit trail from the last switch of the mode
// (from, when this process walked before: only what was written since) to
// its head, and returns the head to start from next time. A switch is read
// as the newest one in the trail; editing or removing a later switch to
// hide it breaks the chain after it, which this walk finds: the mode is
// then held on (tapdesk.ThreatSwitch.Broken) for as long as this process
// runs, and the finding says why.
func (db *DB) WalkThreatTrail(ctx context.Context, from *Head) (*Head, error) {
	if from == nil {
		last, mac, err := db.lastThreatSwitch(ctx, db.db)
		if err != nil {
			return nil, err
		}
		if last != nil {
			from = &Head{Seq: last.Seq, MAC: mac}
		}
	}
	w := TrailWalk{From: from, Full: from == nil}
	rep, _, err := db.VerifySince(ctx, w)
	if err != nil {
		return from, err
	}
	if rep.Break != nil {
		db.threat.mu.Lock()
		db.threat.broken = fmt.Sprintf("event %d: %s", rep.Break.Seq, rep.Break.Detail)
		db.threat.ok = false // hold the mode from the next read on
		db.threat.mu.Unlock()
		return from, nil
	}
	if rep.LastSeq == 0 {
		return from, nil
	}
	return &Head{Seq: rep.LastSeq, MAC: rep.HeadMAC}, nil
}
