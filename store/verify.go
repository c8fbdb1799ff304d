package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/tapdesk/tapdesk"
)

// BreakKind says why the audit chain stops checking out at an event.
type BreakKind string

const (
	// BreakChanged: the event's content (or its mac) was altered.
	BreakChanged BreakKind = "changed"
	// BreakMissing: events were removed (outside a prune).
	BreakMissing BreakKind = "missing"
	// BreakInserted: an event tapdesk did not write sits in the chain.
	BreakInserted BreakKind = "inserted"
	// BreakReordered: two events swapped places.
	BreakReordered BreakKind = "reordered"
	// BreakKey: nothing checks out with this key.
	BreakKey BreakKind = "wrong key"
	// BreakUnknownKey: the event names a key that is not configured.
	BreakUnknownKey BreakKind = "unknown key"
	// BreakRetiredKey: the event was signed with a key the trail had
	// already been rotated away from.
	BreakRetiredKey BreakKind = "retired key"
	// BreakSchema: the table's definition was changed, so filters and
	// exports may not show what was signed.
	BreakSchema BreakKind = "table changed"
)

// ChainBreak is the first event that does not check out.
type ChainBreak struct {
	Seq    int64
	Kind   BreakKind
	Detail string // a sentence for the operator
}

// VerifyReport is what walking the chain found.
type VerifyReport struct {
	Checked  int64 // events that checked out
	FirstSeq int64 // first event walked (1, or just after a prune checkpoint)
	LastSeq  int64 // last event that checked out
	HeadMAC  string
	// CheckpointSeq is the prune checkpoint the walk started from, if any.
	CheckpointSeq int64
	// SignedSeq is the signed checkpoint VerifySince relied on for the
	// events before it (0: it walked from the first event kept). The walk
	// starts there, or at FirstSeq when a request's events are older.
	SignedSeq int64
	// AlarmSeq is the first event walked by VerifySince that reports a
	// failed check of the trail (tapdesk.AuditAlarm), 0 if none: a walk
	// from a checkpoint that meets one is no reason to trust the events
	// before the checkpoint.
	AlarmSeq int64
	Break    *ChainBreak // nil: the chain holds
	Notes    []string    // what was not checked, and why
	// Unexplained lists the stored requests whose state (or requester,
	// target, approvals required, approvals) their events, replayed through
	// the state machine, do not explain: rows edited outside tapdesk.
	// Only filled when the chain holds.
	Unexplained []RequestFinding
}

// Checkpoint details written by Prune.
const (
	checkpointThroughSeq = "pruned_through_seq"
	checkpointThroughMAC = "pruned_through_mac"
)

type querier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// VerifyChain walks the whole audit trail with the audit key and reports
// the first event that does not check out, and why. It reads row by row,
// so memory stays flat however long the trail is.
//
// It reads in one snapshot (a deferred read transaction on one connection),
// so appends, prunes and request changes committed meanwhile cannot make
// its checks disagree with each other; writers are not blocked.
//
// recorded, when given (one), is a head printed by an earlier verify and kept
// elsewhere: the trail must still reach it and carry its mac, which is how
// events cut off the end are caught when no request shows it.
func (db *DB) VerifyChain(ctx context.Context, recorded ...Head) (VerifyReport, error) {
	conn, err := db.db.Conn(ctx)
	if err != nil {
		return VerifyReport{}, err
	}
	defer conn.Close()
	// The DSN makes database/sql transactions IMMEDIATE (a write lock); a
	// plain BEGIN is deferred and takes only a read snapshot.
	if _, err := conn.ExecContext(ctx, db.dialect.snapshot); err != nil {
		return VerifyReport{}, fmt.Errorf("begin read: %w", err)
	}
	defer conn.ExecContext(context.WithoutCancel(ctx), "ROLLBACK")
	var head *Head
	if len(recorded) > 0 {
		head = &recorded[0]
	}
	return db.verifyChain(ctx, conn, head)
}

// Head is an event number and its mac, as verify prints the last one.
type Head struct {
	Seq int64
	MAC string
}

