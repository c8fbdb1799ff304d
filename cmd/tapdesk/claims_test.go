package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/tapdesk/tapdesk"
	"github.com/tapdesk/tapdesk/entra/fakegraph"
	"github.com/tapdesk/tapdesk/store"
)

// startClaimsDemo is a demo whose own sweep stays out of the way: the tests
// run the sweep's jobs themselves, at the times they choose.
func startClaimsDemo(t *testing.T) (d *testDemo, agent, approver *browser) {
	t.Helper()
	d = startTestDemoWith(t, func(o *demoOptions) { o.SweepInterval = time.Hour })
	agent = d.browser(t)
	agent.signIn("/", "agent")
	approver = d.browser(t)
	approver.signIn("/", "approver")
	return d, agent, approver
}

// approvedFor files a request for upn and has it approved; it returns the
// request's path and id.
func approvedFor(t *testing.T, agent, approver *browser, upn string) (path, id string) {
	t.Helper()
	path = fileRequestFor(t, agent.with(t), upn, "Caller verified by callback, needs a pass")
	approver.with(t).get(path).submit(`form[action$="/approve"]`, nil).status(http.StatusOK)
	return path, strings.TrimPrefix(path, "/requests/")
}

// createInGraph creates a pass in the fake Graph as the reveal's create
// would, without tapdesk, and returns its method id (the pass is dropped).
func createInGraph(t *testing.T, d *testDemo, userID string) string {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, d.fake.URL()+"/v1.0/users/"+userID+"/authentication/temporaryAccessPassMethods",
		strings.NewReader(`{"isUsableOnce":true}`))
	req.Header.Set("Authorization", "Bearer "+d.fake.IssueToken())
	req.Header.Set("Content-Type", "application/json")
	res, err := d.fake.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var created struct{ ID string }
	if err := json.NewDecoder(res.Body).Decode(&created); err != nil || res.StatusCode != http.StatusCreated || created.ID == "" {
		t.Fatalf("create in Graph: %d %v", res.StatusCode, err)
	}
	return created.ID
}

