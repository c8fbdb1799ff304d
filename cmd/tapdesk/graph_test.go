package main

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/tapdesk/tapdesk/entra/fakegraph"
	"github.com/tapdesk/tapdesk/store"
)

// TestPrivilegedTargetNeedsTwoApprovers: a user holding a directory role
// (Grace holds Global Administrator in the sample tenant) is approved only
// by two different approvers.
func TestPrivilegedTargetNeedsTwoApprovers(t *testing.T) {
	d := startTestDemo(t)
	agent := d.browser(t)
	agent.signIn("/", "agent")

	t.Run("the card says so before filing", func(t *testing.T) {
		agent := agent.with(t)
		agent.get("/users/grace.global@contoso.example").status(http.StatusOK)
		if got := agent.text(`[data-testid="roles"]`); got != "Global Administrator" {
			t.Errorf("roles %q", got)
		}
		if got := agent.text(`[data-testid="privileged"]`); !strings.Contains(got, "Privileged: needs two approvers") {
			t.Errorf("privileged notice %q", got)
		}
		agent.get("/users/nina.newhire@contoso.example").status(http.StatusOK)
		if agent.doc().Find(`[data-testid="privileged"]`).Length() != 0 || agent.text(`[data-testid="roles"]`) != "None" {
			t.Error("a user without roles is shown as privileged")
		}
	})

	req := fileRequestFor(t, agent, "grace.global@contoso.example", "Global admin lost authenticator and key")
	if got := agent.text(`[data-testid="privileged"]`); got != "privileged: needs two approvers" {
		t.Errorf("request page: %q", got)
	}
	evs, err := d.app.db.Events(context.Background(), store.EventFilter{Activity: "File request"})
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != 1 || evs[0].Details["approvals_required"] != "2" || evs[0].Details["target_roles"] != "Global Administrator" {
		t.Errorf("filing event: %+v", evs)
	}

	avery := d.browser(t)
	avery.signIn(req, "approver").submit(`form[action$="/approve"]`, nil).status(http.StatusOK)
	if got := avery.text(`[data-testid="state"]`); got != "Pending" {
		t.Fatalf("one approval of two: state %q", got)
	}
	avery.contains("needs another approver")
	if got := strings.Join(strings.Fields(avery.text(`[data-testid="approvals"]`)), " "); !strings.HasPrefix(got, "1 of 2") {
		t.Errorf("approvals %q", got)
	}

	t.Run("the same approver twice is refused", func(t *testing.T) {
		avery := avery.with(t)
		avery.get(req).status(http.StatusOK)
		if avery.doc().Find(`form[action$="/approve"]`).Length() != 0 {
			t.Error("the approver who approved is offered approve again")
		}
		avery.contains("already decided")
		avery.post(req+"/approve", url.Values{"_csrf": {csrfOf(avery)}}).status(http.StatusConflict).contains("A second approval must come from someone else")
		avery.get(req)
		if got := avery.text(`[data-testid="state"]`); got != "Pending" {
			t.Fatalf("a second approval by the same person changed the state to %s", got)
		}
		mustAudit(t, d, "Refuse decision", "failure", "already decided")
	})

	t.Run("the agent cannot reveal yet", func(t *testing.T) {
		agent := agent.with(t)
		agent.get(req).status(http.StatusOK)
		if agent.doc().Find(`form[action$="/reveal"]`).Length() != 0 {
			t.Fatal("reveal offered after one approval of two")
		}
	})

	blake := d.browser(t)
	blake.signIn(req, "approver2").submit(`form[action$="/approve"]`, nil).status(http.StatusOK)
	if got := blake.text(`[data-testid="state"]`); got != "Approved" {
		t.Fatalf("second approver: state %q", got)
	}
	agent.get(req).submit(`form[action$="/reveal"]`, nil).status(http.StatusOK)
	pass, _ := shownPass(agent.doc().Find(`[data-testid="pass"]`))
	if !d.fake.Tenant().CheckPass(d.userID(t, "grace.global@contoso.example"), pass) {
		t.Fatal("the revealed pass is not Grace's pass in Entra")
	}
}

