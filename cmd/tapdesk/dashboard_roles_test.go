package main

import (
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"

	"github.com/tapdesk/tapdesk"
)

// dashboardSections are the data-testids of the sections b's dashboard
// shows, in page order.
func dashboardSections(t *testing.T, b *browser) []string {
	t.Helper()
	b.get("/").status(http.StatusOK)
	var out []string
	b.doc().Find(`section[data-testid^="section-"]`).Each(func(_ int, s *goquery.Selection) {
		out = append(out, strings.TrimPrefix(s.AttrOr("data-testid", ""), "section-"))
	})
	return out
}

// rowLinks are the request links of table id on b's current page, in
// order.
func rowLinks(b *browser, id string) []string {
	var out []string
	b.doc().Find(`table[data-testid="` + id + `"] tbody tr`).Each(func(_ int, tr *goquery.Selection) {
		out = append(out, tr.Find(`a.row-link`).AttrOr("href", ""))
	})
	return out
}

// Each role sees its own sections, tasks first; a person with two roles
// sees both roles' tasks before either's history; empty lists say what to
// do next.
func TestDashboardSectionsPerRole(t *testing.T) {
	d := startTestDemo(t)
	want := map[string][]string{
		"agent":    {"ready", "waiting", "history"},
		"approver": {"awaiting", "decided"},
		"auditor":  {"alerts", "outside-passes", "activity", "chain", "counts", "recent"},
		"admin":    {"alerts", "outside-passes", "activity", "chain", "counts", "recent", "deployment"},
		"dual":     {"ready", "awaiting", "waiting", "history", "decided"},
	}
	for persona, sections := range want {
		t.Run(persona, func(t *testing.T) {
			b := d.browser(t)
			b.signIn("/", persona)
			if got := dashboardSections(t, b); !slices.Equal(got, sections) {
				t.Errorf("sections %v, want %v", got, sections)
			}
		})
	}

	// Fresh database: every list is empty and says what to do next, with
	// the link that does it.
	empties := []struct {
		persona, testid, sentence, link string
	}{
		{"agent", "ready-empty", "Nothing to issue yet.", "#q"},
		{"agent", "waiting-empty", "No requests waiting.", "#q"},
		{"agent", "mine-empty", "You have filed no request yet.", "#q"},
		{"approver", "awaiting-empty", "No requests waiting for your decision.", ""},
		{"approver", "decided-empty", "You have decided no request yet.", ""},
		{"auditor", "chain-unknown", "The chain has not been checked yet.", "/audit/verify"},
		{"auditor", "recent-empty", "No request has been filed yet.", ""},
	}
	for _, e := range empties {
		b := d.browser(t)
		b.signIn("/", e.persona)
		sel := b.doc().Find(`[data-testid="` + e.testid + `"]`)
		if !strings.Contains(sel.Text(), e.sentence) || !sel.HasClass("empty") {
			t.Errorf("%s: %s says %q (class %q), want %q", e.persona, e.testid, sel.Text(), sel.AttrOr("class", ""), e.sentence)
		}
		if e.link != "" && sel.Find(`a[href="`+e.link+`"]`).Length() != 1 {
			t.Errorf("%s: %s offers no link to %s: %q", e.persona, e.testid, e.link, sel.Text())
		}
	}
	// The link the agent's empty states point at is there: the search.
	agent := d.browser(t)
	agent.signIn("/", "agent")
	if agent.doc().Find(`form[action="/users"] input#q`).Length() != 1 {
		t.Error("the agent's dashboard has no user search for its empty states to point at")
	}
}

