package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"strconv"

	"github.com/tapdesk/tapdesk"
)

// TrailWalk says what VerifySince walks and checks.
type TrailWalk struct {
	// Signed is the last checkpoint tapdesk signed (its signature checked
	// by the caller), or nil. The walk starts at it unless Full is set.
	//
	// Why starting there is sound: the checkpoint was signed only after a
	// walk found the trail up to it intact, and its signature pins the mac
	// of its event. Each mac covers the mac before it, so nobody can
	// rewrite an event up to the checkpoint and forge macs that reach the
	// signed one again, without breaking the chain at the seam: the
	// checkpoint's event is re-checked against the stored mac before it
	// and must still carry the signed mac. What the seam cannot see is a
	// rewrite made without the audit key (a record changed, its mac left
	// as it was): the macs after it still chain, so only a walk over that
	// event catches it. That is why a full walk still runs on a schedule
	// (tapdesk.AuditFullVerifyEvery) and on demand (audit verify).
	Signed *Head
	// From, when Signed is not set, starts the walk at this head, which the
	// trail must still hold with its mac (WalkThreatTrail).
	From *Head
	// Full walks from the first event kept (1, or just after a prune
	// checkpoint), still checking Signed and Carry.
	Full bool
	// Carry are other heads the trail must still hold with their macs (a
	// checkpoint an evidence pack is about to name). They must lie at or
	// after the walk's start.
	Carry []Head
	// RequestID, when set, moves the start back to the request's first
	// event if it is older, and collects the request's events as the walk
	// verified them (for an evidence pack).
	RequestID string
}

// VerifySince walks the audit trail from the last signed checkpoint (or
// the request's first event, if older) to its head in one snapshot, and
// reports the first event that does not check out: the checks of
// VerifyChain over that stretch, plus what a walk from the middle needs:
// the seam at the checkpoint, the checkpoint's own publication event after
// it (RecordCheckpoint writes it with the checkpoint, so a trail without
// it was cut off after the checkpoint), and the newest head this process
// saw written. It does not replay requests (VerifyChain's Unexplained):
// checkpoints and packs sign the chain, not the requests table.
func (db *DB) VerifySince(ctx context.Context, w TrailWalk) (rep VerifyReport, sealed []SealedEvent, err error) {
	if db.keys == nil {
		return rep, nil, ErrNoAuditKey
	}
	conn, err := db.db.Conn(ctx)
	if err != nil {
		return rep, nil, err
	}
	defer conn.Close()
	// Read before the snapshot begins: every head seen so far was
	// committed before it, so the snapshot must reach it.
	seen := db.seenHead.Load()
	if _, err := conn.ExecContext(ctx, db.dialect.snapshot); err != nil {
		return rep, nil, fmt.Errorf("begin read: %w", err)
	}
	defer conn.ExecContext(context.WithoutCancel(ctx), "ROLLBACK")
	rep, sealed, err = db.walkSince(ctx, conn, w)
	if err != nil || rep.Break != nil {
		return rep, nil, err
	}
	if rep.LastSeq < seen {
		rep.Break = &ChainBreak{Seq: rep.LastSeq + 1, Kind: BreakMissing, Detail: fmt.Sprintf(
			"events were cut off the end: tapdesk wrote event %d, and the trail now ends at event %d", seen, rep.LastSeq)}
		return rep, nil, nil
	}
	db.sawHead(rep.LastSeq)
	return rep, sealed, nil
}

