package store

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/tapdesk/tapdesk"
)

// The requests and approvals tables can be edited by anyone who can write
// the database file; the audit trail cannot be without the key. These
// functions give the rules (tapdesk.RequestTrail) a request's events as
// the trail proves them: at issue time for one request, and in verify for
// every request.

// RequestEvidence returns the audit events of one request whose macs check
// out with the audit key, oldest first, and the numbers of the events that
// do not. It walks the whole trail from the request's first event (its
// filing) to the head, not only the request's own events: an event cut from
// the middle (a dispute, an expiry, a cancel, a failed issue) leaves a gap
// in the numbers, and the event after the gap cannot be checked; both are
// reported, as is any event in the window whose mac is wrong or that was
// signed with a key the trail had already rotated away from (verify's
// keyOrder rule). The first event is checked against the event just before
// it, or the prune checkpoint standing in for it. The window is the events
// since filing (a decision's lifetime at most), read in one snapshot. A
// trail that ends before an event this process saw written lost its end:
// the first missing event is reported too.
//
// Events this process wrote or checked before are passed over by their
// mac and key id (see verifiedRows): the request's own records are read
// and checked every time, the others only when they are new to it.
func (db *DB) RequestEvidence(ctx context.Context, requestID string) (events []tapdesk.Event, unverified []int64, err error) {
	if db.keys == nil {
		return nil, nil, ErrNoAuditKey
	}
	sealed, unverified, ok, err := db.recentEvidence(ctx, requestID)
	if err == nil && !ok {
		sealed, unverified, err = db.requestEvidence(ctx, requestID)
	}
	if err != nil {
		return nil, nil, err
	}
	if sealed != nil {
		events = make([]tapdesk.Event, len(sealed))
		for i, s := range sealed {
			events[i] = s.Event
		}
	}
	return events, unverified, nil
}

// SealedRequestEvidence is RequestEvidence with each event's mac: an
// evidence pack is built from the very events this snapshot verified,
// not from a second read that may hold events added since. It reads and
// checks every record in the window, remembered or not.
func (db *DB) SealedRequestEvidence(ctx context.Context, requestID string) (events []SealedEvent, unverified []int64, err error) {
	if db.keys == nil {
		return nil, nil, ErrNoAuditKey
	}
	return db.requestEvidence(ctx, requestID)
}

// requestEvidence reads and checks every record of the request's window in
// one snapshot of its own.
func (db *DB) requestEvidence(ctx context.Context, requestID string) (events []SealedEvent, unverified []int64, err error) {
	conn, err := db.db.Conn(ctx)
	if err != nil {
		return nil, nil, err
	}
	defer conn.Close()
	// Read before the snapshot begins: every head seen so far was
	// committed before it, so the snapshot must reach it.
	seen := db.seenHead.Load()
	// A plain BEGIN is deferred: one read snapshot, no write lock.
	if _, err := conn.ExecContext(ctx, db.dialect.snapshot); err != nil {
		return nil, nil, fmt.Errorf("begin read: %w", err)
	}
	defer conn.ExecContext(context.WithoutCancel(ctx), "ROLLBACK")
	var first sql.NullInt64
	if err := conn.QueryRowContext(ctx, `SELECT MIN(seq) FROM audit_events WHERE request_id = ?`, requestID).Scan(&first); err != nil {
		return nil, nil, fmt.Errorf("read the request's audit events: %w", err)
	}
	if !first.Valid {
		return nil, nil, nil
	}
	// The anchor: the mac the first event chains onto.
	prev, anchorKey, anchored, err := db.anchorOf(ctx, conn, first.Int64)
	if err != nil {
		return nil, nil, fmt.Errorf("read the audit event before the request's: %w", err)
	}
	w := db.newEvidenceWalk(requestID, first.Int64, prev, anchorKey, anchored)
	rows, err := conn.QueryContext(ctx, `SELECT seq, record, mac, key_id FROM audit_events WHERE seq >= ? ORDER BY seq`, first.Int64)
	if err != nil {
		return nil, nil, fmt.Errorf("read the audit events since the request was filed: %w", err)
	}
	defer rows.Close()
	var row chainRow
	for rows.Next() {
		if err := rows.Scan(&row.seq, &row.record, &row.mac, &row.keyID); err != nil {
			return nil, nil, fmt.Errorf("read audit event: %w", err)
		}
		w.step(&row, false, "")
	}
	if err := rows.Err(); err != nil {
		return nil, nil, fmt.Errorf("read the audit events since the request was filed: %w", err)
	}
	events, unverified = w.end(seen)
	return events, unverified, nil
}

