package store_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tapdesk/tapdesk"
	"github.com/tapdesk/tapdesk/internal/pgtest"
	"github.com/tapdesk/tapdesk/mail"
	"github.com/tapdesk/tapdesk/store"
)

// copyHistory builds, at path, a SQLite installation with a history that
// touches every table: requests through their states (issued, denied,
// disputed, cancelled, pending), approvals, approval and dispute links,
// mail sent, failed, given up and pending, a prune checkpoint, events
// under key A and, after a rotation, under key B, and sessions (one
// expired). It returns the names of the live and the expired session.
func copyHistory(t *testing.T, path string) (live, expired string) {
	t.Helper()
	ctx := context.Background()
	clock := t0
	open := func(key string, old ...string) *store.DB {
		db, err := store.Open(ctx, path)
		if err != nil {
			t.Fatal(err)
		}
		db.Now = func() time.Time { return clock }
		if err := db.SetAuditKey(key, old...); err != nil {
			t.Fatal(err)
		}
		return db
	}
	request := func(id string, approvals int) *tapdesk.Request {
		r := newRequest(id, approvals)
		r.CreatedAt, r.UpdatedAt, r.ExpiresAt = clock, clock, clock.Add(24*time.Hour)
		return r
	}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	decide := func(db *store.DB, r *tapdesk.Request, a tapdesk.Actor, d tapdesk.Decision, mails ...store.Mail) {
		t.Helper()
		act := tapdesk.ActApprove
		if d == tapdesk.DecisionDeny {
			act = tapdesk.ActDeny
		}
		ev := tapdesk.Event{Activity: act, Category: tapdesk.CatApproval, Actor: a}
		_, err := db.Decide(ctx, r, tapdesk.Approval{RequestID: r.ID, Approver: a, Decision: d, Reason: "checked", CreatedAt: clock}, ev, mails)
		must(err)
	}

	// Under key A: an issued pass, a denial, mail in every state, then a
	// prune two days later.
	db := open(keyA)
	r1 := request("c1", 1)
	fileRequest(t, db, r1, store.Mail{Kind: mail.KindApprovalRequest, To: "appr@x"})
	decide(db, r1, approver, tapdesk.DecisionApprove, store.Mail{Kind: mail.KindRequestDecided, To: "agent@x"})
	must(db.ClaimIssue(ctx, r1, tapdesk.Event{Activity: tapdesk.ActIssueStart, Category: tapdesk.CatMethod, Actor: agent}))
	tap := &tapdesk.TAPInfo{MethodID: "m-c1", StartAt: clock, LifetimeMinutes: 60, UsableOnce: true}
	must(db.Transition(ctx, r1, store.Change{From: tapdesk.StateApproved, To: tapdesk.StateIssued, At: clock, TAP: tap, Revealed: true}, nil,
		tapdesk.Event{Activity: tapdesk.ActReveal, Category: tapdesk.CatMethod, Actor: agent}))
	r2 := request("c2", 2)
	fileRequest(t, db, r2, store.Mail{Kind: mail.KindApprovalRequest, To: "appr@x"}, store.Mail{Kind: mail.KindApprovalRequest, To: "appr2@x"})
	decide(db, r2, second, tapdesk.DecisionDeny, store.Mail{Kind: mail.KindRequestDecided, To: "agent@x"})
	due, err := db.DueMail(ctx, clock, 10)
	must(err)
	if len(due) < 4 {
		t.Fatalf("%d mails due, want at least 4", len(due))
	}
	must(db.MarkMailSent(ctx, due[0].ID, clock))
	must(db.MarkMailSent(ctx, due[1].ID, clock))
	must(db.MarkMailFailed(ctx, due[2].ID, clock, clock.Add(time.Minute), "450 mailbox busy"))
	must(db.MarkMailFailed(ctx, due[3].ID, clock, time.Time{}, "550 no such user"))
	seed(t, db, 3)
	clock = clock.Add(48 * time.Hour)
	// An event newer than the cut, so the prune keeps a trail to verify
	// from its checkpoint.
	must(db.AppendEvent(ctx, tapdesk.Event{Activity: tapdesk.ActUserLookup, Category: tapdesk.CatRequest, Actor: agent, TargetUPN: "later@x"}))
	if res, err := db.PruneEvents(ctx, clock.Add(-time.Hour), agent); err != nil || res.Removed == 0 {
		t.Fatalf("prune: %+v %v", res, err)
	}
	must(db.Close())

	// After a rotation to key B: links used and unused, a dispute, a
	// cancellation, a request still pending, sessions.
	db = open(keyB, keyA)
	defer db.Close()
	must(db.CheckAuditKey(ctx))
	r3 := request("c3", 1)
	fileRequest(t, db, r3, store.Mail{Kind: mail.KindApprovalRequest, To: "appr@x"})
	must(db.CreateLink(ctx, "link-used", r3.ID, "appr@x", clock, clock.Add(time.Hour)))
	must(db.CreateLink(ctx, "link-unused", r3.ID, "appr2@x", clock, clock.Add(time.Hour)))
	avery := tapdesk.Principal{TenantID: "t", ObjectID: "appr", UPN: "appr@x", Roles: []tapdesk.Role{tapdesk.RoleApprover}}
	if _, err := db.UseLink(ctx, "link-used", avery, nil, clock, tapdesk.Event{Activity: tapdesk.ActLinkOpened, Category: tapdesk.CatApproval, Actor: approver}); err != nil {
		t.Fatal(err)
	}
	decide(db, r3, approver, tapdesk.DecisionApprove, store.Mail{Kind: mail.KindRequestDecided, To: "agent@x"})
	r4 := request("c4", 1)
	fileRequest(t, db, r4, store.Mail{Kind: mail.KindPassRequested, To: "target@x"}, store.Mail{Kind: mail.KindApprovalRequest, To: "appr@x"})
	must(db.CreateDisputeLink(ctx, "dispute-used", r4.ID, "target@x", clock, clock.Add(time.Hour)))
	must(db.CreateDisputeLink(ctx, "dispute-unused", r4.ID, "boss@x", clock, clock.Add(time.Hour)))
	must(db.Dispute(ctx, "dispute-used", r4, store.Change{From: tapdesk.StatePending, To: tapdesk.StateDisputed, At: clock, DecisionNote: "not me"},
		[]store.Mail{{Kind: mail.KindDisputeAlert, To: "agent@x"}}, disputeEvent()))
	r5 := request("c5", 1)
	fileRequest(t, db, r5)
	must(db.Transition(ctx, r5, store.Change{From: tapdesk.StatePending, To: tapdesk.StateCancelled, At: clock}, nil,
		tapdesk.Event{Activity: tapdesk.ActRequestCancel, Category: tapdesk.CatRequest, Actor: agent}))
	fileRequest(t, db, request("c6", 2), store.Mail{Kind: mail.KindApprovalRequest, To: "appr@x"})
	// An alert on the dispute, mailed: the alert tables and their cursor.
	newest, err := db.Events(ctx, store.EventFilter{Limit: 1})
	must(err)
	cursor, err := db.AlertCursor(ctx)
	must(err)
	_, err = db.RaiseAlerts(ctx, cursor, newest[0].Seq, []tapdesk.Alert{{Rule: tapdesk.AlertDispute, Key: "dispute|c4", Subject: "target@x",
		Summary: "target@x said it was not them.", Seq: newest[0].Seq, At: clock, RequestID: r4.ID, Evidence: "/requests/c4", Mail: tapdesk.AlertMailQueued}},
		[]string{"security@x"}, clock)
	must(err)

	// Passes made outside tapdesk: one explained by an issue, one not
	// (deleted), and the cursor.
	must(db.AppendEvent(ctx, tapdesk.Event{Activity: tapdesk.ActIssueAttempt, Category: tapdesk.CatMethod, Actor: agent, TargetID: "u-outside", TAPMethodID: "m-mine"}))
	reg := tapdesk.PassRegistration{AuditID: "audit-mine", At: clock, TargetID: "u-outside", TargetUPN: "u@x", ByApp: true, ByID: "app"}
	if ok, err := db.ExplainByIssue(ctx, reg, clock.Add(-time.Minute), clock.Add(time.Minute), clock); err != nil || !ok {
		t.Fatalf("explain: %v %v", ok, err)
	}
	outside := tapdesk.OutsidePass{PassRegistration: tapdesk.PassRegistration{AuditID: "audit-outside", At: clock, TargetID: "u-outside",
		TargetUPN: "u@x", TargetName: "U", ByID: "admin", ByUPN: "admin@x", ByName: "Admin", ByIP: "203.0.113.1"}, FoundAt: clock, MethodID: "m-out"}
	if ok, err := db.RecordOutsidePass(ctx, outside, tapdesk.Event{Activity: tapdesk.ActOutsidePassFound, Category: tapdesk.CatSecurity,
		Actor: tapdesk.SystemActor, TargetID: "u-outside"}); err != nil || !ok {
		t.Fatalf("record: %v %v", ok, err)
	}
	must(db.OutsidePassDeleted(ctx, "audit-outside", clock, false, nil))
	must(db.SetOutsidePassCursor(ctx, clock, clock.Add(-2*time.Hour)))

	// Sessions expire by the real clock (the session store compares with
	// the database's own).
	sessions := db.SessionRows()
	live, expired = store.HashToken("live-session"), store.HashToken("expired-session")
	must(sessions.CommitCtx(ctx, live, []byte("live\x00session data"), time.Now().Add(time.Hour).Truncate(time.Millisecond)))
	must(sessions.CommitCtx(ctx, expired, []byte("old"), time.Now().Add(-time.Hour)))
	// A SIEM sink that has delivered part of the trail.
	if _, held, err := db.TakeSIEMLease(ctx, "webhook", "host-1", clock, clock.Add(time.Minute)); err != nil || !held {
		t.Fatalf("siem lease: %v %v", held, err)
	}
	must(db.AdvanceSIEMCursor(ctx, "webhook", "host-1", 0, 3, clock))
	// A published checkpoint of the trail's head (evidence package).
	if ok, err := db.ClaimCheckpointSlot(ctx, "2026-11-25T10:00:00Z", clock, time.Minute); err != nil || !ok {
		t.Fatalf("claim checkpoint slot: %v %v", ok, err)
	}
	must(db.RecordCheckpoint(ctx, "2026-11-25T10:00:00Z", 1, strings.Repeat("a", 64), `{"format":"tapdesk-audit-checkpoint-v1"}`,
		tapdesk.Event{Activity: tapdesk.ActCheckpointPublished, Category: tapdesk.CatAudit}))
	if rep := verify(t, db); rep.Break != nil || rep.CheckpointSeq == 0 {
		t.Fatalf("the source's own trail: %+v %+v", rep, rep.Break)
	}
	return live, expired
}

