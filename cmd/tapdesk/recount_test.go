package main

import (
	"context"
	"database/sql"
	"net/http"
	"strings"
	"testing"

	"github.com/tapdesk/tapdesk"
	"github.com/tapdesk/tapdesk/store"
)

// attacker opens the database file a second time, as someone with write
// access to it (and not to the audit key) would.
func attacker(t *testing.T, d *testDemo) *sql.DB {
	t.Helper()
	driver, dsn := "sqlite", "file:"+d.dbPath+"?_pragma=busy_timeout(10000)"
	if store.IsPostgresURL(d.dbPath) {
		driver, dsn = "pgx", d.dbPath // pgx's driver takes $1 placeholders, not ?
	}
	raw, err := sql.Open(driver, dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { raw.Close() })
	return raw
}

// openRaw opens the demo's SQLite file behind tapdesk's back, as an
// insider with the file would, until the test ends.
func openRaw(t *testing.T, path string) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(10000)")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func write(t *testing.T, db *sql.DB, q string, args ...any) {
	t.Helper()
	if _, err := db.Exec(q, args...); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
}

// revealRefused presses reveal on a request the database says is approved
// and checks that tapdesk refuses with a sentence, calls no Graph create,
// audits tampering naming what it found, and leaves the request unclaimed.
func revealRefused(t *testing.T, d *testDemo, agent *browser, req, finding string) {
	t.Helper()
	id := strings.TrimPrefix(req, "/requests/")
	creates := d.fake.CountRequests(createTAP)
	agent.get(req).status(http.StatusOK)
	if got := agent.text(`[data-testid="state"]`); got != "Approved" {
		t.Fatalf("the edited request shows %q, want Approved (the attack did not take)", got)
	}
	agent.submit(`form[action$="/reveal"]`, nil).status(http.StatusForbidden).
		contains("will not issue this pass").contains("Nothing was issued")
	if agent.doc().Find(`[data-testid="pass"]`).Length() != 0 {
		t.Fatal("a pass was shown")
	}
	if n := d.fake.CountRequests(createTAP); n != creates {
		t.Fatalf("Graph was asked to create %d pass(es)", n-creates)
	}
	evs, err := d.app.db.Events(context.Background(), store.EventFilter{RequestID: id, Activity: string(tapdesk.ActTamperDetected)})
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != 1 || evs[0].Result != tapdesk.ResultFailure || evs[0].Category != tapdesk.CatAudit ||
		!strings.Contains(evs[0].Reason, finding) || evs[0].Actor.UPN != "alex.agent@contoso.example" {
		t.Fatalf("tampering events %+v, want one naming %q", evs, finding)
	}
	var claimed bool
	if err := d.app.db.SQL().QueryRow(`SELECT issue_claimed_at IS NOT NULL FROM requests WHERE id = ?`, id).Scan(&claimed); err != nil || claimed {
		t.Fatalf("the refused request is claimed: %v %v", claimed, err)
	}
	// A second press is refused the same way (nothing was spent).
	agent.get(req).submit(`form[action$="/reveal"]`, nil).status(http.StatusForbidden).contains("will not issue this pass")
}