// An agent's request moves from "Waiting for approval" (with its age and
// deadline) to "Ready to issue" once approved, and is in the history all
// along; the approver sees it under "Waiting for me" soonest due first and
// then under "Recently decided by you"; a person with both roles never
// sees their own request under "Waiting for me".
func TestDashboardTasksFollowTheRequest(t *testing.T) {
	d := startTestDemo(t)
	agent, approver, dual := d.browser(t), d.browser(t), d.browser(t)
	agent.signIn("/", "agent")
	approver.signIn("/", "approver")
	dual.signIn("/", "dual")

	first := fileRequestFor(t, agent, "nina.newhire@contoso.example", "New starter, first day, no methods yet")
	own := fileRequestFor(t, dual, "marco.rossi@contoso.example", "Lost phone, cannot sign in")

	agent.get("/").status(http.StatusOK)
	if got := rowLinks(agent, "waiting"); !slices.Equal(got, []string{first}) {
		t.Errorf("agent's waiting list %v, want %v", got, []string{first})
	}
	row := agent.doc().Find(`table[data-testid="waiting"] tbody tr`).Text()
	for _, w := range []string{"just now", "due in 23 hours", "Pending", "INC-4711"} {
		if !strings.Contains(row, w) {
			t.Errorf("the waiting row lacks %q: %q", w, row)
		}
	}
	if got := rowLinks(agent, "ready"); len(got) != 0 {
		t.Errorf("a pending request is ready to issue: %v", got)
	}
	if got := rowLinks(agent, "mine"); !slices.Contains(got, first) {
		t.Errorf("the agent's history lacks the request: %v", got)
	}
	// One link per row: one tab stop.
	agent.doc().Find(`table[data-testid="mine"] tbody tr`).Each(func(_ int, tr *goquery.Selection) {
		if n := tr.Find("a, button, input, select, [tabindex]").Length(); n != 1 {
			t.Errorf("a history row has %d focusable elements, want 1", n)
		}
	})

	// The approver: both, the one due first on top (filed first, same TTL).
	approver.get("/").status(http.StatusOK)
	if got := rowLinks(approver, "awaiting"); !slices.Equal(got, []string{first, own}) {
		t.Errorf("approver's waiting list %v, want %v (soonest due first)", got, []string{first, own})
	}
	// The dual-role person: their own request is not theirs to decide.
	dual.get("/").status(http.StatusOK)
	if got := rowLinks(dual, "awaiting"); !slices.Equal(got, []string{first}) {
		t.Errorf("dual-role person's waiting list %v, want only %v (never their own)", got, []string{first})
	}
	if got := rowLinks(dual, "waiting"); !slices.Equal(got, []string{own}) {
		t.Errorf("dual-role person's own waiting list %v, want %v", got, []string{own})
	}

	approver.get(first).submit(`form[action$="/approve"]`, nil).status(http.StatusOK)
	agent.get("/").status(http.StatusOK)
	if got := rowLinks(agent, "ready"); !slices.Equal(got, []string{first}) {
		t.Errorf("after approval the ready list is %v, want %v", got, []string{first})
	} else if row := agent.doc().Find(`table[data-testid="ready"] tbody tr`).Text(); !strings.Contains(row, "Issue and reveal") || !strings.Contains(row, "due in") {
		t.Errorf("the ready row names no next step or deadline: %q", row)
	}
	if got := rowLinks(agent, "waiting"); len(got) != 0 {
		t.Errorf("an approved request still waits: %v", got)
	}
	approver.get("/").status(http.StatusOK)
	if got := rowLinks(approver, "awaiting"); !slices.Equal(got, []string{own}) {
		t.Errorf("approver's waiting list after deciding %v, want %v", got, []string{own})
	}
	if got := rowLinks(approver, "decided"); !slices.Equal(got, []string{first}) {
		t.Errorf("approver's decided list %v, want %v", got, []string{first})
	} else if row := approver.doc().Find(`table[data-testid="decided"] tbody tr`).Text(); !strings.Contains(row, "Approved") {
		t.Errorf("the decided row does not say Approved: %q", row)
	}
}