// copyTables are the tables every tapdesk schema has; the copy must carry
// them all (the test's own list, so a table the copy skips shows here).
var copyTables = []string{"requests", "approvals", "approval_links", "dispute_links", "outbox", "audit_events", "sessions",
	"published_checkpoints", "outside_pass_cursor", "directory_audits_examined", "outside_passes",
	"alerts", "alert_mail", "alert_cursor", "siem_cursors"}

// tableDump reads every row of table as text, sorted, with the stored
// (not generated) columns of the SQLite source, so two databases compare
// row by row. Booleans read as 1/0, bytes as hex, session expiry as
// milliseconds in UTC (each database formats its own).
func tableDump(t *testing.T, db *sql.DB, postgres bool, table string, cols []string) []string {
	t.Helper()
	sel := make([]string, len(cols))
	for i, c := range cols {
		sel[i] = `"` + c + `"`
		if table == "sessions" && c == "expiry" {
			sel[i] = `strftime('%Y-%m-%dT%H:%M:%fZ', expiry)`
			if postgres {
				sel[i] = `to_char(expiry AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')`
			}
		}
	}
	rows, err := db.Query(`SELECT ` + strings.Join(sel, ", ") + ` FROM ` + table)
	if err != nil {
		t.Fatalf("dump %s: %v", table, err)
	}
	defer rows.Close()
	var out []string
	vals := make([]any, len(cols))
	ptrs := make([]any, len(cols))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	for rows.Next() {
		if err := rows.Scan(ptrs...); err != nil {
			t.Fatal(err)
		}
		var b strings.Builder
		for i, v := range vals {
			switch v := v.(type) {
			case nil:
				b.WriteString("NULL")
			case bool:
				fmt.Fprint(&b, map[bool]int{false: 0, true: 1}[v])
			case int64:
				fmt.Fprint(&b, v)
			case []byte:
				fmt.Fprintf(&b, "%x", v)
			case string:
				fmt.Fprintf(&b, "%q", v)
			default:
				t.Fatalf("%s.%s: unexpected %T", table, cols[i], v)
			}
			b.WriteByte('|')
		}
		out = append(out, b.String())
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	slices.Sort(out)
	return out
}

func storedColumns(t *testing.T, db *sql.DB, table string) []string {
	t.Helper()
	rows, err := db.Query(`SELECT name FROM pragma_table_xinfo(?) WHERE hidden = 0 ORDER BY cid`, table)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var cols []string
	for rows.Next() {
		var c string
		if err := rows.Scan(&c); err != nil {
			t.Fatal(err)
		}
		cols = append(cols, c)
	}
	return cols
}

func fileHash(t *testing.T, path string) [32]byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return sha256.Sum256(b)
}

