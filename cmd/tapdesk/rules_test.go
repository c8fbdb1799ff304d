package main

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/tapdesk/tapdesk/store"
)

// auditHas reports whether an event with this activity, result and a
// reason containing reasonPart exists.
func auditHas(t *testing.T, d *testDemo, activity, result, reasonPart string) bool {
	t.Helper()
	evs, err := d.app.db.Events(context.Background(), store.EventFilter{Activity: activity, Result: result})
	if err != nil {
		t.Fatal(err)
	}
	for _, ev := range evs {
		if strings.Contains(ev.Reason, reasonPart) {
			return true
		}
	}
	return false
}

func mustAudit(t *testing.T, d *testDemo, activity, result, reasonPart string) {
	t.Helper()
	if !auditHas(t, d, activity, result, reasonPart) {
		t.Errorf("no %s audit event %q with reason containing %q", result, activity, reasonPart)
	}
}

// TestSeparationOfDuty: requester, approver and target are three people.
func TestSeparationOfDuty(t *testing.T) {
	d := startTestDemo(t)

	t.Run("self-approval", func(t *testing.T) {
		dual := d.browser(t)
		dual.signIn("/", "dual")
		req := fileRequestFor(t, dual, "nina.newhire@contoso.example", "Dual-role agent files, then tries to approve")
		dual.get(req).status(http.StatusOK).contains("You filed this request")
		if dual.doc().Find(`form[action$="/approve"]`).Length() != 0 {
			t.Fatal("an approve button is offered to the requester")
		}
		dual.post(req+"/approve", url.Values{"_csrf": {csrfOf(dual)}}).status(http.StatusForbidden).contains("You filed this request")
		mustAudit(t, d, "Refuse decision", "failure", "You filed this request")
	})

	t.Run("request for oneself", func(t *testing.T) {
		dual := d.browser(t)
		dual.signIn("/", "dual")
		me := d.userID(t, "priya.patel@contoso.example")
		dual.get("/users/" + me).status(http.StatusOK).contains(`data-testid="ineligible"`)
		dual.get("/requests/new?user=" + me).status(http.StatusForbidden).contains("for yourself")
		dual.get("/") // a page with a CSRF token
		dual.post("/requests", url.Values{"_csrf": {csrfOf(dual)}, "user": {me}, "ticket_ref": {"INC-1"},
			"justification": {"I want a pass for myself"}, "verification": {"callback"},
			"verification_note": {"called myself"}, "lifetime": {"60"}}).status(http.StatusForbidden)
		mustAudit(t, d, "Refuse request", "failure", "for yourself")
	})

	t.Run("approving a request for one's own account", func(t *testing.T) {
		agent := d.browser(t)
		agent.signIn("/", "agent")
		req := fileRequestFor(t, agent, "avery.approver@contoso.example", "Approver lost their phone and key")
		avery := d.browser(t)
		avery.signIn(req, "approver").contains("for your own account")
		avery.post(req+"/approve", url.Values{"_csrf": {csrfOf(avery)}}).status(http.StatusForbidden)
		mustAudit(t, d, "Refuse decision", "failure", "your own account")
		// Other approvers may decide it; Avery holds Tap.Approver, so it
		// takes two of them.
		blake := d.browser(t)
		blake.signIn(req, "approver2").submit(`form[action$="/approve"]`, nil).status(http.StatusOK)
		if got := blake.text(`[data-testid="state"]`); got != "Pending" {
			t.Fatalf("one approval for an approver's pass: %s", got)
		}
		priya := d.browser(t)
		priya.signIn(req, "dual").submit(`form[action$="/approve"]`, nil).status(http.StatusOK)
		if got := priya.text(`[data-testid="state"]`); got != "Approved" {
			t.Fatalf("two other approvers could not approve: %s", got)
		}
	})
}

