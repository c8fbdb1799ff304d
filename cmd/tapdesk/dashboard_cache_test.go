package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"
	"github.com/labstack/echo/v4/middleware"
)

// dashboardRows loads b's dashboard twice (the second load may be served
// from the kept lists) and returns, for table, each listed request's row
// text by its link. Both loads must agree.
func dashboardRows(t *testing.T, b *browser, table string) map[string]string {
	t.Helper()
	var loads [2]map[string]string
	for i := range loads {
		b.get("/").status(http.StatusOK)
		loads[i] = map[string]string{}
		b.doc().Find(`table[data-testid="` + table + `"] tbody tr`).Each(func(_ int, tr *goquery.Selection) {
			href, _ := tr.Find(`a[href^="/requests/"]`).Attr("href")
			loads[i][href] = strings.Join(strings.Fields(tr.Text()), " ")
		})
	}
	if len(loads[0]) != len(loads[1]) {
		t.Fatalf("two loads of %s differ: %v and %v", table, loads[0], loads[1])
	}
	for k, v := range loads[0] {
		if loads[1][k] != v {
			t.Fatalf("two loads of %s differ: %v and %v", table, loads[0], loads[1])
		}
	}
	return loads[1]
}

// The dashboard's lists are kept rendered between loads (handlers'
// dashboardCache). Every change that alters a list shows on the very next
// load of everyone it concerns, and nobody is ever shown another person's
// lists. Each check loads the dashboard twice, and every dashboard was
// loaded before each change, so a kept copy is there to go stale.
func TestDashboardCacheShowsEveryChangeAtOnce(t *testing.T) {
	clock := &testClock{now: time.Now()}
	d := startTestDemoWith(t, func(o *demoOptions) {
		o.Now = clock.Now
		o.DecisionTTL = 20 * time.Minute
		o.SweepInterval = time.Hour // the test runs the sweep's expiry itself
	})
	agent, agent2, approver, auditor := d.browser(t), d.browser(t), d.browser(t), d.browser(t)
	agent.signIn("/", "agent")
	agent2.signIn("/", "agent2")
	approver.signIn("/", "approver")
	auditor.signIn("/", "auditor")
	warm := func() {
		dashboardRows(t, agent, "mine")
		dashboardRows(t, agent2, "mine")
		dashboardRows(t, approver, "awaiting")
		dashboardRows(t, auditor, "recent")
	}
	warm()

	// Filed: on the agent's own list, the approver's and the auditor's, and
	// not on the other agent's.
	req1 := fileRequestFor(t, agent, "nina.newhire@contoso.example", "New starter, first day, no methods yet")
	if row := dashboardRows(t, agent, "mine")[req1]; !strings.Contains(row, "Pending") {
		t.Errorf("the agent's list lacks the request just filed: %q", row)
	}
	if _, ok := dashboardRows(t, approver, "awaiting")[req1]; !ok {
		t.Error("the approver's list lacks the request just filed")
	}
	if _, ok := dashboardRows(t, auditor, "recent")[req1]; !ok {
		t.Error("the auditor's list lacks the request just filed")
	}
	if _, ok := dashboardRows(t, agent2, "mine")[req1]; ok {
		t.Error("another agent's request is on the second agent's list")
	}
	warm()

	// Another agent's request: the approver sees it at once, the first
	// agent never does.
	req2 := fileRequestFor(t, agent2, "marco.rossi@contoso.example", "Lost phone, cannot sign in")
	if _, ok := dashboardRows(t, approver, "awaiting")[req2]; !ok {
		t.Error("the approver's list lacks the second agent's request")
	}
	if _, ok := dashboardRows(t, agent, "mine")[req2]; ok {
		t.Error("the second agent's request is on the first agent's list")
	}
	if _, ok := dashboardRows(t, agent2, "mine")[req2]; !ok {
		t.Error("the second agent's list lacks their request")
	}
	warm()

	// Approved: the agent's row says so, and it leaves the approver's list.
	approver.get(req1).submit(`form[action$="/approve"]`, nil).status(http.StatusOK)
	if row := dashboardRows(t, agent, "mine")[req1]; !strings.Contains(row, "Approved") {
		t.Errorf("the agent's row after approval: %q", row)
	}
	if _, ok := dashboardRows(t, approver, "awaiting")[req1]; ok {
		t.Error("a request the approver decided is still awaiting them")
	}
	warm()

	// Past its deadline a pending request can no longer be decided, so it
	// leaves the approver's list at once, before any sweep has written a
	// thing: time alone changes the list.
	clock.advance(21 * time.Minute)
	if _, ok := dashboardRows(t, approver, "awaiting")[req2]; ok {
		t.Error("a request past its deadline is still awaiting the approver")
	}

	// The sweep expires both: each agent's row says so on the next load.
	warm()
	if n, err := d.app.db.ExpireDue(context.Background(), clock.Now()); err != nil || n != 2 {
		t.Fatalf("the expiry sweep expired %d, err %v", n, err)
	}
	if row := dashboardRows(t, agent, "mine")[req1]; !strings.Contains(row, "Expired") {
		t.Errorf("the agent's row after the sweep: %q", row)
	}
	if row := dashboardRows(t, agent2, "mine")[req2]; !strings.Contains(row, "Expired") {
		t.Errorf("the second agent's row after the sweep: %q", row)
	}
	if row := dashboardRows(t, auditor, "recent")[req2]; !strings.Contains(row, "Expired") {
		t.Errorf("the auditor's row after the sweep: %q", row)
	}
}