// ParseHead reads a head written as SEQ:MAC.
func ParseHead(s string) (Head, error) {
	seq, mac, ok := strings.Cut(strings.TrimSpace(s), ":")
	n, err := strconv.ParseInt(seq, 10, 64)
	if !ok || err != nil || n < 1 || len(mac) != 64 {
		return Head{}, fmt.Errorf("a head is written SEQ:MAC, as verify prints it (e.g. 1234:9f86d0...), not %q", s)
	}
	return Head{Seq: n, MAC: strings.ToLower(mac)}, nil
}

// verifyChain walks the chain in q; recorded is a kept head or nil.
func (db *DB) verifyChain(ctx context.Context, q querier, recorded *Head) (rep VerifyReport, err error) {
	if db.keys == nil {
		return rep, ErrNoAuditKey
	}
	if rep.Break, err = db.checkSchema(ctx, q); rep.Break != nil || err != nil {
		return rep, err
	}
	checkpoints, err := db.readCheckpoints(ctx, q)
	if err != nil {
		return rep, err
	}
	published, err := lastPublished(ctx, q)
	if err != nil {
		return rep, err
	}
	replay, err := newReplayer(ctx, q)
	if err != nil {
		return rep, err
	}
	pipe, err := startRowPipe(ctx, q, `SELECT seq, record, mac, key_id FROM audit_events ORDER BY seq`)
	if err != nil {
		return rep, err
	}
	defer pipe.close()

	cur, err := pipe.next()
	if err != nil {
		return rep, err
	}
	if cur == nil {
		if rep.Break, err = checkTail(ctx, q, ""); rep.Break == nil && err == nil {
			rep.Break = rep.reaches(recorded)
		}
		return rep, err
	}
	h := db.keys.ring()
	order := keyOrder{retired: map[string]int64{}}
	publication := published == nil
	rep.FirstSeq = cur.seq
	prev, expect, last := "", int64(1), ""
	if cur.seq != 1 {
		cp, ok := checkpoints[cur.seq-1]
		if !ok {
			from := int64(1)
			for through := range checkpoints {
				if through < cur.seq && through+1 > from {
					from = through + 1
				}
			}
			rep.Break = &ChainBreak{Seq: from, Kind: BreakMissing, Detail: fmt.Sprintf(
				"events %s are missing and no prune checkpoint accounts for them", seqRange(from, cur.seq-1))}
			return rep, nil
		}
		prev, expect, rep.CheckpointSeq = cp.mac, cur.seq, cp.seq
	}
	for cur != nil {
		next, err := pipe.next()
		if err != nil {
			return rep, err
		}
		if cur.seq == expect && h.checks(prev, expect, cur) {
			if rep.Break = order.next(cur.seq, h.signer(cur)); rep.Break != nil {
				return rep, nil
			}
			if err := replay.observe(cur); err != nil {
				return rep, err
			}
			rep.Checked++
			rep.LastSeq, rep.HeadMAC, last = cur.seq, cur.mac, cur.record
			if recorded != nil && cur.seq == recorded.Seq && cur.mac != recorded.MAC {
				rep.Break = &ChainBreak{Seq: cur.seq, Kind: BreakChanged, Detail: fmt.Sprintf(
					"event %d does not carry the mac recorded for it: the trail was rewritten from there (or the recorded head is wrong)", cur.seq)}
				return rep, nil
			}
			if published != nil && cur.seq == published.Seq && cur.mac != published.MAC {
				rep.Break = &ChainBreak{Seq: cur.seq, Kind: BreakChanged, Detail: fmt.Sprintf(
					"event %d does not carry the mac tapdesk signed for it in its last checkpoint: the trail was rewritten up to there", cur.seq)}
				return rep, nil
			}
			if !publication && cur.seq > published.Seq {
				if publication, err = publishes(cur, *published); err != nil {
					return rep, err
				}
			}
			prev, expect, cur = cur.mac, expect+1, next
			continue
		}
		rep.Break = classify(h, prev, expect, cur, next, rep.Checked == 0)
		return rep, nil
	}
	var f [numRecordFields]string
	if err := parseRecord(last, &f); err != nil {
		return rep, fmt.Errorf("audit event %d: %w", rep.LastSeq, err)
	}
	if rep.Break, err = checkTail(ctx, q, f[0]); rep.Break != nil {
		rep.Break.Seq = rep.LastSeq + 1
	} else if err == nil {
		rep.Break = rep.reaches(recorded)
	}
	if rep.Break == nil && err == nil {
		rep.Break = rep.reachesPublished(published, publication)
	}
	if rep.Break == nil && err == nil {
		var notes []string
		rep.Unexplained, notes = replay.findings(rep.CheckpointSeq > 0)
		rep.Notes = append(rep.Notes, notes...)
	}
	return rep, err
}

