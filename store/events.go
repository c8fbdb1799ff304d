package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/tapdesk/tapdesk"
)

// AppendEvent writes one audit event on its own (sign-in, refusals: events
// that record no state change of their own).
func (db *DB) AppendEvent(ctx context.Context, ev tapdesk.Event) error {
	return db.inQuietTx(ctx, func(tx *sql.Tx) error { // an audit event alone changes nothing a cache holds
		return db.appendEvent(ctx, tx, ev)
	})
}

// appendEvent is the one place events are written, always inside the
// caller's transaction so the change and its event commit together.
func (db *DB) appendEvent(ctx context.Context, tx *sql.Tx, ev tapdesk.Event) error {
	if n, ok := db.txs.Load(tx); ok {
		// Inside inTx: one appender for all of the transaction's events.
		// It holds the head it appended last, so the head is read once
		// per transaction instead of once per event (a request filed with
		// five mails queued appends six), and the insert is prepared once.
		// inTx closes it.
		notes := n.(*txNotes)
		if notes.app == nil {
			a, err := db.newAppender(ctx, tx)
			if err != nil {
				return err
			}
			notes.app = a
		}
		return notes.app.append(ctx, ev)
	}
	a, err := db.newAppender(ctx, tx)
	if err != nil {
		return err
	}
	defer a.close()
	return a.append(ctx, ev)
}