// TestIssueFailures: Graph's failures at issue time are told in words and
// never leave two passes. A failure that may have done something ends the
// request (failed); one that certainly issued nothing keeps it approved.
func TestIssueFailures(t *testing.T) {
	d := startTestDemo(t)
	agent := d.browser(t)
	agent.signIn("/", "agent")
	approver := d.browser(t)
	approver.signIn("/", "approver")
	const create = "POST /v1.0/users/*/authentication/temporaryAccessPassMethods"

	approved := func(t *testing.T, upn string) string {
		req := fileRequestFor(t, agent.with(t), upn, "Caller verified, needs a pass to re-register")
		approver.with(t).get(req).submit(`form[action$="/approve"]`, nil).status(http.StatusOK)
		return req
	}

	t.Run("504 on create", func(t *testing.T) {
		agent := agent.with(t)
		req := approved(t, "lukas.becker@contoso.example")
		d.fake.SetFault(create, fakegraph.Fault{Status: 504})
		defer d.fake.ClearFaults()
		before := d.fake.CountRequests(create)
		agent.get(req).submit(`form[action$="/reveal"]`, nil).status(http.StatusServiceUnavailable)
		agent.contains("internal error")
		if n := d.fake.CountRequests(create) - before; n != 1 {
			t.Errorf("%d create requests, want 1 (a 504 may have created a pass: never repeat)", n)
		}
		agent.get(req)
		// A gateway timed out: Graph may still create the pass behind it,
		// so the look afterwards proves nothing and the request ends.
		if got := agent.text(`[data-testid="state"]`); got != "Failed" {
			t.Fatalf("state %q", got)
		}
		if got := agent.text(`[data-testid="failure"]`); !strings.Contains(got, "Microsoft Graph did not answer in time or had an internal error") {
			t.Errorf("failure reason %q", got)
		}
		if agent.doc().Find(`form[action$="/reveal"]`).Length() != 0 {
			t.Error("a failed request offers reveal")
		}
		if strings.Contains(agent.body, "Something went wrong") || strings.Contains(agent.body, "Something failed on our side") {
			t.Error("the reason is not in words")
		}
		mustAudit(t, d, "Issue temporary access pass", "failure", "internal error")
	})

	t.Run("answer lost after the pass was made", func(t *testing.T) {
		agent := agent.with(t)
		req := approved(t, "nina.newhire@contoso.example")
		nina := d.userID(t, "nina.newhire@contoso.example")
		d.fake.SetFault(create, fakegraph.Fault{DropAfterWrite: true, Times: 1})
		defer d.fake.ClearFaults()
		before := d.fake.CountRequests(create)
		agent.get(req).submit(`form[action$="/reveal"]`, nil).status(http.StatusServiceUnavailable)
		agent.contains("its answer was lost on the way, so tapdesk deleted that pass")
		if n := d.fake.CountRequests(create) - before; n != 1 {
			t.Errorf("%d create requests, want exactly 1", n)
		}
		if tap := d.fake.Tenant().CurrentTAP(nina); tap != nil {
			t.Errorf("a pass nobody knows was left on the account: %+v", tap)
		}
		agent.contains("The request is still approved")
		agent.get(req)
		if got := agent.text(`[data-testid="state"]`); got != "Approved" {
			t.Fatalf("state %q: nothing was issued, so the request should stay approved", got)
		}
		evs, err := d.app.db.Events(context.Background(), store.EventFilter{Activity: "Issue temporary access pass", Result: "failure"})
		if err != nil {
			t.Fatal(err)
		}
		found := false
		for _, ev := range evs {
			found = found || (ev.Details["graph_orphan_method_id"] != "" && strings.Contains(ev.Reason, "nothing was issued"))
		}
		if !found {
			t.Errorf("no audit event keeps the deleted pass's method id: %+v", evs)
		}
		// Trying again issues one pass, the one shown.
		d.fake.ClearFaults()
		agent.submit(`form[action$="/reveal"]`, nil).status(http.StatusOK)
		pass, _ := shownPass(agent.doc().Find(`[data-testid="pass"]`))
		if !d.fake.Tenant().CheckPass(nina, pass) {
			t.Fatal("the second try did not show the pass Entra holds")
		}
	})

	// The reveal reads the user's passes beside its other reads, and the
	// create goes by that read: a pass an administrator made a moment
	// before is not taken for a lost create's when Graph fails the create
	// and made nothing (by time alone it would be, and deleted).
	t.Run("a pass made just before survives a failed create", func(t *testing.T) {
		agent := agent.with(t)
		req := approved(t, "chen.wei@contoso.example")
		chen, grace := d.userID(t, "chen.wei@contoso.example"), d.userID(t, "grace.global@contoso.example")
		theirs, err := d.fake.Tenant().AdminCreateTAP(chen, grace, 60, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		d.fake.SetFault(create, fakegraph.Fault{Status: 503, RetryAfter: "0"})
		defer d.fake.ClearFaults()
		lists := d.fake.CountRequests("GET /v1.0/users/*/authentication/temporaryAccessPassMethods")
		agent.get(req).submit(`form[action$="/reveal"]`, nil).status(http.StatusServiceUnavailable)
		agent.contains("The request is still approved")
		if tap := d.fake.Tenant().CurrentTAP(chen); tap == nil || tap.ID != theirs {
			t.Errorf("the administrator's pass %s was touched: now %+v", theirs, tap)
		}
		if n := d.fake.CountRequests("GET /v1.0/users/*/authentication/temporaryAccessPassMethods") - lists; n != 2 {
			t.Errorf("%d lists of the passes, want 2: one beside the reveal's reads, one after the failed create", n)
		}
	})

	t.Run("throttled beyond the wait bound", func(t *testing.T) {
		agent := agent.with(t)
		req := approved(t, "priya.patel@contoso.example")
		d.fake.SetFault(create, fakegraph.Fault{Status: 429, RetryAfter: "900"})
		defer d.fake.ClearFaults()
		before := d.fake.CountRequests(create)
		agent.get(req).submit(`form[action$="/reveal"]`, nil).status(http.StatusServiceUnavailable)
		agent.contains("throttling").contains("in 15 minutes").contains("The request is still approved")
		if n := d.fake.CountRequests(create) - before; n != 1 {
			t.Errorf("%d create requests, want 1 (a 15-minute Retry-After is not waited out)", n)
		}
		agent.get(req)
		if got := agent.text(`[data-testid="state"]`); got != "Approved" {
			t.Fatalf("state %q after throttling", got)
		}
		mustAudit(t, d, "Issue temporary access pass", "failure", "throttling")
	})
}