// reaches checks that the walked trail still reaches a recorded head (nil:
// none given). A head since pruned cannot be compared; the report says so.
func (rep *VerifyReport) reaches(recorded *Head) *ChainBreak {
	switch {
	case recorded == nil:
	case recorded.Seq > rep.LastSeq:
		return &ChainBreak{Seq: rep.LastSeq + 1, Kind: BreakMissing, Detail: fmt.Sprintf(
			"event %d was recorded as the head, but the trail ends at event %d: events were cut off the end", recorded.Seq, rep.LastSeq)}
	case recorded.Seq < rep.FirstSeq:
		rep.Notes = append(rep.Notes, fmt.Sprintf("the recorded head, event %d, has been pruned; it was not compared", recorded.Seq))
	}
	return nil
}

// lastPublished is the newest checkpoint tapdesk recorded publishing
// (nil: none). Its signature is the evidence package's to check; here it
// is a head the trail must still reach, like a recorded one: a forged row
// can only make verify fail, never pass.
func lastPublished(ctx context.Context, q querier) (*Head, error) {
	var h Head
	err := q.QueryRowContext(ctx, `SELECT seq, mac FROM published_checkpoints WHERE seq IS NOT NULL ORDER BY seq DESC LIMIT 1`).Scan(&h.Seq, &h.MAC)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read the last published checkpoint: %w", err)
	}
	return &h, nil
}

// reachesPublished checks that the walked trail still reaches the last
// published checkpoint and holds its publication event (found): without
// them, events were cut off after it, which no request may show. A
// checkpoint since pruned is not compared.
func (rep *VerifyReport) reachesPublished(published *Head, found bool) *ChainBreak {
	switch {
	case published == nil || published.Seq < rep.FirstSeq:
	case published.Seq > rep.LastSeq:
		return &ChainBreak{Seq: rep.LastSeq + 1, Kind: BreakMissing, Detail: fmt.Sprintf(
			"tapdesk signed a checkpoint at event %d, but the trail ends at event %d: events were cut off the end", published.Seq, rep.LastSeq)}
	case !found:
		return &ChainBreak{Seq: rep.LastSeq + 1, Kind: BreakMissing, Detail: fmt.Sprintf(
			"events were cut off the end: tapdesk signed a checkpoint at event %d and recorded its publication in the event after it, "+
				"and the trail ends at event %d without that event", published.Seq, rep.LastSeq)}
	}
	return nil
}

// checkTail catches events cut off the end, which leave no gap for the
// chain to show: every change to a request writes its event at the same
// moment, so a request changed later than the last event (lastTime, empty
// for an empty trail) means the events after it were deleted.
func checkTail(ctx context.Context, q querier, lastTime string) (*ChainBreak, error) {
	rows, err := q.QueryContext(ctx, `SELECT id, updated_at FROM requests ORDER BY updated_at DESC LIMIT 1`)
	if err != nil {
		return nil, fmt.Errorf("read newest request: %w", err)
	}
	defer rows.Close()
	if !rows.Next() {
		return nil, rows.Err()
	}
	var id, updated string
	if err := rows.Scan(&id, &updated); err != nil {
		return nil, err
	}
	if lastTime == "" {
		return &ChainBreak{Seq: 1, Kind: BreakMissing, Detail: fmt.Sprintf(
			"the audit trail is empty, but the database holds requests (request %s changed at %s): its events were deleted", id, updated)}, nil
	}
	u, err1 := parseTS(updated)
	l, err2 := parseTS(lastTime)
	if err1 != nil || err2 != nil || u.Sub(l) <= time.Second {
		return nil, nil
	}
	return &ChainBreak{Kind: BreakMissing, Detail: fmt.Sprintf(
		"events were cut off the end: request %s changed at %s, after the last event (%s), and every change writes an event",
		id, u.Format(time.RFC3339), l.Format(time.RFC3339))}, nil
}