func (db *DB) walkSince(ctx context.Context, q querier, w TrailWalk) (rep VerifyReport, sealed []SealedEvent, err error) {
	if rep.Break, err = db.checkSchema(ctx, q); rep.Break != nil || err != nil {
		return rep, nil, err
	}
	var lo, hi sql.NullInt64
	if err := q.QueryRowContext(ctx, `SELECT MIN(seq), MAX(seq) FROM audit_events`).Scan(&lo, &hi); err != nil {
		return rep, nil, fmt.Errorf("read the audit trail's ends: %w", err)
	}
	if !lo.Valid {
		rep.Break, err = checkTail(ctx, q, "")
		if rep.Break == nil && err == nil && w.Signed != nil {
			rep.Break = &ChainBreak{Seq: 1, Kind: BreakMissing, Detail: fmt.Sprintf(
				"the audit trail is empty, but tapdesk signed a checkpoint at event %d: its events were deleted", w.Signed.Seq)}
		}
		return rep, nil, err
	}
	carry := w.Carry
	if w.Signed != nil {
		carry = append([]Head{*w.Signed}, carry...)
	} else if w.From != nil {
		carry = append([]Head{*w.From}, carry...)
	}
	// What tapdesk knows of each head, for the sentences below.
	known, macKnown := "signed a checkpoint at", "signed for it in a checkpoint"
	if w.Signed == nil && w.From != nil {
		known, macKnown = "read earlier, with its mac,", "read for it earlier"
	}
	for _, h := range carry {
		if h.Seq > hi.Int64 {
			rep.Break = &ChainBreak{Seq: hi.Int64 + 1, Kind: BreakMissing, Detail: fmt.Sprintf(
				"tapdesk %s event %d, but the trail ends at event %d: events were cut off the end", known, h.Seq, hi.Int64)}
			return rep, nil, nil
		}
	}
	start := lo.Int64
	if w.Signed != nil && !w.Full && w.Signed.Seq > lo.Int64 {
		start, rep.SignedSeq = w.Signed.Seq, w.Signed.Seq
	} else if w.Signed == nil && w.From != nil && !w.Full && w.From.Seq > lo.Int64 {
		start = w.From.Seq
	}
	if w.RequestID != "" {
		var first sql.NullInt64
		if err := q.QueryRowContext(ctx, `SELECT MIN(seq) FROM audit_events WHERE request_id = ?`, w.RequestID).Scan(&first); err != nil {
			return rep, nil, fmt.Errorf("read the request's audit events: %w", err)
		}
		if first.Valid && first.Int64 < start {
			start = first.Int64
		}
	}
	rep.FirstSeq = start

	// The mac the first event walked chains onto, and the key that signed it.
	prev, prevKey := "", ""
	switch {
	case start == 1:
	case start == lo.Int64:
		checkpoints, err := db.readCheckpoints(ctx, q)
		if err != nil {
			return rep, nil, err
		}
		cp, ok := checkpoints[start-1]
		if !ok {
			rep.Break = &ChainBreak{Seq: 1, Kind: BreakMissing, Detail: fmt.Sprintf(
				"events %s are missing and no prune checkpoint accounts for them", seqRange(1, start-1))}
			return rep, nil, nil
		}
		prev, rep.CheckpointSeq = cp.mac, cp.seq
	default:
		err := q.QueryRowContext(ctx, `SELECT mac, key_id FROM audit_events WHERE seq = ?`, start-1).Scan(&prev, &prevKey)
		if err == sql.ErrNoRows {
			rep.Break = &ChainBreak{Seq: start - 1, Kind: BreakMissing, Detail: fmt.Sprintf("event %d is missing", start-1)}
			return rep, nil, nil
		}
		if err != nil {
			return rep, nil, fmt.Errorf("read audit event %d: %w", start-1, err)
		}
	}

	pipe, err := startRowPipe(ctx, q, `SELECT seq, record, mac, key_id FROM audit_events WHERE seq >= ? ORDER BY seq`, start)
	if err != nil {
		return rep, nil, err
	}
	defer pipe.close()
	h := db.keys.ring()
	// verify's key rule (keyOrder), plus what a walk from the middle
	// cannot learn from the events before it: every configured key but the
	// current one is older, so once the current key has signed, no other
	// key may sign after it.
	order := keyOrder{retired: map[string]int64{}}
	current := prevKey != "" && prevKey == db.keys.current
	want := map[int64]string{}
	for _, c := range carry {
		want[c.Seq] = c.MAC
	}
	published := w.Signed == nil
	expect, last := start, ""
	cur, err := pipe.next()
	if err != nil {
		return rep, nil, err
	}
	for cur != nil {
		next, err := pipe.next()
		if err != nil {
			return rep, nil, err
		}
		if cur.seq != expect || !h.checks(prev, expect, cur) {
			rep.Break = classify(h, prev, expect, cur, next, rep.Checked == 0 && start == 1)
			return rep, nil, nil
		}
		signer := h.signer(cur)
		if rep.Break = order.next(cur.seq, signer); rep.Break != nil {
			return rep, nil, nil
		}
		if signer == db.keys.current {
			current = true
		} else if current {
			rep.Break = &ChainBreak{Seq: cur.seq, Kind: BreakRetiredKey, Detail: fmt.Sprintf(
				"event %d was signed with key id %s after the current key had signed: tapdesk never signs with an older key again", cur.seq, signer)}
			return rep, nil, nil
		}
		if mac, ok := want[cur.seq]; ok && mac != cur.mac {
			rep.Break = &ChainBreak{Seq: cur.seq, Kind: BreakChanged, Detail: fmt.Sprintf(
				"event %d does not carry the mac tapdesk %s: the trail was rewritten up to there", cur.seq, macKnown)}
			return rep, nil, nil
		}
		if rep.AlarmSeq == 0 {
			if rep.AlarmSeq, err = alarm(cur); err != nil {
				return rep, nil, err
			}
		}
		if !published && cur.seq > w.Signed.Seq {
			if published, err = publishes(cur, *w.Signed); err != nil {
				return rep, nil, err
			}
		}
		if w.RequestID != "" {
			if id, fast := recordField(cur.record, 13); !fast || id == w.RequestID {
				ev, err := decodeEvent(cur.seq, cur.record)
				if err != nil {
					return rep, nil, err
				}
				if ev.RequestID == w.RequestID {
					sealed = append(sealed, SealedEvent{Event: ev, MAC: cur.mac})
				}
			}
		}
		rep.Checked++
		rep.LastSeq, rep.HeadMAC, last = cur.seq, cur.mac, cur.record
		prev, expect, cur = cur.mac, expect+1, next
	}
	if rep.Break = rep.reachesPublished(w.Signed, published); rep.Break != nil {
		return rep, nil, nil
	}
	var f [numRecordFields]string
	if err := parseRecord(last, &f); err != nil {
		return rep, nil, fmt.Errorf("audit event %d: %w", rep.LastSeq, err)
	}
	if rep.Break, err = checkTail(ctx, q, f[0]); rep.Break != nil {
		rep.Break.Seq = rep.LastSeq + 1
	}
	return rep, sealed, err
}