// Sessions are kept read between requests (handlers' sessionRowCache), yet
// an ended session ends on the very next request: after sign-out, and
// after its row is deleted by something other than this instance's own
// session code (another instance, an operator) once that is noted
// (NoteExternalChange, which the PostgreSQL change feed calls). A copy of
// the cookie, used before the end so its session is kept read, shows it.
func TestSessionCacheEndsSessionsAtOnce(t *testing.T) {
	d := startTestDemo(t)
	base, _ := url.Parse(d.baseURL)
	signedIn := func(b *browser) bool {
		t.Helper()
		b.get("/").status(http.StatusOK)
		return b.doc().Find(`form[action="/auth/logout"]`).Length() == 1
	}
	// copyOf is a second browser holding b's cookies, as a second tab or a
	// stolen cookie would.
	copyOf := func(b *browser) *browser {
		c := d.browser(t)
		c.client.Jar.SetCookies(base, b.client.Jar.Cookies(base))
		return c
	}

	t.Run("sign-out", func(t *testing.T) {
		agent := d.browser(t)
		agent.signIn("/", "agent")
		tab := copyOf(agent)
		for range 3 {
			if !signedIn(tab) {
				t.Fatal("the copied cookie is not signed in before sign-out")
			}
		}
		// Sign out without following the way to the provider and back: the
		// next request this instance serves is the tab's.
		noFollow := *agent.client
		noFollow.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
		res, err := noFollow.PostForm(d.baseURL+"/auth/logout", url.Values{"_csrf": {csrfOf(agent.get("/"))}})
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != http.StatusSeeOther {
			t.Fatalf("sign-out answered %d", res.StatusCode)
		}
		if signedIn(tab) {
			t.Fatal("the session is still signed in on the request after sign-out")
		}
	})

	t.Run("row deleted elsewhere", func(t *testing.T) {
		agent := d.browser(t)
		agent.signIn("/", "agent2")
		for range 3 {
			if !signedIn(agent) {
				t.Fatal("not signed in")
			}
		}
		var name string
		for _, c := range agent.client.Jar.Cookies(base) {
			if strings.HasSuffix(c.Name, "tapdesk_session") {
				name = c.Value
			}
		}
		if name == "" {
			t.Fatal("no session cookie")
		}
		// The row's key is the token's hash (handlers' storeKey): delete
		// it as an operator or another instance would, past this one's
		// session code, and note the change as the change feed does.
		sum := sha256.Sum256([]byte(name))
		res, err := d.app.db.SQL().ExecContext(context.Background(), `DELETE FROM sessions WHERE token = ?`, hex.EncodeToString(sum[:]))
		if err != nil {
			t.Fatal(err)
		}
		if n, _ := res.RowsAffected(); n != 1 {
			t.Fatalf("deleted %d session rows, want 1", n)
		}
		d.app.db.NoteExternalChange()
		if signedIn(agent) {
			t.Fatal("the session is still signed in after its row was deleted and the change noted")
		}
	})
}