// classify names why cur, expected as event number expect after prev, does
// not check out, using the event after it (next, nil at the end).
func classify(h *keyring, prev string, expect int64, cur, next *chainRow, first bool) *ChainBreak {
	switch {
	case cur.seq > expect:
		return &ChainBreak{Seq: expect, Kind: BreakMissing, Detail: fmt.Sprintf(
			"events %s are missing: event %d follows event %d", seqRange(expect, cur.seq-1), cur.seq, expect-1)}
	case next != nil && h.checks(prev, expect, next) && h.checks(next.mac, expect+1, cur):
		return &ChainBreak{Seq: expect, Kind: BreakReordered, Detail: fmt.Sprintf(
			"events %d and %d have swapped places", expect, expect+1)}
	case next != nil && h.checks(prev, expect, next):
		return &ChainBreak{Seq: expect, Kind: BreakInserted, Detail: fmt.Sprintf(
			"event %d was not written by tapdesk: it was inserted and the events after it renumbered", expect)}
	case cur.keyID != "" && !h.has(cur.keyID):
		return &ChainBreak{Seq: expect, Kind: BreakUnknownKey, Detail: fmt.Sprintf(
			"event %d was signed with key id %s, which is not configured: add the key it was signed with to TAPDESK_AUDIT_OLD_KEYS (or TAPDESK_AUDIT_KEY) and verify again", expect, cur.keyID)}
	case next != nil && next.seq == expect+1 && h.checks(cur.mac, next.seq, next):
		return &ChainBreak{Seq: expect, Kind: BreakChanged, Detail: fmt.Sprintf(
			"event %d was changed after it was written (the event after it still checks out)", expect)}
	case first && next != nil:
		return &ChainBreak{Seq: expect, Kind: BreakKey, Detail: fmt.Sprintf(
			"no event checks out with the configured keys: TAPDESK_AUDIT_KEY is not the key that wrote this audit trail, nor is any in TAPDESK_AUDIT_OLD_KEYS (or events %d and %d were both changed)", expect, next.seq)}
	case next == nil:
		return &ChainBreak{Seq: expect, Kind: BreakChanged, Detail: fmt.Sprintf(
			"event %d, the last one, does not check out: it was changed, or added by someone without the key", expect)}
	}
	return &ChainBreak{Seq: expect, Kind: BreakChanged, Detail: fmt.Sprintf(
		"event %d does not check out (changed; the event after it does not check out either)", expect)}
}

// keyOrder follows the keys along the trail. After a rotation tapdesk
// never signs with the old key again, and an old key stays configured only
// to verify what it signed: an event signed with it after the trail moved
// on was added by someone holding it (a leaked key is the usual reason to
// rotate).
type keyOrder struct {
	cur     string           // id of the key that signed the last event
	retired map[string]int64 // ids the trail moved on from, and the event where it did
}

func (o *keyOrder) next(seq int64, id string) *ChainBreak {
	if id == o.cur {
		return nil
	}
	if at, ok := o.retired[id]; ok {
		return &ChainBreak{Seq: seq, Kind: BreakRetiredKey, Detail: fmt.Sprintf(
			"event %d was signed with key id %s, which the trail was rotated away from at event %d: tapdesk never signs with a retired key, "+
				"so someone holding it added this event (or tapdesk was started with a retired key as TAPDESK_AUDIT_KEY)", seq, id, at)}
	}
	if o.cur != "" {
		o.retired[o.cur] = seq
	}
	o.cur = id
	return nil
}

func seqRange(from, to int64) string {
	if from == to {
		return strconv.FormatInt(from, 10)
	}
	return fmt.Sprintf("%d–%d", from, to)
}

type checkpoint struct {
	seq int64  // the checkpoint event's own number
	mac string // mac of the last pruned event
}