// publishes says whether row is the publication event of checkpoint cp
// (RecordCheckpoint writes it after the checkpoint, with its seq and mac).
func publishes(row *chainRow, cp Head) (bool, error) {
	if act, ok := recordField(row.record, 1); ok && act != string(tapdesk.ActCheckpointPublished) {
		return false, nil
	}
	var f [numRecordFields]string
	if err := parseRecord(row.record, &f); err != nil {
		return false, fmt.Errorf("audit event %d: %w", row.seq, err)
	}
	if f[1] != string(tapdesk.ActCheckpointPublished) {
		return false, nil
	}
	var d map[string]string
	if json.Unmarshal([]byte(f[16]), &d) != nil {
		return false, nil
	}
	return d["seq"] == strconv.FormatInt(cp.Seq, 10) && d["mac"] == cp.MAC, nil
}

// alarm is row's seq if it reports a failed check of the trail
// (tapdesk.AuditAlarm), else 0. The activity is read without parsing the
// record, as publishes does: most events are neither.
func alarm(row *chainRow) (int64, error) {
	if act, ok := recordField(row.record, 1); ok && act != string(tapdesk.ActTamperDetected) && act != string(tapdesk.ActAuditVerified) {
		return 0, nil
	}
	var f [numRecordFields]string
	if err := parseRecord(row.record, &f); err != nil {
		return 0, fmt.Errorf("audit event %d: %w", row.seq, err)
	}
	if tapdesk.AuditAlarm(tapdesk.Activity(f[1]), tapdesk.Result(f[3])) {
		return row.seq, nil
	}
	return 0, nil
}
