package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/tapdesk/tapdesk"
)

// Published checkpoints (package evidence signs and publishes them; these
// are their rows). A slot is an interval's start or a one-off name.

// ClaimCheckpointSlot claims slot for this instance: true if it is now
// this instance's to publish. On several instances, exactly one insert
// lands; a claim left unsigned for longer than lease (its instance
// stopped half-way) is taken over.
func (db *DB) ClaimCheckpointSlot(ctx context.Context, slot string, now time.Time, lease time.Duration) (bool, error) {
	claimed := false
	err := db.inQuietTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `INSERT INTO published_checkpoints (slot, claimed_at) VALUES (?, ?) ON CONFLICT (slot) DO NOTHING`, slot, ts(now))
		if err != nil {
			return fmt.Errorf("claim checkpoint %s: %w", slot, err)
		}
		if n, _ := res.RowsAffected(); n == 1 {
			claimed = true
			return nil
		}
		res, err = tx.ExecContext(ctx, `UPDATE published_checkpoints SET claimed_at = ? WHERE slot = ? AND seq IS NULL AND claimed_at < ?`,
			ts(now), slot, ts(now.Add(-lease)))
		if err != nil {
			return fmt.Errorf("take over checkpoint %s: %w", slot, err)
		}
		n, _ := res.RowsAffected()
		claimed = n == 1
		return nil
	})
	return claimed, err
}

// RecordCheckpoint stores the signed checkpoint of a claimed slot and
// audits its publication, in one transaction.
func (db *DB) RecordCheckpoint(ctx context.Context, slot string, seq int64, mac, line string, ev tapdesk.Event) error {
	return db.inQuietTx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `UPDATE published_checkpoints SET seq = ?, mac = ?, line = ? WHERE slot = ?`, seq, mac, line, slot); err != nil {
			return fmt.Errorf("record checkpoint %s: %w", slot, err)
		}
		return db.appendEvent(ctx, tx, ev)
	})
}

// ReleaseCheckpointSlot gives up a claim that was not signed (the trail
// did not verify), so the slot holds nothing that looks published.
func (db *DB) ReleaseCheckpointSlot(ctx context.Context, slot string) error {
	if err := db.lockWrites(ctx); err != nil {
		return err
	}
	defer db.unlockWrites()
	_, err := db.db.ExecContext(ctx, `DELETE FROM published_checkpoints WHERE slot = ? AND seq IS NULL`, slot)
	return err
}

// LatestCheckpoint is the line of the checkpoint with the highest seq
// ("" when none was published).
func (db *DB) LatestCheckpoint(ctx context.Context) (string, error) {
	return db.checkpointLine(ctx, `SELECT line FROM published_checkpoints WHERE seq IS NOT NULL ORDER BY seq DESC LIMIT 1`)
}

// CheckpointFrom is the line of the earliest checkpoint at or after event
// seq ("" when there is none yet).
func (db *DB) CheckpointFrom(ctx context.Context, seq int64) (string, error) {
	return db.checkpointLine(ctx, `SELECT line FROM published_checkpoints WHERE seq >= ? ORDER BY seq LIMIT 1`, seq)
}

func (db *DB) checkpointLine(ctx context.Context, q string, args ...any) (string, error) {
	var line string
	err := db.db.QueryRowContext(ctx, q, args...).Scan(&line)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("read published checkpoint: %w", err)
	}
	return line, nil
}

// SealedEvent is an audit event with the mac the trail holds for it.
type SealedEvent struct {
	tapdesk.Event
	MAC string
}

// SealedEvents lists a request's events, oldest first, with their macs.
func (db *DB) SealedEvents(ctx context.Context, requestID string) ([]SealedEvent, error) {
	out, err := queryAll(ctx, db.db, func(s rowScanner) (SealedEvent, error) {
		var seq int64
		var record, mac string
		if err := s.Scan(&seq, &record, &mac); err != nil {
			return SealedEvent{}, err
		}
		ev, err := decodeEvent(seq, record)
		return SealedEvent{Event: ev, MAC: mac}, err
	}, `SELECT seq, record, mac FROM audit_events WHERE request_id = ? ORDER BY seq`, requestID)
	if err != nil {
		return nil, fmt.Errorf("read the request's audit events: %w", err)
	}
	return out, nil
}

// EventMAC is the mac the trail holds for event seq (found false: no such
// event, e.g. pruned or cut off).
func (db *DB) EventMAC(ctx context.Context, seq int64) (mac string, found bool, err error) {
	err = db.db.QueryRowContext(ctx, `SELECT mac FROM audit_events WHERE seq = ?`, seq).Scan(&mac)
	if errors.Is(err, sql.ErrNoRows) {
		return "", false, nil
	}
	if err != nil {
		return "", false, fmt.Errorf("read event %d: %w", seq, err)
	}
	return mac, true, nil
}

// RequestLastSeq is the seq of the request's newest audit event (0: none).
func (db *DB) RequestLastSeq(ctx context.Context, requestID string) (int64, error) {
	var seq sql.NullInt64
	if err := db.db.QueryRowContext(ctx, `SELECT MAX(seq) FROM audit_events WHERE request_id = ?`, requestID).Scan(&seq); err != nil {
		return 0, fmt.Errorf("read the request's audit events: %w", err)
	}
	return seq.Int64, nil
}