// The history filters by state, searches the target's name and UPN and the
// ticket (ignoring case, taking % and _ literally), pages 25 at a time, and
// answers hostile parameters with a sentence and a 4xx, never a 500.
func TestDashboardHistoryFilterSearchPaging(t *testing.T) {
	limits, err := tapdesk.ParseRateLimits("file=off", tapdesk.DefaultRateLimits())
	if err != nil {
		t.Fatal(err)
	}
	d := startTestDemoWith(t, func(o *demoOptions) { o.RateLimits = limits })
	agent := d.browser(t)
	agent.signIn("/", "agent")
	var cancelled []string
	for range tapdesk.DashboardPageSize + 2 {
		cancelled = append(cancelled, fileRequestFor(t, agent, "nina.newhire@contoso.example", "New starter, first day, no methods yet"))
		agent.submit(`form[action$="/cancel"]`, nil).status(http.StatusOK)
	}
	marco := fileRequestFor(t, agent, "marco.rossi@contoso.example", "Lost phone, cannot sign in")
	slices.Reverse(cancelled) // newest first, as listed

	page := func(query string) []string {
		t.Helper()
		agent.get("/?" + query).status(http.StatusOK)
		return rowLinks(agent, "mine")
	}
	if got := page(""); len(got) != tapdesk.DashboardPageSize || got[0] != marco {
		t.Errorf("first page: %d rows starting %v, want %d starting %s", len(got), got[:1], tapdesk.DashboardPageSize, marco)
	}
	next, ok := agent.doc().Find(`[data-testid="history-pages"] a[rel="next"]`).Attr("href")
	if !ok {
		t.Fatal("the first page links to no older page")
	}
	agent.get(next).status(http.StatusOK)
	if got := rowLinks(agent, "mine"); !slices.Equal(got, cancelled[tapdesk.DashboardPageSize-1:]) {
		t.Errorf("second page %v, want %v", got, cancelled[tapdesk.DashboardPageSize-1:])
	}
	if agent.doc().Find(`[data-testid="history-pages"] a[rel="next"]`).Length() != 0 {
		t.Error("the last page links to an older one")
	}
	if got := page("state=pending"); !slices.Equal(got, []string{marco}) {
		t.Errorf("state=pending: %v, want %v", got, []string{marco})
	}
	if got := page("state=cancelled&page=2"); !slices.Equal(got, cancelled[tapdesk.DashboardPageSize:]) {
		t.Errorf("state=cancelled page 2: %v, want %v", got, cancelled[tapdesk.DashboardPageSize:])
	}
	if got := page("q=MARCO"); !slices.Equal(got, []string{marco}) {
		t.Errorf("search by UPN, other case: %v, want %v", got, []string{marco})
	}
	if got := page("q=" + url.QueryEscape("Rossi")); !slices.Equal(got, []string{marco}) {
		t.Errorf("search by name: %v, want %v", got, []string{marco})
	}
	if got := page("q=inc-4711&state=pending"); !slices.Equal(got, []string{marco}) {
		t.Errorf("search by ticket with a state: %v, want %v", got, []string{marco})
	}
	for _, q := range []string{"%", "_", `\`, "zzz"} {
		if got := page("q=" + url.QueryEscape(q)); len(got) != 0 {
			t.Errorf("search %q matches %d requests, want none", q, len(got))
		}
		if !strings.Contains(agent.text(`[data-testid="mine-empty"]`), "None of your requests match") {
			t.Errorf("search %q: no empty-state sentence", q)
		}
	}
	// The form keeps what was asked.
	agent.get("/?state=cancelled&q=nina").status(http.StatusOK)
	if v := agent.doc().Find(`#history-q`).AttrOr("value", ""); v != "nina" {
		t.Errorf("the search field shows %q", v)
	}
	if v := agent.doc().Find(`#history-state option[selected]`).AttrOr("value", ""); v != "cancelled" {
		t.Errorf("the state field shows %q", v)
	}

	hostile := []struct{ query, sentence string }{
		{"state=bogus", "There is no state"},
		{"state=" + url.QueryEscape("pending' OR 1=1 --"), "There is no state"},
		{"page=0", "pages run from 1 to"},
		{"page=-3", "pages run from 1 to"},
		{"page=abc", "pages run from 1 to"},
		{"page=" + strconv.Itoa(tapdesk.DashboardMaxPage+1), "pages run from 1 to"},
		{"page=99999999999999999999999", "pages run from 1 to"},
		{"q=" + strings.Repeat("x", tapdesk.MaxHistorySearch+1), "at most 64 characters"},
		{"q=" + url.QueryEscape("nina\x01"), "no line breaks or control characters"},
		{"q=" + url.QueryEscape("\xff\xfe"), "no line breaks or control characters"},
	}
	for _, h := range hostile {
		agent.get("/?" + h.query)
		if s := agent.last.StatusCode; s < 400 || s >= 500 {
			t.Errorf("%s: status %d, want 4xx", h.query, s)
		}
		if got := agent.text(`[data-testid="history-error"]`); !strings.Contains(got, h.sentence) {
			t.Errorf("%s: the page says %q, want %q", h.query, got, h.sentence)
		}
		// The tasks still show above the refused filter.
		if got := rowLinks(agent, "waiting"); !slices.Equal(got, []string{marco}) {
			t.Errorf("%s: the waiting list is %v", h.query, got)
		}
	}
}