// openCopyEnds opens the source file as it is and the target URL
// unmigrated, with the rotated keys on the target (it verifies the copy).
func openCopyEnds(t *testing.T, from, to string) (*store.DB, *store.DB) {
	t.Helper()
	src, err := store.OpenExisting(context.Background(), from)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { src.Close() })
	dst, err := store.OpenExisting(context.Background(), to)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { dst.Close() })
	if err := dst.SetAuditKey(keyB, keyA); err != nil {
		t.Fatal(err)
	}
	return src, dst
}

// A SQLite installation copied into an empty PostgreSQL database arrives
// whole: every table row by row (audit records byte for byte), the chain
// verifying to the source's head, the source file unchanged; and tapdesk
// carries on on the copy (new requests, mail and events chain on, signed-in
// people stay signed in).
func TestCopyToPostgres(t *testing.T) {
	pgtest.Require(t)
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "tapdesk.db")
	live, expired := copyHistory(t, path)
	srcRep := func() store.VerifyReport {
		db := reopen(t, path, keyB, keyA)
		defer db.Close()
		return verify(t, db)
	}()
	before := fileHash(t, path)

	url := pgtest.URL(t)
	from, to := openCopyEnds(t, path, url)
	rep, err := store.Copy(ctx, from, to)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Chain.Break != nil || rep.Chain.LastSeq != srcRep.LastSeq || rep.Chain.HeadMAC != srcRep.HeadMAC ||
		rep.Chain.Checked != srcRep.Checked || rep.Chain.CheckpointSeq != srcRep.CheckpointSeq || rep.Chain.CheckpointSeq == 0 {
		t.Fatalf("the copy's chain %+v (break %+v), the source's %+v", rep.Chain, rep.Chain.Break, srcRep)
	}
	if len(rep.Chain.Unexplained) != len(srcRep.Unexplained) {
		t.Errorf("the copy's replay finds %d unexplained requests, the source's %d", len(rep.Chain.Unexplained), len(srcRep.Unexplained))
	}
	if strings.Contains(rep.To, "password") || !strings.HasPrefix(rep.To, "postgres") {
		t.Errorf("report names the target %q", rep.To)
	}
	var tables []string
	for _, tr := range rep.Tables {
		tables = append(tables, tr.Table)
		if tr.Rows == 0 {
			t.Errorf("the history left %s empty: the test copies nothing there", tr.Table)
		}
	}
	if !slices.Equal(tables, copyTables) {
		t.Fatalf("copied tables %v, want %v", tables, copyTables)
	}

	pg := to.SQL()
	for _, table := range copyTables {
		cols := storedColumns(t, from.SQL(), table)
		want, got := tableDump(t, from.SQL(), false, table, cols), tableDump(t, pg, true, table, cols)
		if !slices.Equal(want, got) {
			t.Errorf("table %s differs:\nSQLite     %q\nPostgreSQL %q", table, want, got)
		}
	}
	from.Close()
	if fileHash(t, path) != before {
		t.Error("the copy changed the source file")
	}

	// tapdesk on the copy: it starts (the key checks out), files, mails and
	// appends, and the chain goes on from the copied head.
	to.Close()
	db := reopen(t, url, keyB, keyA)
	if err := db.CheckAuditKey(ctx); err != nil {
		t.Fatal(err)
	}
	var maxID int64
	if err := db.SQL().QueryRow(`SELECT MAX(id) FROM outbox`).Scan(&maxID); err != nil {
		t.Fatal(err)
	}
	fileRequest(t, db, newRequest("after-copy", 1), store.Mail{Kind: mail.KindApprovalRequest, To: "appr@x"})
	var newID int64
	if err := db.SQL().QueryRow(`SELECT id FROM outbox WHERE request_id = 'after-copy'`).Scan(&newID); err != nil || newID != maxID+1 {
		t.Fatalf("the first mail after the copy got id %d (%v), want %d", newID, err, maxID+1)
	}
	for i := range 2 {
		if err := db.AppendEvent(ctx, tapdesk.Event{Time: t0.Add(72*time.Hour + time.Duration(i)*time.Minute), Activity: tapdesk.ActUserLookup,
			Category: tapdesk.CatRequest, Actor: agent, TargetUPN: "after@x"}); err != nil {
			t.Fatal(err)
		}
	}
	after := verify(t, db)
	if after.Break != nil || after.LastSeq != srcRep.LastSeq+4 || after.Checked != srcRep.Checked+4 {
		t.Fatalf("the chain after carrying on: %+v %+v", after, after.Break)
	}
	sessions := db.SessionRows()
	if b, ok, err := sessions.FindCtx(ctx, live); err != nil || !ok || !bytes.Equal(b, []byte("live\x00session data")) {
		t.Errorf("the live session on the copy: %q %v %v", b, ok, err)
	}
	if _, ok, err := sessions.FindCtx(ctx, expired); err != nil || ok {
		t.Errorf("the expired session was found on the copy (%v)", err)
	}
}

