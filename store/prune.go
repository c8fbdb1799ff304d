package store

import (
	"context"
	"database/sql"
	"fmt"
	"strconv"
	"time"

	"github.com/tapdesk/tapdesk"
)

// PruneResult says what Prune removed.
type PruneResult struct {
	Removed       int64
	ThroughSeq    int64 // last removed event
	CheckpointSeq int64 // the checkpoint event written in their place
}

// PruneEvents removes the events older than before and appends a
// checkpoint event carrying the last removed event's number and mac, so the
// chain still verifies from there. It refuses when the chain does not check
// out: pruning must not wash away the evidence of tampering. It holds the
// write lock while it verifies, so nothing is appended in between.
func (db *DB) PruneEvents(ctx context.Context, before time.Time, actor tapdesk.Actor) (PruneResult, error) {
	var res PruneResult
	err := db.inTx(ctx, func(tx *sql.Tx) error {
		rep, err := db.verifyChain(ctx, tx, nil)
		if err != nil {
			return err
		}
		if rep.Break != nil {
			return tapdesk.Titledf(tapdesk.ECONFLICT, "Audit trail does not check out", "The audit trail does not check out at event %d (%s): nothing was pruned. Run tapdesk audit verify.",
				rep.Break.Seq, rep.Break.Kind)
		}
		// The checkpoint says what heightened-threat mode is, so the mode
		// stays held to the trail once the switches before it are gone;
		// a mode held on is not pruned away from its evidence.
		threat, _, err := db.heldThreatMode(ctx, tx)
		if err != nil {
			return err
		}
		if threat.Held != "" {
			return tapdesk.Titledf(tapdesk.ECONFLICT, "Heightened-threat mode held on", "Heightened-threat mode is held on because %s: nothing was pruned. Investigate, then switch it at /admin/threat-mode.", threat.Held)
		}
		// Everything before the first event at or after the cut, so a
		// clock step back never leaves a hole in the middle of the chain.
		var first sql.NullInt64
		if err := tx.QueryRowContext(ctx, `SELECT MIN(seq) FROM audit_events WHERE time >= ?`, ts(before)).Scan(&first); err != nil {
			return fmt.Errorf("find prune point: %w", err)
		}
		through := rep.LastSeq
		if first.Valid {
			through = first.Int64 - 1
		}
		var mac string
		err = tx.QueryRowContext(ctx, `SELECT mac FROM audit_events WHERE seq = ?`, through).Scan(&mac)
		if err == sql.ErrNoRows {
			return nil // nothing older than before
		}
		if err != nil {
			return fmt.Errorf("read prune point: %w", err)
		}
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM audit_events WHERE seq <= ?`, through).Scan(&res.Removed); err != nil {
			return fmt.Errorf("count events to prune: %w", err)
		}
		res.ThroughSeq = through
		res.CheckpointSeq = rep.LastSeq + 1
		// The checkpoint is chained on before the events go: when every
		// event is older than the cut, deleting first would leave no head
		// to chain onto, and the trail would start again at 1.
		if err := db.appendEvent(ctx, tx, tapdesk.Event{
			Activity: tapdesk.ActAuditPruned, Category: tapdesk.CatAudit, Actor: actor,
			Details: map[string]string{
				checkpointThroughSeq:     strconv.FormatInt(through, 10),
				checkpointThroughMAC:     mac,
				"before":                 ts(before),
				"removed":                strconv.FormatInt(res.Removed, 10),
				tapdesk.ThreatModeDetail: tapdesk.OnOff(threat.On),
			}}); err != nil {
			return err
		}
		r, err := tx.ExecContext(ctx, `DELETE FROM audit_events WHERE seq <= ?`, through)
		if err != nil {
			return fmt.Errorf("prune audit events: %w", err)
		}
		if n, _ := r.RowsAffected(); n != res.Removed {
			return fmt.Errorf("prune audit events: %d removed, %d counted", n, res.Removed)
		}
		return nil
	})
	return res, err
}