// TestLinksAndReveal: reused, expired and forged links; another agent's
// reveal; CSRF; XSS; open redirect.
func TestAttacks(t *testing.T) {
	d := startTestDemo(t)
	agent := d.browser(t)
	agent.signIn("/", "agent")
	req := fileRequestFor(t, agent, "nina.newhire@contoso.example", `<script>alert("x")</script> needs a pass`)
	id := strings.TrimPrefix(req, "/requests/")

	t.Run("XSS in a field is shown as text", func(t *testing.T) {
		agent := agent.with(t)
		agent.get(req).status(http.StatusOK)
		if strings.Contains(agent.body, `<script>alert`) {
			t.Fatal("justification rendered as markup")
		}
		agent.contains(`&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;`)
		if csp := agent.last.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'self' 'nonce-") {
			t.Errorf("CSP %q", csp)
		}
		if agent.last.Header.Get("X-Frame-Options") != "DENY" {
			t.Error("pages can be framed")
		}
	})

	approver := d.browser(t)
	approver.signIn("/", "approver")

	t.Run("missing CSRF token", func(t *testing.T) {
		approver := approver.with(t)
		approver.post(req+"/approve", url.Values{}).status(http.StatusForbidden).contains("security token")
		mustAudit(t, d, "Refuse access", "failure", "CSRF")
		approver.post(req+"/approve", url.Values{"_csrf": {"forged-token"}}).status(http.StatusForbidden)
		approver.get(req).status(http.StatusOK)
		if got := approver.text(`[data-testid="state"]`); got != "Pending" {
			t.Fatalf("a request without a CSRF token changed state to %s", got)
		}
	})

	t.Run("expired link", func(t *testing.T) {
		approver := approver.with(t)
		now := time.Now()
		if err := d.app.db.CreateLink(context.Background(), "expired-token-0123456789abcdefghijklmnopqrA", id, "stale-recipient@contoso.example",
			now.Add(-2*time.Hour), now.Add(-time.Hour)); err != nil {
			t.Fatal(err)
		}
		approver.get("/approve/expired-token-0123456789abcdefghijklmnopqrA").status(http.StatusConflict).contains("expired")
		mustAudit(t, d, "Refuse approval link", "failure", "expired")
	})

	t.Run("forged link", func(t *testing.T) {
		approver := approver.with(t)
		approver.get("/approve/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA").status(http.StatusNotFound).contains("not valid")
		mustAudit(t, d, "Refuse approval link", "failure", "not valid")
	})

	t.Run("a link does not let a non-approver in", func(t *testing.T) {
		approver := approver.with(t)
		msg := waitMail(t, d.capture, "avery.approver@contoso.example", "Approval needed")
		link := approveLink.FindString(msg.Text)
		other := d.browser(t)
		other.signIn("/", "agent2")
		other.get(link).status(http.StatusForbidden).contains("for approvers")
		mustAudit(t, d, "Refuse approval link", "failure", "not an approver")
		// The refusal did not spend the link: the approver can still use it.
		approver.get(link).status(http.StatusOK)
		if approver.path() != req {
			t.Fatalf("link landed on %s", approver.path())
		}
	})

	approver.get(req).submit(`form[action$="/approve"]`, nil).status(http.StatusOK)

	t.Run("another agent's reveal", func(t *testing.T) {
		approver := approver.with(t)
		nina := d.userID(t, "nina.newhire@contoso.example")
		before := d.fake.Tenant().CurrentTAP(nina) // the sample tenant gives Nina an old pass
		other := d.browser(t)
		other.signIn("/", "agent2")
		other.post(req+"/reveal", url.Values{"_csrf": {csrfOf(other)}}).status(http.StatusNotFound)
		other.get(req).status(http.StatusNotFound)
		mustAudit(t, d, "Refuse access", "failure", "not the requester")
		// An approver can see the request but not reveal its pass.
		approver.get(req).status(http.StatusOK)
		if approver.doc().Find(`form[action$="/reveal"]`).Length() != 0 {
			t.Fatal("the approver is offered the reveal button")
		}
		approver.post(req+"/reveal", url.Values{"_csrf": {csrfOf(approver)}}).status(http.StatusForbidden).contains("Only the agent who filed")
		mustAudit(t, d, "Refuse reveal", "failure", "Only the agent who filed")
		if after := d.fake.Tenant().CurrentTAP(nina); after == nil || before == nil || after.ID != before.ID {
			t.Fatalf("a refused reveal changed the user's pass: before %v after %v", before, after)
		}
	})

	t.Run("open redirect after sign-in", func(t *testing.T) {
		for _, next := range []string{"https://evil.example/", "//evil.example/x", "/\\evil.example"} {
			b := d.browser(t)
			b.signIn("/auth/login?next="+url.QueryEscape(next), "auditor")
			if b.last.Request.URL.Host != strings.TrimPrefix(d.baseURL, "http://") || b.path() != "/" {
				t.Errorf("next=%q ended at %s", next, b.last.Request.URL)
			}
		}
		b := d.browser(t)
		b.signIn("/auth/login?next="+url.QueryEscape("/audit?result=failure"), "auditor")
		if b.path() != "/audit" || b.last.Request.URL.RawQuery != "result=failure" {
			t.Errorf("a local next was not honoured: %s", b.last.Request.URL)
		}
	})

	t.Run("wrong role", func(t *testing.T) {
		agent := agent.with(t)
		agent.get("/audit").status(http.StatusForbidden)
		mustAudit(t, d, "Refuse access", "failure", "Tap.Auditor")
	})
}
