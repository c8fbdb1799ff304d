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

// cutFrom deletes the request's events from its first event of activity
// on (that event, its mail and everything of the request after it), as an
// insider with write access to the database would, and sets it back to
// approved. Other requests' events after them stay: the cut is in the
// middle of the trail.
func cutFrom(t *testing.T, raw *sql.DB, id string, activity tapdesk.Activity) {
	t.Helper()
	write(t, raw, `DELETE FROM audit_events WHERE request_id = ?1 AND seq >= (SELECT MIN(seq) FROM audit_events WHERE request_id = ?1 AND activity = ?2)`,
		id, string(activity))
	write(t, raw, `UPDATE requests SET state = 'approved', decision_note = '' WHERE id = ?`, id)
}

// Hole: the issue-time recount checked each of the request's events only
// against the one just before it, so events cut from the middle of the
// trail went unnoticed. A disputed (or cancelled) request whose stopping
// event is deleted and whose row is set back to approved must not issue.
func TestRecountSeesEventsCutFromTheTrail(t *testing.T) {
	d := startTestDemoWith(t, manyActions) // files and reveals more than a person would in 10 minutes
	raw := attacker(t, d)
	agent := d.browser(t)
	agent.signIn("/", "agent")

	// The dispute and everything after it are cut off the end: no gap, but
	// tapdesk wrote (the mail about the dispute) onto a longer trail. First,
	// so that the first notice Chen gets is his own.
	t.Run("dispute cut off the end", func(t *testing.T) {
		req := fileWithExtras(t, agent.with(t), d, "chen.wei@contoso.example", "New laptop, no methods yet, verified", nil)
		approveAs(t, d, req, "approver")
		link := disputeLink.FindString(waitMail(t, d.capture, "chen.wei@contoso.example", requestedSubject).Text)
		d.browser(t).get(link).submit(`form[action^="/dispute/"]`, nil).status(http.StatusOK).contains(`data-testid="dispute-done"`)
		outboxDrained(t, d)
		id := strings.TrimPrefix(req, "/requests/")
		write(t, raw, `DELETE FROM audit_events WHERE seq >= (SELECT MIN(seq) FROM audit_events WHERE request_id = ? AND activity = ?)`,
			id, string(tapdesk.ActDispute))
		write(t, raw, `UPDATE requests SET state = 'approved', decision_note = '' WHERE id = ?`, id)
		revealRefused(t, d, agent.with(t), req, "is missing")
	})

	t.Run("dispute deleted", func(t *testing.T) {
		req := fileWithExtras(t, agent.with(t), d, "nina.newhire@contoso.example", "Caller says she lost her phone", nil)
		approveAs(t, d, req, "approver")
		link := disputeLink.FindString(waitMail(t, d.capture, "nina.newhire@contoso.example", requestedSubject).Text)
		d.browser(t).get(link).submit(`form[action^="/dispute/"]`, nil).status(http.StatusOK).contains(`data-testid="dispute-done"`)
		waitMail(t, d.capture, demoSecurityEmail, "Disputed")
		outboxDrained(t, d)
		// The trail moves on: another request is filed after the dispute.
		fileRequestFor(t, agent.with(t), "marco.rossi@contoso.example", "Another request after the dispute")
		cutFrom(t, raw, strings.TrimPrefix(req, "/requests/"), tapdesk.ActDispute)
		revealRefused(t, d, agent.with(t), req, "is missing")
	})

	t.Run("cancel deleted", func(t *testing.T) {
		agent := agent.with(t)
		// Nina's and Marco's requests above are still open, and a target has
		// one open request at most: other people here.
		req := fileRequestFor(t, agent, "lukas.becker@contoso.example", "Approved, then cancelled")
		approveAs(t, d, req, "approver")
		agent.get(req).submit(`form[action$="/cancel"]`, nil).status(http.StatusOK)
		fileRequestFor(t, agent, "sofia.garcia@contoso.example", "Another request after the cancel")
		cutFrom(t, raw, strings.TrimPrefix(req, "/requests/"), tapdesk.ActRequestCancel)
		revealRefused(t, d, agent, req, "is missing")
	})
}