// recentWindow is the window of a request's recount in one statement: from
// the event before the request's first (the anchor) to the head, each
// event's number, mac and key id, and the record of those whose request_id
// is the request's (found by its index: SQLite computes request_id from
// the record, row by row).
const recentWindow = `SELECT seq, mac, key_id, CASE WHEN seq IN (SELECT seq FROM audit_events WHERE request_id = ?) THEN record ELSE '' END
	FROM audit_events WHERE seq >= (SELECT MIN(seq) FROM audit_events WHERE request_id = ?) - 1 ORDER BY seq`

// recentEvidence is RequestEvidence in one statement (recentWindow), which
// is its own snapshot, when every event it did not read the record of can
// be passed over (see verifiedRows): the usual case, with one tapdesk
// writing the trail. ok is false when one cannot (it is new to this
// process, or remembered as the request's while its request_id says
// otherwise) or the anchor was pruned: the caller then reads and checks
// the whole window (requestEvidence).
func (db *DB) recentEvidence(ctx context.Context, requestID string) (events []SealedEvent, unverified []int64, ok bool, err error) {
	seen := db.seenHead.Load() // before the statement's snapshot, as in requestEvidence
	st, err := db.prepared(ctx, recentWindow)
	if err != nil {
		return nil, nil, false, fmt.Errorf("read the audit events since the request was filed: %w", err)
	}
	rows, err := st.QueryContext(ctx, requestID, requestID)
	if err != nil {
		return nil, nil, false, fmt.Errorf("read the audit events since the request was filed: %w", err)
	}
	defer rows.Close()
	var w *evidenceWalk
	var mac, keyID, record sql.RawBytes
	for rows.Next() {
		var row chainRow
		if err := rows.Scan(&row.seq, &mac, &keyID, &record); err != nil {
			return nil, nil, false, fmt.Errorf("read audit event: %w", err)
		}
		if w == nil {
			switch {
			case len(record) == 0: // the anchor, the event before the request's first
				w = db.newEvidenceWalk(requestID, row.seq+1, string(mac), string(keyID), true)
				continue
			case row.seq == 1: // the request's first event is the trail's
				w = db.newEvidenceWalk(requestID, 1, "", "", true)
			default: // the anchor was pruned: its checkpoint stands for it
				return nil, nil, false, nil
			}
		}
		m, passed := db.keys.verified.passable(row.seq, mac, keyID, w.prev, requestID)
		if passed {
			row.mac, row.keyID = m.mac, m.keyID
		} else if len(record) == 0 {
			return nil, nil, false, nil
		} else {
			row.mac, row.keyID, row.record = string(mac), string(keyID), string(record)
		}
		w.step(&row, passed, m.signer)
	}
	if err := rows.Err(); err != nil {
		return nil, nil, false, fmt.Errorf("read the audit events since the request was filed: %w", err)
	}
	if w == nil {
		return nil, nil, true, nil // no event names the request
	}
	events, unverified = w.end(seen)
	return events, unverified, true, nil
}

// evidenceWalk checks a request's window of the trail event by event, in
// order (see RequestEvidence), and keeps the request's events.
type evidenceWalk struct {
	db         *DB
	requestID  string
	h          *keyring
	order      keyOrder
	current    bool   // the current key has signed (an event walked, or the anchor)
	prev       string // mac of the event before the next one, as stored
	expect     int64  // number of the next event
	anchored   bool   // prev is there to check the next event against
	events     []SealedEvent
	unverified []int64
}