// emptyTarget fails t unless every tapdesk table on the target is empty.
func emptyTarget(t *testing.T, url string) {
	t.Helper()
	db, err := sql.Open("pgx", url)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, table := range copyTables {
		var n int
		// A copy refused before it migrated the target leaves no tables.
		var exists bool
		if err := db.QueryRow(`SELECT to_regclass($1) IS NOT NULL`, table).Scan(&exists); err != nil || !exists {
			continue
		}
		if err := db.QueryRow(`SELECT COUNT(*) FROM ` + table).Scan(&n); err != nil {
			t.Fatalf("count %s: %v", table, err)
		}
		if n != 0 {
			t.Errorf("the failed copy left %d rows in %s", n, table)
		}
	}
}

// variant copies the source database to a new file and changes it there
// with SQL run as it is (no foreign keys), as damage or a later schema
// would.
func variant(t *testing.T, path string, stmts ...string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "variant.db")
	if err := os.WriteFile(out, b, 0o600); err != nil {
		t.Fatal(err)
	}
	db, err := sql.Open("sqlite", out)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, s := range stmts {
		if _, err := db.Exec(s); err != nil {
			t.Fatalf("%s: %v", s, err)
		}
	}
	return out
}

// The copy refuses what it cannot copy whole, and a copy that fails part
// way (a row the target refuses, a chain that does not check out) leaves
// the target empty: each case runs against the same target, which then
// takes a good copy.
func TestCopyRefusesAndRollsBack(t *testing.T) {
	pgtest.Require(t)
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "tapdesk.db")
	copyHistory(t, path)
	url := pgtest.URL(t)

	for _, tc := range []struct {
		name  string
		stmts []string
		want  string
	}{
		{"a table the copy does not know", []string{`CREATE TABLE later_feature (id INTEGER PRIMARY KEY)`},
			`holds a table "later_feature" that this copy does not know`},
		{"a column only one side has", []string{`ALTER TABLE outbox ADD COLUMN priority INTEGER NOT NULL DEFAULT 0`},
			"the table outbox differs between the two databases (only in SQLite: priority"},
		{"an older schema", []string{`DELETE FROM goose_db_version WHERE version_id = (SELECT MAX(version_id) FROM goose_db_version)`},
			"bring it up to date first (tapdesk migrate --db"},
		{"a newer schema", []string{`INSERT INTO goose_db_version (version_id, is_applied) VALUES (999, 1)`},
			"written by a newer tapdesk"},
		{"an approval whose request is gone (mid-copy)", []string{
			`INSERT INTO approvals VALUES ('no-such-request', 't', 'x', 'x@x', 'X', 'approve', '', '2026-11-23T10:00:00.000000Z')`},
			"copy table approvals:"},
		{"text PostgreSQL cannot hold (mid-copy)", []string{`UPDATE outbox SET last_error = 'bad' || char(0) || 'byte' WHERE id = (SELECT MAX(id) FROM outbox)`},
			"copy table outbox:"},
		{"a trail that does not check out", []string{`UPDATE audit_events SET mac = 'x' || substr(mac, 2) WHERE seq = (SELECT MAX(seq) - 3 FROM audit_events)`},
			"does not check out at event"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			from, to := openCopyEnds(t, variant(t, path, tc.stmts...), url)
			_, err := store.Copy(ctx, from, to)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("copy: %v, want %q", err, tc.want)
			}
			t.Log(err)
			emptyTarget(t, url)
		})
	}

	t.Run("not a tapdesk database", func(t *testing.T) {
		other := filepath.Join(t.TempDir(), "notes.db")
		db, err := sql.Open("sqlite", other)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := db.Exec(`CREATE TABLE notes (body TEXT)`); err != nil {
			t.Fatal(err)
		}
		db.Close()
		from, to := openCopyEnds(t, other, url)
		if _, err := store.Copy(ctx, from, to); err == nil || !strings.Contains(err.Error(), "is not a tapdesk database") {
			t.Fatalf("copy of another application's database: %v", err)
		}
		text := filepath.Join(t.TempDir(), "readme.txt")
		if err := os.WriteFile(text, bytes.Repeat([]byte("not a database\n"), 100), 0o600); err != nil {
			t.Fatal(err)
		}
		if db, err := store.OpenExisting(ctx, text); err == nil || !strings.Contains(err.Error(), "file is not a database") {
			db.Close()
			t.Fatalf("open a text file: %v", err)
		}
	})
	t.Run("without the audit key", func(t *testing.T) {
		from, to := openCopyEnds(t, path, url)
		bare, err := store.OpenExisting(ctx, url)
		if err != nil {
			t.Fatal(err)
		}
		defer bare.Close()
		_ = to
		if _, err := store.Copy(ctx, from, bare); err == nil || !strings.Contains(err.Error(), "audit") {
			t.Fatalf("copy without a key: %v", err)
		}
	})
	t.Run("into SQLite", func(t *testing.T) {
		from, _ := openCopyEnds(t, path, url)
		other, err := store.Open(ctx, filepath.Join(t.TempDir(), "other.db"))
		if err != nil {
			t.Fatal(err)
		}
		defer other.Close()
		other.SetAuditKey(keyB, keyA)
		if _, err := store.Copy(ctx, from, other); err == nil || !strings.Contains(err.Error(), "writes into a PostgreSQL database") {
			t.Fatalf("copy into SQLite: %v", err)
		}
	})

	emptyTarget(t, url)
	from, to := openCopyEnds(t, path, url)
	if _, err := store.Copy(ctx, from, to); err != nil {
		t.Fatalf("a good copy after the failed ones: %v", err)
	}
	// A second copy would merge: refused, and the first stays as it was.
	var events int
	if err := to.SQL().QueryRow(`SELECT COUNT(*) FROM audit_events`).Scan(&events); err != nil {
		t.Fatal(err)
	}
	if _, err := store.Copy(ctx, from, to); err == nil || !strings.Contains(err.Error(), "already holds tapdesk data (rows in requests, approvals") {
		t.Fatalf("a copy into a database that holds data: %v", err)
	}
	var again int
	if err := to.SQL().QueryRow(`SELECT COUNT(*) FROM audit_events`).Scan(&again); err != nil || again != events {
		t.Fatalf("the refused copy changed the target: %d events, was %d (%v)", again, events, err)
	}
}

