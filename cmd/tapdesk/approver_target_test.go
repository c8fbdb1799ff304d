package main

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/tapdesk/tapdesk"
	"github.com/tapdesk/tapdesk/entra/fakegraph"
	"github.com/tapdesk/tapdesk/store"
)

// Issue 8, hole 1: a pass for someone who holds a tapdesk role must take two
// approvers, or one approval makes a new approver (or agent) who can then
// approve or reveal alone.

// TestPassForAnApproverNeedsTwoApprovals performs the attack: an agent files
// for Blake Backup, who holds Tap.Approver (assigned directly to him on the
// sign-in app), and one approval must leave the request pending, with no
// pass anywhere.
func TestPassForAnApproverNeedsTwoApprovals(t *testing.T) {
	d := startTestDemo(t)
	blake := d.userID(t, "blake.backup@contoso.example")
	agent := d.browser(t)
	agent.signIn("/", "agent")
	const why = "Blake Backup holds Tap.Approver in tapdesk"

	t.Run("the card and the form say why before filing", func(t *testing.T) {
		agent := agent.with(t)
		agent.get("/users/blake.backup@contoso.example").status(http.StatusOK)
		if got := agent.text(`[data-testid="tapdesk-roles"]`); got != "Tap.Approver" {
			t.Errorf("tapdesk roles on the card: %q", got)
		}
		if got := agent.text(`[data-testid="privileged"]`); !strings.Contains(got, "Privileged: needs two approvers. "+why) {
			t.Errorf("card: %q", got)
		}
		agent.get("/requests/new?user=" + blake).status(http.StatusOK)
		if got := agent.text(`[data-testid="privileged"]`); !strings.Contains(got, why) {
			t.Errorf("form: %q", got)
		}
	})

	req := fileRequestFor(t, agent, "blake.backup@contoso.example", "Approver lost phone and key, must register again")
	if got := agent.text(`[data-testid="privilege-reason"]`); got != why+"." {
		t.Errorf("request page reason %q", got)
	}
	evs, err := d.app.db.Events(context.Background(), store.EventFilter{Activity: "File request"})
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != 1 || evs[0].Details["approvals_required"] != "2" || evs[0].Details["target_tapdesk_roles"] != "Tap.Approver" {
		t.Errorf("filing event: %+v", evs)
	}
	m := waitMail(t, d.capture, "avery.approver@contoso.example", "Approval needed")
	// Mail isolates directory names (U+2068 ... U+2069).
	if !strings.Contains(m.Text, "Needs two approvers: "+tapdesk.IsolateName("Blake Backup")+" holds Tap.Approver in tapdesk") {
		t.Errorf("the approval mail does not say why:\n%s", m.Text)
	}

	// The attack: one approval.
	avery := d.browser(t)
	avery.signIn(req, "approver").submit(`form[action$="/approve"]`, nil).status(http.StatusOK)
	if got := avery.text(`[data-testid="state"]`); got != "Pending" {
		t.Fatalf("one approval made a pass for an approver possible: state %q", got)
	}
	avery.contains("needs another approver")

	agent.get(req).status(http.StatusOK)
	if agent.doc().Find(`form[action$="/reveal"]`).Length() != 0 {
		t.Error("reveal offered after one approval of two")
	}
	agent.post(req+"/reveal", url.Values{"_csrf": {csrfOf(agent)}})
	if s := agent.last.StatusCode; s < 400 || s >= 500 {
		t.Errorf("reveal after one approval: status %d", s)
	}
	if tap := d.fake.Tenant().CurrentTAP(blake); tap != nil {
		t.Fatalf("Graph holds a pass for Blake after one approval: %+v", tap)
	}

	// A second, different approver completes it.
	priya := d.browser(t)
	priya.signIn(req, "dual").submit(`form[action$="/approve"]`, nil).status(http.StatusOK)
	if got := priya.text(`[data-testid="state"]`); got != "Approved" {
		t.Fatalf("two approvals: state %q", got)
	}
}