// Hole: revoke (and a dispute of an issued request, and closing the loop)
// deleted the pass named by the requests row. Pointed at a made-up id,
// Graph answered not found, tapdesk recorded the pass as deleted, and the
// real one kept working. The pass to delete is the one the signed issue
// event names.
func TestRevokeDeletesTheSignedPass(t *testing.T) {
	d := startTestDemo(t)
	raw := attacker(t, d)
	agent := d.browser(t)
	agent.signIn("/", "agent")
	req, _ := issuedFor(t, d, agent, "nina.newhire@contoso.example", "New starter needs a pass to onboard")
	nina := d.userID(t, "nina.newhire@contoso.example")
	real := d.fake.Tenant().CurrentTAP(nina)
	if real == nil {
		t.Fatal("no pass after reveal")
	}
	id := strings.TrimPrefix(req, "/requests/")
	write(t, raw, `UPDATE requests SET tap_method_id = '00000000-0000-4000-8000-000000000bad' WHERE id = ?`, id)

	// verify names the swap.
	out, _, err := runCLI(t, map[string]string{"TAPDESK_AUDIT_KEY": demoAuditKey}, "audit", "verify", "--db", d.dbPath)
	if exitCode(err) != 1 || !strings.Contains(out, `request `+id+` names pass "00000000-0000-4000-8000-000000000bad" in the database, but its signed issue event names pass`) {
		t.Fatalf("audit verify: code %d\n%s", exitCode(err), out)
	}

	agent.get(req).submit(`form[action$="/revoke"]`, nil).status(http.StatusOK)
	if got := agent.text(`[data-testid="state"]`); got != "Revoked" {
		t.Fatalf("state %q", got)
	}
	if tap := d.fake.Tenant().CurrentTAP(nina); tap != nil {
		t.Fatalf("the real pass still exists in Entra after the revoke: %+v", tap)
	}
	evs, err := d.app.db.Events(context.Background(), store.EventFilter{RequestID: id, Activity: string(tapdesk.ActTamperDetected)})
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != 1 || !strings.Contains(evs[0].Reason, "its signed issue event names pass") {
		t.Fatalf("tampering events %+v", evs)
	}
}

// With the signed issue event deleted as well, the trail names no pass:
// the stored id is made up, Graph does not find it, and the pass the user
// holds, created when this request's was issued, is deleted rather than
// assumed gone.
func TestRevokeLooksForThePassNotFound(t *testing.T) {
	d := startTestDemo(t)
	raw := attacker(t, d)
	agent := d.browser(t)
	agent.signIn("/", "agent")
	req, _ := issuedFor(t, d, agent, "nina.newhire@contoso.example", "New starter needs a pass to onboard")
	nina := d.userID(t, "nina.newhire@contoso.example")
	if d.fake.Tenant().CurrentTAP(nina) == nil {
		t.Fatal("no pass after reveal")
	}
	id := strings.TrimPrefix(req, "/requests/")
	write(t, raw, `DELETE FROM audit_events WHERE request_id = ? AND activity = ?`, id, string(tapdesk.ActIssueAttempt))
	write(t, raw, `UPDATE requests SET tap_method_id = '00000000-0000-4000-8000-000000000bad' WHERE id = ?`, id)
	agent.get(req).submit(`form[action$="/revoke"]`, nil).status(http.StatusOK)
	if tap := d.fake.Tenant().CurrentTAP(nina); tap != nil {
		t.Fatalf("the real pass still exists in Entra after the revoke: %+v", tap)
	}
	mustAudit(t, d, string(tapdesk.ActRevoke), "success", "was not found under method id 00000000-0000-4000-8000-000000000bad")
}