// A tapdesk serving on the source keeps writing while the copy reads it:
// its appends go through, and the copy holds one consistent state (its
// counts agree and its chain verifies), none of what came after.
func TestCopyWhileSourceServes(t *testing.T) {
	pgtest.Require(t)
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "tapdesk.db")
	src := reopen(t, path, keyA)
	const seeded = 5_000
	if err := src.AppendEvents(ctx, seeded, 1_000, func(i int) tapdesk.Event {
		return tapdesk.Event{Time: t0, Activity: tapdesk.ActUserLookup, Category: tapdesk.CatRequest, Actor: agent, TargetUPN: fmt.Sprintf("u%d@x", i)}
	}); err != nil {
		t.Fatal(err)
	}
	from, err := store.OpenExisting(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer from.Close()
	to, err := store.OpenExisting(ctx, pgtest.URL(t))
	if err != nil {
		t.Fatal(err)
	}
	defer to.Close()
	if err := to.SetAuditKey(keyA); err != nil {
		t.Fatal(err)
	}

	done := make(chan struct{})
	appended := make(chan int)
	go func() {
		n := 0
		defer func() { appended <- n }()
		for {
			select {
			case <-done:
				return
			default:
			}
			if err := src.AppendEvent(ctx, tapdesk.Event{Time: t0, Activity: tapdesk.ActUserLookup, Category: tapdesk.CatRequest, Actor: agent}); err != nil {
				t.Errorf("an append on the source during the copy: %v", err)
				return
			}
			n++
		}
	}()
	rep, err := store.Copy(ctx, from, to)
	close(done)
	n := <-appended
	if err != nil {
		t.Fatal(err)
	}
	if n == 0 {
		t.Fatal("no append went through while the copy ran")
	}
	var events int64
	for _, tr := range rep.Tables {
		if tr.Table == "audit_events" {
			events = tr.Rows
		}
	}
	if rep.Chain.Break != nil || rep.Chain.Checked != events || events < seeded || events >= seeded+int64(n) {
		t.Fatalf("copied %d events (chain %+v), seeded %d, appended %d during the copy", events, rep.Chain, seeded, n)
	}
	t.Logf("copied %d events while %d were appended", events, n)
}