// AppendEvents writes events in batches of one transaction each, through
// the same chained append as every other event (audit seed, imports).
func (db *DB) AppendEvents(ctx context.Context, n int, batch int, next func(i int) tapdesk.Event) error {
	if batch < 1 {
		batch = 1
	}
	for i := 0; i < n; {
		err := db.inQuietTx(ctx, func(tx *sql.Tx) error {
			a, err := db.newAppender(ctx, tx)
			if err != nil {
				return err
			}
			defer a.close()
			for end := min(i+batch, n); i < end; i++ {
				if err := a.append(ctx, next(i)); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// appender chains events onto the head of the audit trail inside one
// transaction. Write transactions hold the write lock from their start
// (SQLite's BEGIN IMMEDIATE, PostgreSQL's advisory lock): two appends,
// even from two processes on one database, cannot both take the same
// head, read or guessed, and fork the chain.
type appender struct {
	db     *DB
	tx     *sql.Tx
	h      *chainHasher
	stmt   *sql.Stmt
	head   int64
	prev   string
	record []byte
	// guessed: head and prev are the newest event this process committed,
	// not read in this transaction; the first append inserts only if the
	// trail still ends there, and reads the head if it does not.
	guessed bool
}

// newAppender starts appending to the chain in tx. On PostgreSQL the head
// is the event this process committed last, when it knows one: a writer
// alone on the trail (one instance, the usual case) then spends no round
// trip reading it. The first append checks it as it inserts
// (appendAfterGuess; dialect.guessHead).
func (db *DB) newAppender(ctx context.Context, tx *sql.Tx) (*appender, error) {
	if db.keys == nil {
		return nil, ErrNoAuditKey
	}
	a := &appender{db: db, tx: tx}
	if w, ok := db.guessedHead(); ok {
		a.head, a.prev, a.guessed = w.seq, w.mac, true
	} else if err := a.readHead(ctx); err != nil {
		return nil, err
	}
	var err error
	a.stmt, err = db.statement(ctx, tx, `INSERT INTO audit_events (seq, record, mac, key_id) VALUES (?, ?, ?, ?)`)
	if err != nil {
		return nil, fmt.Errorf("prepare audit append: %w", err)
	}
	a.h = db.keys.signers.Get().(*chainHasher)
	return a, nil
}

// guessedHead is the head an append may guess on PostgreSQL: the newest
// event this process saw committed (it wrote it, or a recount checked it),
// if it remembers that event (verifiedRows) signed with the current key.
func (db *DB) guessedHead() (verifiedRow, bool) {
	if !db.dialect.guessHead {
		return verifiedRow{}, false
	}
	w, ok := db.keys.verified.at(db.seenHead.Load())
	return w, ok && w.signer == db.keys.current
}

// readHead reads the head of the chain, which the next append follows.
func (a *appender) readHead(ctx context.Context) error {
	db := a.db
	var headKey, prevKey string
	head, err := db.statement(ctx, a.tx, `SELECT h.seq, h.mac, h.key_id, COALESCE(p.key_id, '') FROM audit_events h
		LEFT JOIN audit_events p ON p.seq = h.seq - 1 ORDER BY h.seq DESC LIMIT 1`)
	if err != nil {
		return fmt.Errorf("read audit chain head: %w", err)
	}
	a.head, a.prev = 0, ""
	err = head.QueryRowContext(ctx).Scan(&a.head, &a.prev, &headKey, &prevKey)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("read audit chain head: %w", err)
	}
	// a.head is not noted as seen here: inside a transaction that has
	// appended already, it is this transaction's own uncommitted event,
	// which a rollback takes back. inTx notes the head once it commits.
	// A head signed with a key this tapdesk does not hold means the trail
	// has moved on to another key (another instance was rotated, or this
	// one has the wrong key): chaining onto it would mix keys unnoticed.
	if _, ok := db.keys.byID[headKey]; headKey != "" && !ok {
		return &KeyMismatchError{Path: db.path, Seq: a.head, KeyID: headKey}
	}
	if db.keys.retiredHead(headKey, prevKey) {
		return &KeyMismatchError{Path: db.path, Seq: a.head, KeyID: headKey, Retired: true}
	}
	return nil
}

// appendAfterGuess inserts r, chained onto the guessed head, only if the
// trail still ends at that event with that mac, signed with the current
// key (so the key checks of readHead hold as they did when it was
// written): under the write lock nothing can move the head between the
// check and the insert. It reports
// whether r went in; if not (another instance or process appended since,
// or the head was changed), the caller reads the head and signs r again.
func (a *appender) appendAfterGuess(ctx context.Context, r *chainRow) (bool, error) {
	st, err := a.db.statement(ctx, a.tx, `INSERT INTO audit_events (seq, record, mac, key_id)
		SELECT ?, ?, ?, ? WHERE (SELECT MAX(seq) FROM audit_events) = ?
		AND EXISTS (SELECT 1 FROM audit_events WHERE seq = ? AND mac = ? AND key_id = ?)`)
	if err != nil {
		return false, fmt.Errorf("prepare audit append: %w", err)
	}
	defer st.Close()
	res, err := st.ExecContext(ctx, r.seq, r.record, r.mac, r.keyID, a.head, a.head, a.prev, a.h.id)
	if err != nil {
		return false, fmt.Errorf("append audit event: %w", err)
	}
	n, err := res.RowsAffected()
	return n == 1, err
}

// insert numbers and signs r as the event after the head, and writes it;
// after a guessed head, only if the trail still ends there, else after the
// head read then.
func (a *appender) insert(ctx context.Context, r *chainRow) error {
	r.seq = a.head + 1
	r.mac = string(a.h.mac(a.prev, r.seq, r.keyID, r.record))
	if a.guessed {
		a.guessed = false // from here on the head is this transaction's own
		if ok, err := a.appendAfterGuess(ctx, r); err != nil || ok {
			return err
		}
		if err := a.readHead(ctx); err != nil {
			return err
		}
		return a.insert(ctx, r) // signed again, after the head read
	}
	if _, err := a.stmt.ExecContext(ctx, r.seq, r.record, r.mac, r.keyID); err != nil {
		return fmt.Errorf("append audit event: %w", err)
	}
	return nil
}

func (a *appender) close() {
	a.stmt.Close()
	a.db.keys.signers.Put(a.h)
}

func (a *appender) append(ctx context.Context, ev tapdesk.Event) error {
	// Every event passes here: bound what it holds before it is signed, so
	// the mac covers exactly what is stored.
	if ev.HTTPRequestID == "" {
		// Events written while serving a web request carry its id, so the
		// request's log line and its events can be joined.
		ev.HTTPRequestID = tapdesk.RequestIDFrom(ctx)
	}
	ev = tapdesk.BoundEvent(ev)
	if ev.Time.IsZero() {
		ev.Time = a.db.Now()
	}
	if ev.Result == "" {
		ev.Result = tapdesk.ResultSuccess
	}
	details := "{}"
	if len(ev.Details) > 0 {
		b, err := json.Marshal(ev.Details)
		if err != nil {
			return fmt.Errorf("audit details: %w", err)
		}
		details = string(b)
	}
	fields := [numRecordFields]string{
		ts(ev.Time), string(ev.Activity), string(ev.Category), string(ev.Result), ev.Reason,
		ev.Actor.TenantID, ev.Actor.ObjectID, ev.Actor.UPN, ev.Actor.Name, ev.ActorIP, ev.ActorAgent,
		ev.TargetID, ev.TargetUPN, ev.RequestID, ev.CorrelationID, ev.TAPMethodID, details, ev.HTTPRequestID}
	a.record = appendRecord(a.record[:0], &fields)
	r := chainRow{record: string(a.record), keyID: a.h.id}
	if err := a.insert(ctx, &r); err != nil {
		return err
	}
	notes := a.db.notesOf(a.tx)
	// Signed here with this tapdesk's key: once the transaction commits, a
	// recount may pass over it (see verifiedRows), and the head is noted
	// as seen.
	notes.sign(verifiedRow{seq: r.seq, mac: r.mac, keyID: r.keyID, prev: a.prev, signer: a.h.id, requestID: fields[13]})
	a.head, a.prev = r.seq, r.mac
	if a.db.AuditCommitted != nil {
		if notes.appended == nil {
			notes.appended = map[tapdesk.Category]int{}
		}
		notes.appended[ev.Category]++
	}
	return nil
}

// EventFilter selects audit events. Zero fields select everything.
type EventFilter struct {
	From, To  time.Time // To is exclusive
	Activity  string
	Actor     string // UPN or object id, exact
	Target    string // UPN or object id, exact
	Result    string
	RequestID string
	BeforeSeq int64 // paging: events with seq < BeforeSeq
	AfterSeq  int64 // paging back: events with seq > AfterSeq (Events then reads the oldest of them)
	Limit     int   // 0: no limit (streaming export)
}

// query selects cols of the events f selects, in seq order (ASC or DESC).
func (f EventFilter) query(cols, order string) (string, []any) {
	where, args := f.where()
	q := "SELECT " + cols + " FROM audit_events" + where + " ORDER BY seq " + order
	if f.Limit > 0 {
		q += fmt.Sprintf(" LIMIT %d", f.Limit)
	}
	return q, args
}

func (f EventFilter) where() (string, []any) {
	var conds []string
	var args []any
	add := func(cond string, a ...any) { conds = append(conds, cond); args = append(args, a...) }
	if !f.From.IsZero() {
		add("time >= ?", ts(f.From))
	}
	if !f.To.IsZero() {
		add("time < ?", ts(f.To))
	}
	if f.Activity != "" {
		add("activity = ?", f.Activity)
	}
	if f.Actor != "" {
		add("(actor_upn = ? OR actor_oid = ?)", f.Actor, f.Actor)
	}
	if f.Target != "" {
		add("(target_upn = ? OR target_id = ?)", f.Target, f.Target)
	}
	if f.Result != "" {
		add("result = ?", f.Result)
	}
	if f.RequestID != "" {
		add("request_id = ?", f.RequestID)
	}
	if f.BeforeSeq > 0 {
		add("seq < ?", f.BeforeSeq)
	}
	if f.AfterSeq > 0 {
		add("seq > ?", f.AfterSeq)
	}
	if len(conds) == 0 {
		return "", nil
	}
	return " WHERE " + strings.Join(conds, " AND "), args
}

func scanEvent(rows rowScanner) (tapdesk.Event, error) {
	var ev tapdesk.Event
	var record string
	if err := rows.Scan(&ev.Seq, &record); err != nil {
		return ev, err
	}
	return decodeEvent(ev.Seq, record)
}

// decodeEvent turns a stored record into the event it records.
func decodeEvent(seq int64, record string) (tapdesk.Event, error) {
	ev := tapdesk.Event{Seq: seq}
	var f [numRecordFields]string
	if err := parseRecord(record, &f); err != nil {
		return ev, fmt.Errorf("event %d: %w", ev.Seq, err)
	}
	var err error
	if ev.Time, err = parseTS(f[0]); err != nil {
		return ev, fmt.Errorf("event %d time: %w", ev.Seq, err)
	}
	ev.Activity, ev.Category, ev.Result, ev.Reason = tapdesk.Activity(f[1]), tapdesk.Category(f[2]), tapdesk.Result(f[3]), f[4]
	ev.Actor = tapdesk.Actor{TenantID: f[5], ObjectID: f[6], UPN: f[7], Name: f[8]}
	ev.ActorIP, ev.ActorAgent = f[9], f[10]
	ev.TargetID, ev.TargetUPN, ev.RequestID, ev.CorrelationID, ev.TAPMethodID = f[11], f[12], f[13], f[14], f[15]
	if d := f[16]; d != "" && d != "{}" {
		if err := json.Unmarshal([]byte(d), &ev.Details); err != nil {
			return ev, fmt.Errorf("event %d details: %w", ev.Seq, err)
		}
	}
	ev.HTTPRequestID = f[17]
	return ev, nil
}

// Events lists events newest first (the audit page). Exports stream
// through ExportEvents instead. With AfterSeq (a page back) and a Limit it
// reads the Limit events just after AfterSeq, still newest first, so keyset
// paging works both ways on the seq index.
func (db *DB) Events(ctx context.Context, f EventFilter) ([]tapdesk.Event, error) {
	order := "DESC"
	if f.AfterSeq > 0 && f.Limit > 0 {
		order = "ASC"
	}
	q, args := f.query("seq, record", order)
	out, err := queryAll(ctx, db.db, scanEvent, q, args...)
	if err != nil {
		return nil, fmt.Errorf("read audit events: %w", err)
	}
	if order == "ASC" {
		slices.Reverse(out)
	}
	return out, nil
}

// CountEvents counts the events f selects (its Limit and paging ignored),
// but reads at most upTo of them: a count over a trail of millions stays as
// cheap as one page. A result of upTo means "upTo or more".
func (db *DB) CountEvents(ctx context.Context, f EventFilter, upTo int) (int, error) {
	f.BeforeSeq, f.AfterSeq, f.Limit = 0, 0, 0
	where, args := f.where()
	var n int
	q := fmt.Sprintf("SELECT COUNT(*) FROM (SELECT 1 FROM audit_events%s LIMIT %d) AS matching", where, upTo)
	if err := db.db.QueryRowContext(ctx, q, args...).Scan(&n); err != nil {
		return 0, fmt.Errorf("count audit events: %w", err)
	}
	return n, nil
}