// Hole 3: a database write must not skip approval. Each attack edits the
// SQLite file directly, as someone with access to it but not to the audit
// key would, and the agent then presses reveal.
func TestDatabaseWriteSkipsApproval(t *testing.T) {
	d := startTestDemoWith(t, manyActions) // files and reveals more than a person would in 10 minutes
	raw := attacker(t, d)
	agent := d.browser(t)
	agent.signIn("/", "agent")
	avery := d.browser(t)
	avery.signIn("/", "approver")
	auditor := d.browser(t)
	auditor.signIn("/audit/verify", "auditor")

	// A sound request still reveals, and verify finds nothing.
	sound := fileRequestFor(t, agent, "nina.newhire@contoso.example", "Sound request, approved in the portal")
	avery.get(sound).submit(`form[action$="/approve"]`, nil).status(http.StatusOK)
	agent.get(sound).submit(`form[action$="/reveal"]`, nil).status(http.StatusOK)
	if _, ok := shownPass(agent.doc().Find(`[data-testid="pass"]`)); !ok {
		t.Fatalf("a sound request did not reveal:\n%s", agent.body)
	}
	auditor.get("/audit/verify").status(http.StatusOK).contains(`data-testid="chain-holds"`)
	if auditor.doc().Find(`[data-testid="requests-unexplained"]`).Length() != 0 {
		t.Fatalf("verify reports a sound trail:\n%s", auditor.body)
	}

	t.Run("state set to approved", func(t *testing.T) {
		req := fileRequestFor(t, agent.with(t), "nina.newhire@contoso.example", "Approved by a database write")
		id := strings.TrimPrefix(req, "/requests/")
		write(t, raw, `UPDATE requests SET state = 'approved' WHERE id = ?`, id)
		revealRefused(t, d, agent.with(t), req, "is approved but its trail holds 0 of 1 required approvals")

		// The chain itself holds, but verify names the request, in the
		// portal and on the command line (exit 1).
		auditor := auditor.with(t)
		auditor.get("/audit/verify").status(http.StatusOK).contains(`data-testid="requests-unexplained"`).
			contains("request " + id + " is approved but its trail holds 0 of 1 required approvals")
		mustAudit(t, d, string(tapdesk.ActAuditVerified), "failure", "request "+id)
		out, _, err := runCLI(t, map[string]string{"TAPDESK_AUDIT_KEY": demoAuditKey}, "audit", "verify", "--db", d.dbPath)
		if exitCode(err) != 1 || !strings.Contains(out, "request "+id+" is approved but its trail holds 0 of 1 required approvals") {
			t.Fatalf("audit verify: code %d\n%s", exitCode(err), out)
		}
	})

	t.Run("approval forged in the approvals table", func(t *testing.T) {
		// Nina's request above stays approved (one open request per
		// target): someone else here.
		req := fileRequestFor(t, agent.with(t), "lukas.becker@contoso.example", "Approved by a forged approvals row")
		id := strings.TrimPrefix(req, "/requests/")
		write(t, raw, `INSERT INTO approvals (request_id, approver_tid, approver_oid, approver_upn, approver_name, decision, reason, created_at)
			SELECT ?, approver_tid, approver_oid, approver_upn, approver_name, decision, '', created_at FROM approvals WHERE request_id = ?`,
			id, strings.TrimPrefix(sound, "/requests/"))
		write(t, raw, `UPDATE requests SET state = 'approved' WHERE id = ?`, id)
		revealRefused(t, d, agent.with(t), req, "that no signed approval event backs")
	})

	t.Run("approval event copied from another request", func(t *testing.T) {
		req := fileRequestFor(t, agent.with(t), "sofia.garcia@contoso.example", "Approved by a copied audit event")
		id := strings.TrimPrefix(req, "/requests/")
		// The sound request's approval event, appended as this request's,
		// with its mac (nobody without the key can compute a right one).
		write(t, raw, `INSERT INTO audit_events (seq, record, mac)
			SELECT (SELECT MAX(seq) + 1 FROM audit_events), json_set(record, '$[13]', ?), mac
			FROM audit_events WHERE request_id = ? AND activity = ?`, id, strings.TrimPrefix(sound, "/requests/"), string(tapdesk.ActApprove))
		write(t, raw, `INSERT INTO approvals (request_id, approver_tid, approver_oid, approver_upn, approver_name, decision, reason, created_at)
			SELECT ?, approver_tid, approver_oid, approver_upn, approver_name, decision, '', created_at FROM approvals WHERE request_id = ?`,
			id, strings.TrimPrefix(sound, "/requests/"))
		write(t, raw, `UPDATE requests SET state = 'approved' WHERE id = ?`, id)
		revealRefused(t, d, agent.with(t), req, "does not check out with the audit key")
	})

	// Grace holds Global Administrator: two approvers. Lowering the count
	// in the database before the first approval lets Decide approve on one.
	t.Run("approvals required lowered from 2 to 1", func(t *testing.T) {
		req := fileRequestFor(t, agent.with(t), "grace.global@contoso.example", "Privileged target, count lowered in the database")
		id := strings.TrimPrefix(req, "/requests/")
		write(t, raw, `UPDATE requests SET approvals_required = 1 WHERE id = ?`, id)
		avery.with(t).get(req).submit(`form[action$="/approve"]`, nil).status(http.StatusOK)
		revealRefused(t, d, agent.with(t), req, "needs 1 approvals in the database but 2 in its signed filing event")
	})
}