// The plain dashboard's whole page is kept between loads too (handlers'
// renderKept) and sent again with a new nonce, without running templ. A
// kept page must be the page that would have been rendered: its nonce the
// policy's, its sign-out form carrying the token of the client asking, a
// flash shown once and only once, the threat banner's phrase of time
// current. Each check follows loads that kept a page to go stale.
func TestKeptDashboardPageIsTheRenderedOne(t *testing.T) {
	clock := &testClock{now: time.Now()}
	d := startTestDemoWith(t, func(o *demoOptions) { o.Now = clock.Now })
	agent := d.browser(t)
	agent.signIn("/", "agent")
	req := fileRequestFor(t, agent, "nina.newhire@contoso.example", "New starter, first day, no methods yet")
	agent.header = browserHeaders
	placeholder := `name="_csrf" value="` + middleware.CSRFUsingSecFetchSite + `"`

	// withoutNonce is b's page with its nonce, which must be the
	// policy's, cut out.
	withoutNonce := func(b *browser) string {
		t.Helper()
		nonce, ok := b.doc().Find("script[nonce]").Attr("nonce")
		if !ok || !strings.Contains(b.last.Header.Get("Content-Security-Policy"), "'nonce-"+nonce+"'") {
			t.Fatalf("the page's script nonce %q is not the policy's: %s", nonce, b.last.Header.Get("Content-Security-Policy"))
		}
		if strings.Count(b.body, nonce) != 1 {
			t.Fatalf("the nonce is on the page %d times", strings.Count(b.body, nonce))
		}
		return strings.Replace(b.body, nonce, "NONCE", 1)
	}
	var pages []string
	for range 3 {
		agent.get("/").status(http.StatusOK).contains(`href="` + req + `"`).contains(placeholder)
		pages = append(pages, withoutNonce(agent))
	}
	if pages[1] != pages[0] || pages[2] != pages[0] {
		t.Fatal("three loads of an unchanged dashboard differ beyond the nonce")
	}

	t.Run("a client without Fetch Metadata gets its own token", func(t *testing.T) {
		b := agent.with(t)
		b.header = nil
		for range 2 {
			b.get("/").status(http.StatusOK)
			token, _ := b.doc().Find(`input[name="_csrf"]`).Attr("value")
			if token == "" || token == middleware.CSRFUsingSecFetchSite {
				t.Fatalf("the sign-out form carries %q, want the session's real token", token)
			}
			withoutNonce(b)
		}
		b.header = browserHeaders
		b.get("/").status(http.StatusOK).contains(placeholder)
	})

	t.Run("a flash shows once", func(t *testing.T) {
		// The flash travels in a cookie of its own: replayed while the
		// page is kept (no write in between), it must show, and the load
		// after it must not.
		b := agent.with(t)
		b.get(req).status(http.StatusOK)
		b.client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
		b.submit(`form[action$="/cancel"]`, nil).status(http.StatusSeeOther)
		b.client.CheckRedirect = nil
		flash := setCookies(b.last, "tapdesk_flash")
		if len(flash) != 1 {
			t.Fatalf("cancelling set flash cookies %v, want one", flash)
		}
		for range 2 {
			b.get("/").status(http.StatusOK)
		}
		if f := b.text(`[data-testid="flash"]`); f != "" {
			t.Fatalf("the flash shows on the second load: %q", f)
		}
		u, _ := url.Parse(b.base)
		b.client.Jar.SetCookies(u, flash)
		b.get("/").status(http.StatusOK)
		if f := b.text(`[data-testid="flash"]`); f != "Request cancelled." {
			t.Fatalf("flash %q with the flash cookie", f)
		}
		withoutNonce(b)
		b.get("/").status(http.StatusOK)
		if f := b.text(`[data-testid="flash"]`); f != "" {
			t.Fatalf("the flash came back on the load after: %q", f)
		}
	})

	t.Run("the threat banner's phrase of time moves", func(t *testing.T) {
		admin := d.browser(t)
		admin.signIn("/", "admin")
		switchThreatMode(t, admin, "on", "Vishing wave against the helpdesk").status(http.StatusOK)
		b := agent.with(t)
		var banners []string
		for range 2 {
			b.get("/").status(http.StatusOK)
			banners = append(banners, b.text(`[data-testid="threat-banner"]`))
			withoutNonce(b)
		}
		// No write: the lists stay kept, and the session's activity is
		// not due to be recorded again (a tenth of its idle timeout).
		clock.advance(2 * time.Minute)
		b.get("/").status(http.StatusOK)
		moved := b.text(`[data-testid="threat-banner"]`)
		if !strings.Contains(banners[0], "Heightened-threat mode since") || banners[1] != banners[0] || moved == banners[0] {
			t.Fatalf("banners %q, then two minutes later %q", banners, moved)
		}
	})
}