// copyEndsAfter is a SQLite source holding copyHistory, then what change
// did to it, and an empty PostgreSQL target, opened for store.Copy.
func copyEndsAfter(t *testing.T, change func(db *store.DB)) (from, to *store.DB) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "tapdesk.db")
	copyHistory(t, path)
	func() {
		db := reopen(t, path, keyB, keyA)
		defer db.Close()
		change(db)
	}()
	return openCopyEnds(t, path, pgtest.URL(t))
}

// Heightened-threat mode switched on in the source is on in the copy, with
// who and why: a move to PostgreSQL during an incident must not switch it
// off (the copy's migrations create the mode off).
func TestCopyCarriesThreatMode(t *testing.T) {
	pgtest.Require(t)
	ctx := context.Background()
	from, to := copyEndsAfter(t, func(db *store.DB) {
		by := tapdesk.Actor{ObjectID: "oid-ada", Name: "Ada Admin", UPN: "ada.admin@contoso.example"}
		if err := db.SetThreatMode(ctx, true, by, "Phishing wave", tapdesk.Event{Time: t0.Add(5 * 24 * time.Hour), Activity: tapdesk.ActThreatModeChanged,
			Category: tapdesk.CatSecurity, Actor: by, Reason: "Phishing wave", Details: map[string]string{"threat_mode": "on"}}); err != nil {
			t.Fatal(err)
		}
	})
	if _, err := store.Copy(ctx, from, to); err != nil {
		t.Fatal(err)
	}
	m, err := to.ThreatMode(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !m.On || m.Reason != "Phishing wave" || m.By.Name != "Ada Admin" || m.Since.IsZero() {
		t.Errorf("the copy's mode %+v, want on since the switch, by Ada Admin for the phishing wave", m)
	}
}

// A source whose threat-mode row was deleted is refused with a sentence
// that says what to do: tapdesk holds such a mode on, and the copy must
// not land it off.
func TestCopyRefusesTamperedThreatMode(t *testing.T) {
	pgtest.Require(t)
	ctx := context.Background()
	from, to := copyEndsAfter(t, func(db *store.DB) { exec(t, db, `DELETE FROM threat_mode`) })
	_, err := store.Copy(ctx, from, to)
	if err == nil || !strings.Contains(err.Error(), "switch the mode at /admin/threat-mode on the source first") || !strings.Contains(err.Error(), "nothing was copied") {
		t.Fatalf("copying a source without its threat-mode row: %v", err)
	}
	if evs, err := to.Events(ctx, store.EventFilter{}); err != nil || len(evs) != 0 {
		t.Errorf("the target holds %d events after the refusal (%v)", len(evs), err)
	}
}
