package main

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/tapdesk/tapdesk"
	"github.com/tapdesk/tapdesk/entra/fakegraph"
)

// Issue 8, review finding 4: the target's privilege is read again when the
// pass is issued. An ordinary user's request gets its one approval; then the
// user is given Tap.Approver. Revealing would make an approver on one
// approval: it is refused, audited, and Graph is never asked for a pass.
func TestPrivilegeGainedAfterFilingRefusesReveal(t *testing.T) {
	d, agent, approver := startClaimsDemo(t)
	ctx := context.Background()
	nina := d.userID(t, "nina.newhire@contoso.example")
	path, id := approvedFor(t, agent, approver, "nina.newhire@contoso.example")
	if r := storedRequest(t, d, id); r.State != tapdesk.StateApproved || r.ApprovalsRequired != 1 {
		t.Fatalf("request %s needing %d, want approved needing 1", r.State, r.ApprovalsRequired)
	}
	// The attack: someone gives Nina Tap.Approver on the sign-in app.
	if err := d.fake.Tenant().AssignAppRole(fakegraph.SampleSignInClientID, nina, "Tap.Approver"); err != nil {
		t.Fatal(err)
	}
	creates, before := d.fake.CountRequests(createTAP), d.fake.Tenant().CurrentTAP(nina)
	agent.get(path).submit(`form[action$="/reveal"]`, nil).status(http.StatusConflict).
		contains("holds Tap.Approver in tapdesk, so a pass needs two approvers").contains("File a new request.")
	if n := d.fake.CountRequests(createTAP); n != creates {
		t.Fatalf("Graph was asked for %d pass(es) for a new approver on one approval", n-creates)
	}
	if tap := d.fake.Tenant().CurrentTAP(nina); tap != nil && (before == nil || tap.ID != before.ID) {
		t.Fatalf("Entra holds a new pass: %+v", tap)
	}
	if r := storedRequest(t, d, id); r.State != tapdesk.StateApproved || r.IssueClaimedAt != nil {
		t.Fatalf("request %s, claim %v; want approved and unclaimed", r.State, r.IssueClaimedAt)
	}
	refused := eventsOf(t, d, id, tapdesk.ActRevealRefused)
	if len(refused) != 1 || refused[0].Result != tapdesk.ResultFailure || refused[0].Details["target_tapdesk_roles"] != "Tap.Approver" ||
		refused[0].Details["target_approvals_required"] != "2" || refused[0].Details["approvals_required"] != "1" ||
		!strings.Contains(refused[0].Reason, "needs two approvers") {
		t.Fatalf("refusal event %+v", refused)
	}
	if evs := eventsOf(t, d, id, tapdesk.ActIssueStart); len(evs) != 0 {
		t.Fatalf("the request was claimed: %+v", evs)
	}

	t.Run("an account disabled since filing", func(t *testing.T) {
		if err := d.fake.Tenant().UnassignAppRole(fakegraph.SampleSignInClientID, nina, "Tap.Approver"); err != nil {
			t.Fatal(err)
		}
		if err := d.fake.Tenant().UpdateUser(nina, func(u *fakegraph.User) { u.AccountEnabled = false }); err != nil {
			t.Fatal(err)
		}
		agent := agent.with(t)
		agent.get(path).submit(`form[action$="/reveal"]`, nil).status(http.StatusUnprocessableEntity).contains("account is disabled")
		if err := d.fake.Tenant().UpdateUser(nina, func(u *fakegraph.User) { u.AccountEnabled = true }); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("a lookup that fails refuses", func(t *testing.T) {
		agent := agent.with(t)
		agent.get(path).status(http.StatusOK)
		d.fake.Tenant().RevokePermission("Application.Read.All")
		defer d.fake.Tenant().SetPermissions(fakegraph.DefaultPermissions...)
		agent.submit(`form[action$="/reveal"]`, nil).status(http.StatusServiceUnavailable).contains("Application.Read.All")
		if n := d.fake.CountRequests(createTAP); n != creates {
			t.Fatal("Graph was asked for a pass though the roles could not be read")
		}
	})

	t.Run("with the role gone again the pass is issued", func(t *testing.T) {
		agent := agent.with(t)
		agent.get(path).submit(`form[action$="/reveal"]`, nil).status(http.StatusOK)
		pass, _ := shownPass(agent.doc().Find(`[data-testid="pass"]`))
		if !d.fake.Tenant().CheckPass(nina, pass) {
			t.Fatal("the pass shown is not the one in Entra")
		}
	})
	if rep, err := d.app.db.VerifyChain(ctx); err != nil || rep.Break != nil {
		t.Fatalf("audit chain: %+v %v", rep, err)
	}
}

// Review finding 5: a dispute wins over a reveal under way; the reveal's
// delete of the pass Graph made fails. The pass must not stay in Entra: once
// the claim's lease ends the sweep deletes it, clears the claim and leaves
// the request disputed, audited.
func disputedWithOrphan(t *testing.T) (d *testDemo, nina, id string, tap *fakegraph.TAP, r *tapdesk.Request) {
	t.Helper()
	d, agent, approver := startClaimsDemo(t)
	nina = d.userID(t, "nina.newhire@contoso.example")
	path, id := approvedFor(t, agent, approver, "nina.newhire@contoso.example")
	link := disputeLink.FindString(waitMail(t, d.capture, "nina.newhire@contoso.example", requestedSubject).Text)
	anon := d.browser(t)
	anon.get(link).status(http.StatusOK)

	// Graph holds the create until the dispute is in, however long that
	// takes.
	gate := fakegraph.NewGate()
	t.Cleanup(gate.Open)
	d.fake.SetFault(createTAP, fakegraph.Fault{Gate: gate, Times: 1})
	d.fake.SetFault("DELETE /v1.0/users/*/authentication/temporaryAccessPassMethods/*", fakegraph.Fault{Status: 500})
	agent.get(path).status(http.StatusOK)
	form := url.Values{"_csrf": {csrfOf(agent)}}
	revealed := make(chan int, 1)
	post, _ := http.NewRequest(http.MethodPost, agent.abs(path+"/reveal"), strings.NewReader(form.Encode()))
	post.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	go func() {
		res, err := agent.client.Do(post)
		if err != nil {
			revealed <- 0
			return
		}
		res.Body.Close()
		revealed <- res.StatusCode
	}()
	eventually(t, "the reveal to claim the request", func() bool { return claimed(t, d, id) })
	eventually(t, "the create to reach Graph", func() bool { return gate.Arrived() == 1 })
	anon.submit(`form[action^="/dispute/"]`, nil).status(http.StatusOK).contains(`data-testid="dispute-done"`)
	gate.Open()
	if status := <-revealed; status < 400 || status >= 600 {
		t.Fatalf("the racing reveal answered %d", status)
	}
	tap = d.fake.Tenant().CurrentTAP(nina)
	if tap == nil {
		t.Fatal("no pass left in Entra: the test did not get the delete to fail")
	}
	unrecorded := false
	for _, ev := range eventsOf(t, d, id, tapdesk.ActIssueAttempt) {
		unrecorded = unrecorded || (ev.Details["unrecorded_method_id"] == tap.ID && ev.Details["delete_error"] != "")
	}
	if !unrecorded {
		t.Fatalf("the pass in Entra (%s) is not the one the reveal failed to delete", tap.ID)
	}
	r = storedRequest(t, d, id)
	if r.State != tapdesk.StateDisputed || r.IssueClaimedAt == nil {
		t.Fatalf("request %s, claim %v; want disputed and still claimed", r.State, r.IssueClaimedAt)
	}
	d.fake.ClearFaults()
	return d, nina, id, tap, r
}

func TestDisputedIssueOrphanIsSettled(t *testing.T) {
	d, nina, id, tap, r := disputedWithOrphan(t)
	ctx := context.Background()
	later := r.IssueClaimedAt.Add(tapdesk.IssueClaimLease + time.Second)
	if n, err := d.app.handler.SettleClaims(ctx, later); err != nil || n != 1 {
		t.Fatalf("settled %d claims (%v), want 1", n, err)
	}
	if left := d.fake.Tenant().CurrentTAP(nina); left != nil {
		t.Fatalf("the pass nobody saw is still in Entra: %+v", left)
	}
	got := storedRequest(t, d, id)
	if got.State != tapdesk.StateDisputed || got.IssueClaimedAt != nil {
		t.Fatalf("request %s, claim %v; want disputed, no claim", got.State, got.IssueClaimedAt)
	}
	evs := eventsOf(t, d, id, tapdesk.ActIssueSettled)
	if len(evs) != 1 || evs[0].Actor != tapdesk.SystemActor || evs[0].Details["deleted_method_id"] != tap.ID ||
		evs[0].Details["request_now"] != string(tapdesk.StateDisputed) || evs[0].Result != tapdesk.ResultSuccess {
		t.Fatalf("settle event %+v", evs)
	}
	if n, _ := d.app.handler.SettleClaims(ctx, later.Add(time.Hour)); n != 0 {
		t.Fatalf("settled again: %d", n)
	}
	if rep, err := d.app.db.VerifyChain(ctx); err != nil || rep.Break != nil {
		t.Fatalf("audit chain: %+v %v", rep, err)
	}
}

// Review finding 7: the notice and dispute-alert mails isolate directory
// names (U+2068 ... U+2069) and carry no text-direction override.
func TestNoticeMailsIsolateNames(t *testing.T) {
	d := startTestDemo(t)
	const rtlName = "نينا\u202E نيوهاير"
	const shownName = "نينا نيوهاير"
	if err := d.fake.Tenant().UpdateUser("nina.newhire@contoso.example", func(u *fakegraph.User) { u.DisplayName = rtlName }); err != nil {
		t.Fatal(err)
	}
	agent := d.browser(t)
	agent.signIn("/", "agent")
	fileRequestFor(t, agent, "nina.newhire@contoso.example", "Lost her phone, verified by callback")
	notice := waitMail(t, d.capture, "nina.newhire@contoso.example", requestedSubject)
	link := disputeLink.FindString(notice.Text)
	if link == "" {
		t.Fatalf("no dispute link:\n%s", notice.Text)
	}
	d.browser(t).get(link).status(http.StatusOK).submit(`form[action^="/dispute/"]`, nil).status(http.StatusOK)
	alert := waitMail(t, d.capture, demoSecurityEmail, "Disputed")
	for _, m := range []struct{ Subject, Text string }{{notice.Subject, notice.Text}, {alert.Subject, alert.Text}} {
		if strings.ContainsRune(m.Text, '\u202E') || strings.ContainsRune(m.Subject, '\u202E') {
			t.Errorf("the directory name's override reached the mail %q", m.Subject)
		}
		if !strings.Contains(m.Text, "\u2068"+shownName+"\u2069") || !strings.Contains(m.Text, "\u2068Alex Agent\u2069") {
			t.Errorf("the mail %q does not isolate the names:\n%s", m.Subject, m.Text)
		}
		if !strings.Contains(m.Subject, shownName) {
			t.Errorf("subject %q lacks the name", m.Subject)
		}
	}
}

// Two sweeps (two instances) settle the same claim at once: both find the
// pass, one deletes it, and only one settles the claim. The loser's delete
// happened all the same (or found the pass gone): its audit event is written.
func TestRacingSweepsAuditTheirDeletes(t *testing.T) {
	d, nina, id, tap, r := disputedWithOrphan(t)
	ctx := context.Background()
	// Hold both deletes until both have reached Graph, so both sweeps have
	// listed the pass and checked the claim before either settles it.
	const deleteTAP = "DELETE /v1.0/users/*/authentication/temporaryAccessPassMethods/*"
	deletes := d.fake.CountRequests(deleteTAP)
	gate := fakegraph.NewGate()
	t.Cleanup(gate.Open)
	d.fake.SetFault(deleteTAP, fakegraph.Fault{Gate: gate, Times: 2})
	later := r.IssueClaimedAt.Add(tapdesk.IssueClaimLease + time.Second)
	settled := make(chan int, 2)
	for range 2 {
		go func() {
			n, err := d.app.handler.SettleClaims(ctx, later)
			if err != nil {
				t.Error(err)
			}
			settled <- n
		}()
	}
	eventually(t, "both sweeps' deletes to reach Graph", func() bool { return gate.Arrived() == 2 })
	gate.Open()
	if n := <-settled + <-settled; n != 1 {
		t.Fatalf("the claim was settled %d times, want 1", n)
	}
	if d.fake.CountRequests(deleteTAP)-deletes != 2 {
		t.Fatal("the sweeps did not both delete: the test proves nothing")
	}
	if left := d.fake.Tenant().CurrentTAP(nina); left != nil {
		t.Fatalf("the pass is still in Entra: %+v", left)
	}
	evs := eventsOf(t, d, id, tapdesk.ActIssueSettled)
	kinds := map[string]int{}
	for _, ev := range evs {
		if ev.Details["deleted_method_id"] != tap.ID {
			t.Errorf("settle event without the deleted pass: %+v", ev)
		}
		kinds[ev.Details["request_now"]+"/"+ev.Details["claim"]]++
	}
	if len(evs) != 2 || kinds["disputed/"] != 1 || kinds["/settled meanwhile"] != 1 {
		t.Fatalf("settle events %+v", evs)
	}
	if got := storedRequest(t, d, id); got.State != tapdesk.StateDisputed || got.IssueClaimedAt != nil {
		t.Fatalf("request %s, claim %v", got.State, got.IssueClaimedAt)
	}
}