func storedRequest(t *testing.T, d *testDemo, id string) *tapdesk.Request {
	t.Helper()
	r, err := d.app.db.Request(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func eventsOf(t *testing.T, d *testDemo, id string, act tapdesk.Activity) []tapdesk.Event {
	t.Helper()
	evs, err := d.app.db.Events(context.Background(), store.EventFilter{RequestID: id, Activity: string(act)})
	if err != nil {
		t.Fatal(err)
	}
	return evs
}

// TestInterruptedIssueIsSettled: a reveal claims a request, Graph creates
// the pass, and the process dies before the outcome is recorded. The
// request is stuck (reveal says conflict, cancel refuses, expiry skips it)
// until the claim's lease ends; then the sweep deletes the pass nobody saw,
// returns the request to approved (or expires it when its time is up), all
// audited, and the agent can issue again.
func TestInterruptedIssueIsSettled(t *testing.T) {
	d, agent, approver := startClaimsDemo(t)
	ctx := context.Background()

	t.Run("a pass was created, the outcome never recorded", func(t *testing.T) {
		agent := agent.with(t)
		nina := d.userID(t, "nina.newhire@contoso.example")
		path, id := approvedFor(t, agent, approver, "nina.newhire@contoso.example")
		// The crash: the reveal's claim and its create, nothing after.
		r := storedRequest(t, d, id)
		claimedAt := time.Now()
		start := tapdesk.Event{Time: claimedAt, Activity: tapdesk.ActIssueStart, Category: tapdesk.CatMethod, Actor: r.Requester}
		if err := d.app.db.ClaimIssue(ctx, r, start); err != nil {
			t.Fatal(err)
		}
		orphan := createInGraph(t, d, nina)

		agent.get(path).submit(`form[action$="/reveal"]`, nil).status(http.StatusConflict).contains("already being issued")
		agent.post(path+"/cancel", map[string][]string{"_csrf": {csrfOf(agent)}}).status(http.StatusConflict)

		// Within the lease the claim may belong to a live reveal: untouched.
		if n, err := d.app.handler.SettleClaims(ctx, claimedAt.Add(tapdesk.IssueClaimLease-time.Second)); err != nil || n != 0 {
			t.Fatalf("settled %d claims within the lease (%v)", n, err)
		}
		if tap := d.fake.Tenant().CurrentTAP(nina); tap == nil || tap.ID != orphan {
			t.Fatalf("the pass was touched within the lease: %+v", tap)
		}

		// Graph cannot be read: left for the next sweep.
		d.fake.SetFault("GET /v1.0/users/*/authentication/methods", fakegraph.Fault{Status: 403, Times: 1})
		if n, _ := d.app.handler.SettleClaims(ctx, claimedAt.Add(tapdesk.IssueClaimLease+time.Second)); n != 0 || storedRequest(t, d, id).IssueClaimedAt == nil {
			t.Fatalf("settled %d claims without reading Graph", n)
		}
		d.fake.ClearFaults()

		if n, err := d.app.handler.SettleClaims(ctx, claimedAt.Add(tapdesk.IssueClaimLease+time.Second)); err != nil || n != 1 {
			t.Fatalf("settled %d claims after the lease (%v), want 1", n, err)
		}
		if tap := d.fake.Tenant().CurrentTAP(nina); tap != nil {
			t.Fatalf("the pass nobody saw is still in Entra: %+v", tap)
		}
		if got := storedRequest(t, d, id); got.State != tapdesk.StateApproved || got.IssueClaimedAt != nil {
			t.Fatalf("request %s, claim %v; want approved and free", got.State, got.IssueClaimedAt)
		}
		evs := eventsOf(t, d, id, tapdesk.ActIssueSettled)
		if len(evs) != 1 || evs[0].Actor != tapdesk.SystemActor || evs[0].TAPMethodID != orphan ||
			evs[0].Details["deleted_method_id"] != orphan || evs[0].Details["request_kept"] != "approved" || evs[0].Result != tapdesk.ResultSuccess {
			t.Fatalf("settle event %+v", evs)
		}
		if n, _ := d.app.handler.SettleClaims(ctx, claimedAt.Add(time.Hour)); n != 0 {
			t.Fatalf("settled again: %d", n)
		}

		// The agent issues again: one pass, the one shown.
		agent.get(path).submit(`form[action$="/reveal"]`, nil).status(http.StatusOK)
		pass, _ := shownPass(agent.doc().Find(`[data-testid="pass"]`))
		if !d.fake.Tenant().CheckPass(nina, pass) {
			t.Fatal("the pass shown is not the one in Entra")
		}
		// (Before the next case, which settles a day ahead of the clock.)
		rep, err := d.app.db.VerifyChain(ctx)
		if err != nil || rep.Break != nil {
			t.Fatalf("audit chain: %+v %v", rep.Break, err)
		}
	})

	t.Run("nothing was created, and the request's time is up", func(t *testing.T) {
		agent := agent.with(t)
		lukas := d.userID(t, "lukas.becker@contoso.example")
		path, id := approvedFor(t, agent, approver, "lukas.becker@contoso.example")
		before := d.fake.Tenant().CurrentTAP(lukas)
		r := storedRequest(t, d, id)
		claimedAt := time.Now()
		start := tapdesk.Event{Time: claimedAt, Activity: tapdesk.ActIssueStart, Category: tapdesk.CatMethod, Actor: r.Requester}
		if err := d.app.db.ClaimIssue(ctx, r, start); err != nil {
			t.Fatal(err)
		}
		// Expiry alone never frees a claimed request.
		if n, err := d.app.db.ExpireDue(ctx, r.ExpiresAt.Add(time.Hour)); err != nil || n != 0 {
			t.Fatalf("expiry took a claimed request: %d %v", n, err)
		}
		if n, err := d.app.handler.SettleClaims(ctx, r.ExpiresAt.Add(time.Hour)); err != nil || n != 1 {
			t.Fatalf("settled %d (%v), want 1", n, err)
		}
		if after := d.fake.Tenant().CurrentTAP(lukas); (before == nil) != (after == nil) || (before != nil && before.ID != after.ID) {
			t.Errorf("a pass from before the claim was touched: %+v -> %+v", before, after)
		}
		agent.get(path)
		if got := agent.text(`[data-testid="state"]`); got != tapdesk.StateExpired.Label() {
			t.Fatalf("state %q, want Expired", got)
		}
		settled := eventsOf(t, d, id, tapdesk.ActIssueSettled)
		if len(settled) != 1 || settled[0].Details["pass"] != "no pass found" || settled[0].Details["request_now"] != "expired" {
			t.Fatalf("settle event %+v", settled)
		}
		if evs := eventsOf(t, d, id, tapdesk.ActRequestExpired); len(evs) != 1 || evs[0].Actor != tapdesk.SystemActor {
			t.Fatalf("expiry event %+v", evs)
		}
	})
}

// TestUnrecordedPassIsDeletedAndAudited: a reveal outlives its lease (Graph
// is slow to create), the sweep settles its claim meanwhile, and then the
// pass arrives. The reveal must not record or show it: its claim is gone.
// It deletes the pass and writes an audit event, not only a log line.
func TestUnrecordedPassIsDeletedAndAudited(t *testing.T) {
	d, agent, approver := startClaimsDemo(t)
	nina := d.userID(t, "nina.newhire@contoso.example")
	path, id := approvedFor(t, agent, approver, "nina.newhire@contoso.example")
	revealOutlivingLease(t, d, agent, path, id)
	agent.status(http.StatusServiceUnavailable).contains("deleted the pass unseen")
	if agent.doc().Find(`[data-testid="pass"]`).Length() != 0 {
		t.Fatal("a pass was shown whose claim the sweep had settled")
	}
	if tap := d.fake.Tenant().CurrentTAP(nina); tap != nil {
		t.Fatalf("the unrecorded pass is still in Entra: %+v", tap)
	}
	var deleted string
	for _, ev := range eventsOf(t, d, id, tapdesk.ActIssueAttempt) {
		if ev.Result == tapdesk.ResultFailure && ev.Details["deleted_method_id"] != "" {
			deleted = ev.Details["deleted_method_id"]
			if ev.TAPMethodID != deleted || !strings.Contains(ev.Reason, "could not record it") {
				t.Errorf("event %+v", ev)
			}
		}
	}
	if deleted == "" || d.fake.CountRequests("DELETE /v1.0/users/*/authentication/temporaryAccessPassMethods/"+deleted) != 1 {
		t.Fatalf("no audit event names the deleted pass (%q)", deleted)
	}
	if got := storedRequest(t, d, id); got.State != tapdesk.StateApproved || got.IssueClaimedAt != nil || got.TAPMethodID != "" {
		t.Fatalf("request %s, claim %v, pass %q", got.State, got.IssueClaimedAt, got.TAPMethodID)
	}
	agent.get(path).submit(`form[action$="/reveal"]`, nil).status(http.StatusOK)
	pass, _ := shownPass(agent.doc().Find(`[data-testid="pass"]`))
	if !d.fake.Tenant().CheckPass(nina, pass) {
		t.Fatal("the second reveal did not show the pass Entra holds")
	}

	t.Run("and the delete fails too", func(t *testing.T) {
		agent := agent.with(t)
		lukas := d.userID(t, "lukas.becker@contoso.example")
		path, id := approvedFor(t, agent, approver, "lukas.becker@contoso.example")
		d.fake.SetFault("DELETE /v1.0/users/*/authentication/temporaryAccessPassMethods/*", fakegraph.Fault{Status: 500})
		defer d.fake.ClearFaults()
		revealOutlivingLease(t, d, agent, path, id)
		agent.status(http.StatusServiceUnavailable).contains("could not record it or delete it")
		tap := d.fake.Tenant().CurrentTAP(lukas)
		if tap == nil {
			t.Fatal("no pass in the fake: the test did not get the delete to fail")
		}
		found := false
		for _, ev := range eventsOf(t, d, id, tapdesk.ActIssueAttempt) {
			found = found || (ev.Result == tapdesk.ResultFailure && ev.Details["unrecorded_method_id"] == tap.ID && ev.Details["delete_error"] != "")
		}
		if !found {
			t.Fatal("no audit event names the pass left behind")
		}
	})
}

// revealOutlivingLease presses reveal while Graph holds the create, and
// meanwhile runs the sweep as if the claim's lease had ended; Graph goes on
// with the create once the sweep has settled the claim.
func revealOutlivingLease(t *testing.T, d *testDemo, agent *browser, path, id string) {
	t.Helper()
	ctx := context.Background()
	gate := fakegraph.NewGate()
	t.Cleanup(gate.Open)
	d.fake.SetFault(createTAP, fakegraph.Fault{Gate: gate, Times: 1})
	defer d.fake.RemoveFault(createTAP)
	settled := make(chan string, 1)
	go func() {
		defer gate.Open()
		if !gate.Await(1, 30*time.Second) {
			settled <- "the reveal's create never reached Graph"
			return
		}
		r, err := d.app.db.Request(ctx, id)
		if err != nil {
			settled <- err.Error()
			return
		}
		if r.IssueClaimedAt == nil {
			settled <- "the create reached Graph, but the request notes no claim"
			return
		}
		n, err := d.app.handler.SettleClaims(ctx, r.IssueClaimedAt.Add(tapdesk.IssueClaimLease+time.Second))
		settled <- fmt.Sprintf("%d %v", n, err)
	}()
	agent.get(path).submit(`form[action$="/reveal"]`, nil)
	if got := <-settled; got != "1 <nil>" {
		t.Fatalf("sweep during the slow create: %s", got)
	}
}

// TestNothingCreatedKeepsTheRequest: Graph answers a create with 503 (not
// repeated: Graph may have acted), tapdesk looks and finds no new pass, so
// nothing was issued for certain: the request stays approved and the next
// reveal works. A refusal (400) still ends the request.
func TestNothingCreatedKeepsTheRequest(t *testing.T) {
	d, agent, approver := startClaimsDemo(t)

	t.Run("503", func(t *testing.T) {
		agent := agent.with(t)
		priya := d.userID(t, "priya.patel@contoso.example")
		path, id := approvedFor(t, agent, approver, "priya.patel@contoso.example")
		d.fake.SetFault(createTAP, fakegraph.Fault{Status: 503, Times: 1})
		defer d.fake.ClearFaults()
		before := d.fake.CountRequests(createTAP)
		agent.get(path).submit(`form[action$="/reveal"]`, nil).status(http.StatusServiceUnavailable)
		agent.contains("none was created").contains("The request is still approved")
		if got := storedRequest(t, d, id); got.State != tapdesk.StateApproved || got.IssueClaimedAt != nil {
			t.Fatalf("request %s, claim %v after a 503 that created nothing", got.State, got.IssueClaimedAt)
		}
		mustAudit(t, d, "Issue temporary access pass", "failure", "none was created")
		agent.get(path).submit(`form[action$="/reveal"]`, nil).status(http.StatusOK)
		pass, _ := shownPass(agent.doc().Find(`[data-testid="pass"]`))
		if !d.fake.Tenant().CheckPass(priya, pass) {
			t.Fatal("the second try did not show the pass Entra holds")
		}
		if n := d.fake.CountRequests(createTAP) - before; n != 2 {
			t.Errorf("%d creates, want 2: the refused one and the one shown", n)
		}
	})

	t.Run("400 policy refusal", func(t *testing.T) {
		agent := agent.with(t)
		path, id := approvedFor(t, agent, approver, "lukas.becker@contoso.example")
		d.fake.SetFault(createTAP, fakegraph.Fault{Status: 400, Code: "badRequest",
			Message: "Converged UserCredentialPolicy does not allow creating or updating this authentication method. AuthMethodType [TemporaryAccessPass]."})
		defer d.fake.ClearFaults()
		agent.get(path).submit(`form[action$="/reveal"]`, nil).status(http.StatusUnprocessableEntity).contains("Microsoft Entra refused")
		if got := storedRequest(t, d, id); got.State != tapdesk.StateFailed {
			t.Fatalf("request %s after a policy refusal, want failed", got.State)
		}
	})
}

// TestLoopClosesOnMethodInThePassSecond: Graph stamps the passkey in whole
// seconds, so one registered in the pass's own second reads as earlier than
// tapdesk's issue time. The loop compares with the pass's own stamp and
// still removes the pass; a passkey from before the pass (the lost key)
// does not.
func TestLoopClosesOnMethodInThePassSecond(t *testing.T) {
	d, agent, approver := startClaimsDemo(t)
	ctx := context.Background()
	nina := d.userID(t, "nina.newhire@contoso.example")
	path, id := approvedFor(t, agent, approver, "nina.newhire@contoso.example")
	agent.get(path).submit(`form[action$="/reveal"]`, nil).status(http.StatusOK)
	tap := d.fake.Tenant().CurrentTAP(nina)
	if tap == nil {
		t.Fatal("no pass after reveal")
	}

	if _, err := d.fake.Tenant().AddMethodAt(nina, "fido2", tap.CreatedDateTime.Add(-time.Hour)); err != nil {
		t.Fatal(err)
	}
	if n, err := d.app.handler.CloseLoop(ctx, time.Now()); err != nil || n != 0 {
		t.Fatalf("a passkey from before the pass removed it: %d %v", n, err)
	}

	sameSecond := tap.CreatedDateTime.Truncate(time.Second)
	if r := storedRequest(t, d, id); r.IssuedAt == nil || !sameSecond.Before(*r.IssuedAt) {
		t.Fatalf("the test needs the method stamped before tapdesk's issue time: %v vs %v", sameSecond, r.IssuedAt)
	}
	if _, err := d.fake.Tenant().AddMethodAt(nina, "fido2", sameSecond); err != nil {
		t.Fatal(err)
	}
	if n, err := d.app.handler.CloseLoop(ctx, time.Now()); err != nil || n != 1 {
		t.Fatalf("removed %d passes (%v), want 1", n, err)
	}
	if cur := d.fake.Tenant().CurrentTAP(nina); cur != nil {
		t.Fatalf("the pass is still in Entra: %+v", cur)
	}
	if got := storedRequest(t, d, id); got.State != tapdesk.StateRevoked {
		t.Fatalf("request %s", got.State)
	}
	if evs := eventsOf(t, d, id, tapdesk.ActLoopRemoved); len(evs) != 1 || evs[0].TAPMethodID != tap.ID {
		t.Fatalf("loop event %+v", evs)
	}
}