func (db *DB) newEvidenceWalk(requestID string, first int64, anchor, anchorKey string, anchored bool) *evidenceWalk {
	// The key rule verify applies (keyOrder), plus what this tapdesk knows
	// and a walk from the middle cannot see: every configured key but the
	// current one is older, so once the current key has signed (here, or
	// the anchor), no other key may sign after it.
	return &evidenceWalk{db: db, requestID: requestID, h: db.keys.ring(), order: keyOrder{retired: map[string]int64{}},
		current: anchorKey == db.keys.current, prev: anchor, expect: first, anchored: anchored}
}

// step walks row. passed: row is remembered (verifiedRows.passable), not
// the request's, and signed by signer; its record is not read.
func (w *evidenceWalk) step(row *chainRow, passed bool, signer string) {
	if row.seq != w.expect {
		// Events expect..row.seq-1 are gone, and row cannot be checked.
		w.unverified = append(w.unverified, w.expect)
		w.anchored = false
	}
	ok := w.anchored
	if !passed {
		if ok = ok && w.h.checks(w.prev, row.seq, row); ok {
			signer = w.h.signer(row)
		}
	}
	ok = ok && w.order.next(row.seq, signer) == nil
	if ok && signer == w.db.keys.current {
		w.current = true
	} else if ok && w.current {
		ok = false // signed with an older key after the current one
	}
	// Carry on from the row as stored, so one bad event does not hide the
	// others.
	prev := w.prev
	w.prev, w.expect, w.anchored = row.mac, row.seq+1, true
	if !ok {
		w.unverified = append(w.unverified, row.seq)
		return
	}
	if passed {
		return
	}
	// Another request's event is remembered by its request id alone; the
	// request's own (or one whose id needs decoding) is decoded whole.
	id, fast := recordField(row.record, 13)
	if !fast || id == w.requestID {
		ev, err := decodeEvent(row.seq, row.record)
		if err != nil {
			w.unverified = append(w.unverified, row.seq)
			return
		}
		if id = ev.RequestID; id == w.requestID {
			w.events = append(w.events, SealedEvent{Event: ev, MAC: row.mac})
		}
	}
	w.db.keys.verified.note(verifiedRow{seq: row.seq, mac: row.mac, keyID: row.keyID, prev: prev, signer: signer, requestID: id})
}

// end ends the walk at the snapshot's head. Below seen, a head this process
// saw committed: events were cut off the end (a dispute written last, say).
func (w *evidenceWalk) end(seen int64) ([]SealedEvent, []int64) {
	if head := w.expect - 1; head < seen {
		w.unverified = append(w.unverified, head+1)
	} else {
		w.db.sawHead(head)
	}
	return w.events, w.unverified
}

// RequestFinding is a stored request its audit events do not explain.
type RequestFinding struct {
	RequestID string
	Detail    string // a sentence for the auditor, naming the request
}

// replayer replays every request's events while verify walks the chain
// and then compares each stored request with what its events say. It
// tracks only the requests the database holds, so its memory is the
// requests table's, not the trail's.
type replayer struct {
	reqs      map[string]*replayed
	firstTime string // of the first event walked: requests filed earlier were pruned
}

type replayed struct {
	r     *tapdesk.Request
	trail tapdesk.RequestTrail
}

// newReplayer loads every request and its approvals from q (verify's
// snapshot).
func newReplayer(ctx context.Context, q querier) (*replayer, error) {
	rows, err := q.QueryContext(ctx, `SELECT `+requestColumns+` FROM requests`)
	if err != nil {
		return nil, fmt.Errorf("read requests: %w", err)
	}
	defer rows.Close()
	p := &replayer{reqs: map[string]*replayed{}}
	for rows.Next() {
		r, err := scanRequest(rows)
		if err != nil {
			return nil, fmt.Errorf("read request: %w", err)
		}
		p.reqs[r.ID] = &replayed{r: r}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read requests: %w", err)
	}
	if len(p.reqs) == 0 {
		return p, nil
	}
	arows, err := q.QueryContext(ctx, `SELECT request_id, approver_tid, approver_oid, approver_upn, approver_name, decision FROM approvals`)
	if err != nil {
		return nil, fmt.Errorf("read approvals: %w", err)
	}
	defer arows.Close()
	for arows.Next() {
		var a tapdesk.Approval
		if err := arows.Scan(&a.RequestID, &a.Approver.TenantID, &a.Approver.ObjectID, &a.Approver.UPN, &a.Approver.Name, &a.Decision); err != nil {
			return nil, fmt.Errorf("read approval: %w", err)
		}
		if rp := p.reqs[a.RequestID]; rp != nil {
			rp.r.Approvals = append(rp.r.Approvals, a)
		}
	}
	return p, arows.Err()
}