// The auditor's counts match what happened: requests by state and passes
// issued in the last 7 days; the chain's status is the last check's; the
// recent activity lists the newest events first.
func TestDashboardAuditorCountsAndChain(t *testing.T) {
	d := startTestDemo(t)
	agent, approver, auditor := d.browser(t), d.browser(t), d.browser(t)
	agent.signIn("/", "agent")
	approver.signIn("/", "approver")
	auditor.signIn("/", "auditor")

	issued, _ := approvedFor(t, agent, approver, "nina.newhire@contoso.example")
	agent.get(issued).submit(`form[action$="/reveal"]`, nil).status(http.StatusOK)
	fileRequestFor(t, agent, "marco.rossi@contoso.example", "Lost phone, cannot sign in")
	agent.submit(`form[action$="/cancel"]`, nil).status(http.StatusOK)
	fileRequestFor(t, agent, "marco.rossi@contoso.example", "Lost phone again")

	auditor.get("/").status(http.StatusOK)
	counts := map[string]string{}
	auditor.doc().Find(`[data-testid="counts"] div`).Each(func(_ int, s *goquery.Selection) {
		counts[s.AttrOr("data-state", "")] = strings.TrimSpace(s.Find("dd").Text())
	})
	want := map[string]string{"pending": "1", "cancelled": "1", "issued": "1", "approved": "0", "denied": "0", "expired": "0"}
	for s, n := range want {
		if counts[s] != n {
			t.Errorf("count of %s: %q, want %s (all: %v)", s, counts[s], n, counts)
		}
	}
	if got := auditor.text(`[data-testid="issued-lately"] strong`); got != "1" {
		t.Errorf("passes issued in the last 7 days: %q, want 1", got)
	}
	// The newest events, newest first, each a link into the trail there.
	var seqs []int
	auditor.doc().Find(`table[data-testid="activity"] tbody tr a.row-link`).Each(func(_ int, a *goquery.Selection) {
		n, _ := strconv.Atoi(strings.TrimPrefix(a.AttrOr("href", ""), "/audit?before="))
		seqs = append(seqs, n)
	})
	if len(seqs) != tapdesk.DashboardRecentActivity || !slices.IsSortedFunc(seqs, func(a, b int) int { return b - a }) || slices.Contains(seqs, 0) {
		t.Errorf("recent activity links %v: want %d, newest first", seqs, tapdesk.DashboardRecentActivity)
	}
	if auditor.doc().Find(`[data-testid="chain-unknown"] a[href="/audit/verify"]`).Length() != 1 {
		t.Error("before any check, the chain's status does not offer to verify")
	}

	auditor.get("/audit/verify").status(http.StatusOK)
	auditor.get("/").status(http.StatusOK)
	if got := auditor.text(`[data-testid="chain-status"]`); !strings.Contains(got, "The chain held when Audrey Auditor checked it") {
		t.Errorf("after a check the chain's status says %q", got)
	}
}

// The admin sees the deployment: the pass policy from Graph, who approves
// (from their latest sign-ins), mail and the other dependencies, the
// outbox, and the background jobs' last runs.
func TestDashboardAdminDeployment(t *testing.T) {
	d := startTestDemo(t)
	select {
	case <-d.app.firstSweep:
	case <-time.After(30 * time.Second):
		t.Fatal("the first sweep did not finish")
	}
	approver := d.browser(t)
	approver.signIn("/", "approver")
	admin := d.browser(t)
	admin.signIn("/", "admin")

	policy := admin.text(`[data-testid="policy"]`)
	for _, w := range []string{"Enabled", "minutes"} {
		if !strings.Contains(policy, w) {
			t.Errorf("the policy lacks %q: %q", w, policy)
		}
	}
	if got := admin.text(`[data-testid="approvers"]`); !strings.Contains(got, "avery.approver@contoso.example") {
		t.Errorf("the approvers lack Avery, who signed in as one: %q", got)
	} else if strings.Contains(got, "ada.admin") {
		t.Errorf("the approvers list the admin: %q", got)
	}
	if got := admin.text(`[data-testid="checks"]`); !strings.Contains(got, "database") || !strings.Contains(got, "OK") {
		t.Errorf("the dependencies: %q", got)
	}
	if got := admin.text(`[data-testid="outbox"]`); !strings.Contains(got, "waiting to be sent") {
		t.Errorf("the outbox: %q", got)
	}
	jobs := admin.doc().Find(`table[data-testid="jobs"] tbody tr`)
	found := false
	jobs.Each(func(_ int, tr *goquery.Selection) {
		if strings.Contains(tr.Text(), "Expire requests past their deadline") {
			found = true
			if strings.Contains(tr.Text(), "No run recorded") || !strings.Contains(tr.Text(), "UTC") {
				t.Errorf("the expiry job's row after the first sweep: %q", tr.Text())
			}
		}
	})
	if !found {
		t.Errorf("no expiry job among %d jobs", jobs.Length())
	}
}