// TestTapdeskRoleThroughGroup: Sam Second holds Tap.Requester through the IT
// Helpdesk group's assignment; a pass for him needs two approvers too.
func TestTapdeskRoleThroughGroup(t *testing.T) {
	d := startTestDemo(t)
	agent := d.browser(t)
	agent.signIn("/", "agent")
	req := fileRequestFor(t, agent, "sam.second@contoso.example", "Second agent lost phone, must register again")
	if got := agent.text(`[data-testid="privilege-reason"]`); got != "Sam Second holds Tap.Requester in tapdesk." {
		t.Errorf("request page reason %q", got)
	}
	avery := d.browser(t)
	avery.signIn(req, "approver").submit(`form[action$="/approve"]`, nil).status(http.StatusOK)
	if got := avery.text(`[data-testid="state"]`); got != "Pending" {
		t.Fatalf("one approval for a group-assigned agent: state %q", got)
	}
}

// TestRoleGroupsMakePrivilegedTargets: members of a group mapped to a role in
// TAPDESK_ROLE_GROUPS (here Engineering -> Tap.Approver) are privileged.
func TestRoleGroupsMakePrivilegedTargets(t *testing.T) {
	const engineering = "80863129-3c50-48b9-a6cd-4036a9dc7e09"
	d := startTestDemoWith(t, func(o *demoOptions) {
		o.RoleGroups = map[string]tapdesk.Role{engineering: tapdesk.RoleApprover}
	})
	agent := d.browser(t)
	agent.signIn("/", "agent")
	fileRequestFor(t, agent, "marco.rossi@contoso.example", "Engineer lost laptop and phone at once")
	if got := agent.text(`[data-testid="privilege-reason"]`); got != "Marco Rossi holds Tap.Approver in tapdesk." {
		t.Errorf("request page reason %q", got)
	}
	if got := strings.Join(strings.Fields(agent.text(`[data-testid="approvals"]`)), " "); !strings.HasPrefix(got, "0 of 2") {
		t.Errorf("approvals %q", got)
	}
}

// TestRoleAssignmentsUnreadable: when Graph refuses the sign-in app's role
// assignments (permission missing), tapdesk refuses the lookup with a
// sentence and files nothing, for a role holder and anyone else; it never
// falls back to one approver.
func TestRoleAssignmentsUnreadable(t *testing.T) {
	d := startTestDemo(t)
	agent := d.browser(t)
	agent.signIn("/", "agent")
	d.fake.Tenant().RevokePermission("Application.Read.All")
	defer d.fake.Tenant().SetPermissions(fakegraph.DefaultPermissions...)

	for _, upn := range []string{"blake.backup@contoso.example", "lukas.becker@contoso.example"} {
		agent.get("/users/" + upn).status(http.StatusServiceUnavailable).
			contains("stops rather than assume one").contains("Application.Read.All")
		if agent.doc().Find(`[data-testid="new-request"]`).Length() != 0 {
			t.Errorf("%s: a request is offered without knowing the roles", upn)
		}
		agent.get("/requests/new?user=" + upn).status(http.StatusServiceUnavailable)
	}
	// A form posted anyway (opened before the permission went) files nothing.
	agent.get("/")
	agent.post("/requests", url.Values{"_csrf": {csrfOf(agent)}, "user": {d.userID(t, "blake.backup@contoso.example")},
		"ticket_ref": {"INC-1"}, "justification": {"Approver lost phone and key"}, "verification": {"callback"},
		"verification_note": {"Called back on file number"}, "lifetime": {"60"}, "usable_once": {"on"}}).
		status(http.StatusServiceUnavailable).contains("stops rather than assume one")
	rs, err := d.app.db.Requests(context.Background(), store.RequestFilter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(rs) != 0 {
		t.Errorf("filed without the roles: %+v", rs[0])
	}
}