// observe replays one event that checked out. Events of requests the
// database does not hold (synthetic ones, say) are skipped after reading
// one field.
func (p *replayer) observe(r *chainRow) error {
	if p.firstTime == "" {
		p.firstTime, _ = recordField(r.record, 0)
	}
	if len(p.reqs) == 0 {
		return nil
	}
	id, ok := recordField(r.record, 13)
	if !ok {
		var f [numRecordFields]string
		if err := parseRecord(r.record, &f); err != nil {
			return fmt.Errorf("audit event %d: %w", r.seq, err)
		}
		id = f[13]
	}
	rp := p.reqs[id]
	if rp == nil {
		return nil
	}
	if act, ok := recordField(r.record, 1); ok && !tapdesk.ReplayReads(tapdesk.Activity(act)) {
		return nil
	}
	ev, err := decodeEvent(r.seq, r.record)
	if err != nil {
		return err
	}
	rp.trail.Apply(ev)
	return nil
}

// findings compares every stored request with its replayed events, oldest
// request first. Requests filed before the first event walked (their
// events were pruned, pruned says there was a prune) cannot be compared;
// the notes say how many.
func (p *replayer) findings(pruned bool) (out []RequestFinding, notes []string) {
	rps := make([]*replayed, 0, len(p.reqs))
	for _, rp := range p.reqs {
		rps = append(rps, rp)
	}
	slices.SortFunc(rps, func(a, b *replayed) int {
		return cmp.Or(a.r.CreatedAt.Compare(b.r.CreatedAt), strings.Compare(a.r.ID, b.r.ID))
	})
	first, _ := parseTS(p.firstTime)
	skipped := 0
	for _, rp := range rps {
		if pruned && rp.trail.FiledSeq == 0 && rp.r.CreatedAt.Before(first) {
			skipped++
			continue
		}
		for _, m := range rp.trail.Mismatches(rp.r) {
			out = append(out, RequestFinding{RequestID: rp.r.ID, Detail: m})
		}
	}
	if skipped > 0 {
		notes = append(notes, fmt.Sprintf("%d requests filed before the oldest event kept were not replayed: their events were pruned", skipped))
	}
	return out, notes
}

// recordField returns field n of a record without decoding the others,
// jumping from quote to quote. ok is false when a field up to n has an
// escape (or the record is malformed): parseRecord then decides.
func recordField(s string, n int) (string, bool) {
	i := 0
	for k := 0; ; k++ {
		q := strings.IndexByte(s[i:], '"')
		if q < 0 {
			return "", false
		}
		start := i + q + 1
		end := strings.IndexByte(s[start:], '"')
		if end < 0 {
			return "", false
		}
		v := s[start : start+end]
		if strings.IndexByte(v, '\\') >= 0 {
			return "", false
		}
		if k == n {
			return v, true
		}
		i = start + end + 1
	}
}

// anchorOf is the mac (and its key id) the event numbered seq chains onto:
// the event before it, or, when that was pruned, the prune checkpoint
// standing for it. anchored is false when neither is there (the chain
// cannot be checked from seq).
func (db *DB) anchorOf(ctx context.Context, q querier, seq int64) (prev, keyID string, anchored bool, err error) {
	if seq == 1 {
		return "", "", true, nil
	}
	err = q.QueryRowContext(ctx, `SELECT mac, key_id FROM audit_events WHERE seq = ?`, seq-1).Scan(&prev, &keyID)
	if err == nil {
		return prev, keyID, true, nil
	}
	if !errors.Is(err, sql.ErrNoRows) {
		return "", "", false, err
	}
	checkpoints, err := db.readCheckpoints(ctx, q)
	if err != nil {
		return "", "", false, err
	}
	cp, ok := checkpoints[seq-1]
	return cp.mac, "", ok, nil
}