// readCheckpoints maps "pruned through seq" to each prune checkpoint. A
// checkpoint's details are covered by its own mac, so a forged one fails
// when the walk reaches it.
func (db *DB) readCheckpoints(ctx context.Context, q querier) (map[int64]checkpoint, error) {
	rows, err := q.QueryContext(ctx, `SELECT seq, `+db.dialect.recordField(16)+` FROM audit_events WHERE activity = ? ORDER BY seq`,
		string(tapdesk.ActAuditPruned))
	if err != nil {
		return nil, fmt.Errorf("read prune checkpoints: %w", err)
	}
	defer rows.Close()
	out := map[int64]checkpoint{}
	for rows.Next() {
		var seq int64
		var details string
		if err := rows.Scan(&seq, &details); err != nil {
			return nil, err
		}
		var d map[string]string
		if json.Unmarshal([]byte(details), &d) != nil {
			continue // a broken checkpoint fails its own check in the walk
		}
		through, err := strconv.ParseInt(d[checkpointThroughSeq], 10, 64)
		if err != nil {
			continue
		}
		out[through] = checkpoint{seq: seq, mac: d[checkpointThroughMAC]}
	}
	return out, rows.Err()
}

// auditTableSQL is audit_events as migrations 00003, 00007 (key_id) and
// 00010 (http_request_id)
// define it, whitespace collapsed. The mac covers the record; the filter columns are generated
// from it. Someone who redefines a generated column (say, to hide one
// actor's events from filtered exports) changes no record, so verify
// compares the definition itself.
const sqliteAuditTableSQL = `CREATE TABLE "audit_events" ( seq INTEGER PRIMARY KEY, record TEXT NOT NULL, mac TEXT NOT NULL, ` +
	`time TEXT GENERATED ALWAYS AS (json_extract(record, '$[0]')) VIRTUAL, ` +
	`activity TEXT GENERATED ALWAYS AS (json_extract(record, '$[1]')) VIRTUAL, ` +
	`result TEXT GENERATED ALWAYS AS (json_extract(record, '$[3]')) VIRTUAL, ` +
	`actor_oid TEXT GENERATED ALWAYS AS (json_extract(record, '$[6]')) VIRTUAL, ` +
	`actor_upn TEXT GENERATED ALWAYS AS (json_extract(record, '$[7]')) VIRTUAL, ` +
	`target_id TEXT GENERATED ALWAYS AS (json_extract(record, '$[11]')) VIRTUAL, ` +
	`target_upn TEXT GENERATED ALWAYS AS (json_extract(record, '$[12]')) VIRTUAL, ` +
	`request_id TEXT GENERATED ALWAYS AS (json_extract(record, '$[13]')) VIRTUAL , key_id TEXT NOT NULL DEFAULT '', ` +
	`http_request_id TEXT GENERATED ALWAYS AS (json_extract(record, '$[17]')) VIRTUAL)`

// postgresAuditTableSQL is audit_events as migrations/postgres/00010
// defines it, as postgresAuditTable describes it from the catalog.
const postgresAuditTableSQL = `seq bigint NOT NULL, record text NOT NULL, mac text NOT NULL, key_id text NOT NULL ''::text, ` +
	`time text GENERATED ((record)::jsonb ->> 0), activity text GENERATED ((record)::jsonb ->> 1), ` +
	`result text GENERATED ((record)::jsonb ->> 3), actor_oid text GENERATED ((record)::jsonb ->> 6), ` +
	`actor_upn text GENERATED ((record)::jsonb ->> 7), target_id text GENERATED ((record)::jsonb ->> 11), ` +
	`target_upn text GENERATED ((record)::jsonb ->> 12), request_id text GENERATED ((record)::jsonb ->> 13), ` +
	`http_request_id text GENERATED ((record)::jsonb ->> 17)`

func (db *DB) checkSchema(ctx context.Context, q querier) (*ChainBreak, error) {
	objects, err := db.dialect.auditTable(ctx, q)
	if err != nil {
		return nil, fmt.Errorf("read audit table definition: %w", err)
	}
	for _, o := range objects {
		if o.kind == "table" && strings.Join(strings.Fields(o.definition), " ") == db.dialect.auditTableWant {
			continue
		}
		return &ChainBreak{Seq: 0, Kind: BreakSchema, Detail: fmt.Sprintf(
			"the audit_events %s %q is not the one tapdesk created: filters and exports may not show what was signed. Compare it with the audit_events table in migrations/%s",
			o.kind, o.name, db.dialect.auditTableSource)}, nil
	}
	return nil, nil
}
