package main

import (
	"net/http"
	"strconv"
	"testing"
)

// TestRevealCost pins what an issue and reveal costs tapdesk apart from
// Graph's own time (issue 10: p99 ≤ 20 ms per step at 50 concurrent
// flows), as counts, not clock time: its turns at the database's one
// writer, which every other page's writes queue behind, and its Graph
// calls, each of which the SDK builds, sends and parses. A change that
// adds either fails here and must say why in the new count.
func TestRevealCost(t *testing.T) {
	d := startTestDemo(t)
	agent := d.browser(t)
	agent.signIn("/", "agent")
	req := fileWithExtras(t, agent, d, "chen.wei@contoso.example", "New laptop, no methods yet, verified", nil)
	approveAs(t, d, req, "approver")
	outboxDrained(t, d)
	agent.get(req).status(http.StatusOK)
	d.fake.ClearRequests() // what the failure lists is the reveal's

	agent.submit(`form[action$="/reveal"]`, nil).status(http.StatusOK)
	if _, ok := shownPass(agent.doc().Find(`[data-testid="pass"]`)); !ok {
		t.Fatalf("no pass revealed:\n%s", agent.body)
	}
	m := serverTimingRe.FindStringSubmatch(agent.last.Header.Get("Server-Timing"))
	if m == nil {
		t.Fatalf("Server-Timing %q", agent.last.Header.Get("Server-Timing"))
	}
	calls, _ := strconv.Atoi(m[3])
	writes, _ := strconv.Atoi(m[4])
	// Two writes: the claim, committed before Graph is called so that a
	// second tab or instance cannot issue twice and a crash leaves the
	// trail saying an issue was under way; then the issue with its two
	// audit events and the notices to the target and their manager.
	if writes != 2 {
		t.Errorf("the reveal took %d turns to write, want 2 (the claim; the issue)", writes)
	}
	// The target read again (the user, their memberships, their tapdesk
	// roles, the TAP policy for the scope), then the create: the user's
	// passes listed first, so that a pass whose answer was lost can be
	// told from one they had, and the create itself.
	if calls != revealGraphCalls {
		t.Errorf("the reveal made %d Graph calls, want %d", calls, revealGraphCalls)
		for _, r := range d.fake.Requests() {
			t.Logf("%s %s", r.Method, r.Path)
		}
	}
}

const revealGraphCalls = 6
