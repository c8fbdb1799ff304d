package main

import (
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"

	"github.com/tapdesk/tapdesk/entra/fakegraph"
	"github.com/tapdesk/tapdesk/signin/demoidp"
)

// testClock is the demo's clock, moved by the test: sign-ins age and
// sessions go idle without waiting.
type testClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *testClock) set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = t
}

func (c *testClock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

func startClockedDemo(t *testing.T) (*testDemo, *testClock) {
	t.Helper()
	clock := &testClock{now: time.Now()}
	return startTestDemoWith(t, func(o *demoOptions) { o.Now = clock.Now }), clock
}

// pick chooses persona on the demo sign-in page b is showing.
func (b *browser) pick(persona string) *browser {
	b.t.Helper()
	if !strings.Contains(b.last.Request.URL.Path, "/demo/idp/authorize") {
		b.t.Fatalf("expected the demo sign-in page, got %s\n%s", b.last.Request.URL, b.body)
	}
	form := b.doc().Find(`[data-testid="persona-` + persona + `"]`).Closest("form")
	vals := url.Values{}
	form.Find("input").Each(func(_ int, s *goquery.Selection) { vals.Set(s.AttrOr("name", ""), s.AttrOr("value", "")) })
	return b.post("/demo/idp/authorize", vals).status(http.StatusOK)
}

// approvedRequest has the agent file a request for Nina and an approver
// approve it; it returns the request page path.
func approvedRequest(t *testing.T, d *testDemo, agent *browser) string {
	t.Helper()
	req := fileRequestFor(t, agent, "nina.newhire@contoso.example", "New starter, first day, no methods yet")
	approver := d.browser(t)
	approver.signIn(req, "approver").submit(`form[action$="/approve"]`, nil).status(http.StatusOK)
	if got := approver.text(`[data-testid="state"]`); got != "Approved" {
		t.Fatalf("request is %q after approval", got)
	}
	return req
}

// A stale sign-in cannot issue a pass: the agent is sent through the
// identity provider with max_age, Graph is not called, and back on the
// request the button waits to be pressed.
func TestRevealNeedsFreshSignIn(t *testing.T) {
	d, clock := startClockedDemo(t)
	agent := d.browser(t)
	agent.signIn("/", "agent")
	req := approvedRequest(t, d, agent)

	clock.advance(16 * time.Minute)
	agent.get(req).status(http.StatusOK)
	before := d.fake.CountRequests(createTAP)
	agent.submit(`form[action$="/reveal"]`, nil).status(http.StatusOK)
	at := agent.last.Request.URL
	if !strings.HasSuffix(at.Path, "/demo/idp/authorize") || at.Query().Get("max_age") != "900" || at.Query().Get("prompt") != "login" {
		t.Fatalf("a stale reveal went to %s, want the identity provider with max_age=900 and prompt=login", at)
	}
	if agent.doc().Find(`[data-testid="continue-agent"]`).Length() != 0 {
		t.Error("the identity provider offers to reuse the stale sign-in")
	}
	if n := d.fake.CountRequests(createTAP) - before; n != 0 {
		t.Fatalf("Graph saw %d creates for a stale sign-in", n)
	}
	mustAudit(t, d, "Refuse reveal", "failure", "from the last 15 minutes")

	agent.pick("agent")
	if agent.path() != req {
		t.Fatalf("after signing in again the agent is on %s, want %s", agent.path(), req)
	}
	if f := agent.text(`[data-testid="flash"]`); !strings.Contains(f, "press Issue and reveal") && !strings.Contains(f, "Press Issue and reveal") {
		t.Errorf("flash %q", f)
	}
	if agent.doc().Find(`[data-testid="reveal"]`).Length() != 1 || agent.text(`[data-testid="state"]`) != "Approved" {
		t.Fatalf("the request page does not wait with the button:\n%s", agent.body)
	}
	if n := d.fake.CountRequests(createTAP) - before; n != 0 {
		t.Fatalf("signing in again issued a pass by itself (%d creates)", n)
	}
	agent.submit(`form[action$="/reveal"]`, nil).status(http.StatusOK)
	if _, ok := shownPass(agent.doc().Find(`[data-testid="pass"]`)); !ok {
		t.Fatalf("fresh sign-in, no pass:\n%s", agent.body)
	}
	if n := d.fake.CountRequests(createTAP) - before; n != 1 {
		t.Errorf("Graph saw %d creates, want 1", n)
	}
}

// A fresh sign-in asks the provider for the max_age of the action that
// needs it: the reveal limit (15m) or the approvers' (12h here).
func TestFreshSignInMaxAgeMatchesAction(t *testing.T) {
	d := startTestDemoWith(t, func(o *demoOptions) { o.ApproverMaxAge = 12 * time.Hour })
	for fresh, want := range map[string]string{"reveal": "900", "1": "43200"} {
		b := d.browser(t)
		b.signIn("/", "dual")
		b.get("/auth/login?fresh=" + fresh + "&next=/").status(http.StatusOK)
		if q := b.last.Request.URL.Query(); !strings.HasSuffix(b.path(), "/demo/idp/authorize") || q.Get("max_age") != want || q.Get("prompt") != "login" {
			t.Errorf("fresh=%s went to %s, want max_age=%s and prompt=login", fresh, b.last.Request.URL, want)
		}
	}
}

// Roles come from the latest sign-in: an agent whose Tap.Requester was
// removed at the identity provider loses it at the next sign-in, and then
// cannot reveal or cancel their own approved request.
func TestRolesReadAtEachSignIn(t *testing.T) {
	d := startTestDemo(t)
	agent := d.browser(t)
	agent.signIn("/", "agent")
	issued := approvedRequest(t, d, agent)
	agent.get(issued).submit(`form[action$="/reveal"]`, nil).status(http.StatusOK)
	req := approvedRequest(t, d, agent)
	if !d.idp.SetRoles("agent") {
		t.Fatal("no agent persona")
	}
	agent.get("/auth/login?fresh=1&next=" + url.QueryEscape(req)).status(http.StatusOK).pick("agent")
	if agent.path() != req {
		t.Fatalf("signed in again onto %s", agent.path())
	}
	for _, button := range []string{"reveal", "cancel"} {
		if agent.doc().Find(`[data-testid="`+button+`"]`).Length() != 0 {
			t.Errorf("%s button offered to an agent without Tap.Requester", button)
		}
	}
	csrf := csrfOf(agent)
	before := d.fake.CountRequests(createTAP)
	agent.post(req+"/reveal", url.Values{"_csrf": {csrf}}).status(http.StatusForbidden).contains("no longer hold the Tap.Requester role")
	agent.post(req+"/cancel", url.Values{"_csrf": {csrf}}).status(http.StatusForbidden).contains("no longer hold the Tap.Requester role")
	agent.get("/users?q=nina").status(http.StatusForbidden)
	if agent.get(issued).doc().Find(`[data-testid="revoke"]`).Length() != 0 {
		t.Error("revoke button offered to an agent without Tap.Requester")
	}
	agent.post(issued+"/revoke", url.Values{"_csrf": {csrfOf(agent)}}).status(http.StatusForbidden).contains("with the Tap.Requester role")
	if n := d.fake.CountRequests(createTAP) - before; n != 0 {
		t.Errorf("Graph saw %d creates", n)
	}
	mustAudit(t, d, "Refuse reveal", "failure", "no longer hold the Tap.Requester role")
	mustAudit(t, d, "Refuse request", "failure", "no longer hold the Tap.Requester role")
	if got := agent.get(req).text(`[data-testid="state"]`); got != "Approved" {
		t.Errorf("request is %q", got)
	}
}

func TestSessionTimeouts(t *testing.T) {
	d, clock := startClockedDemo(t)
	signedIn := func(b *browser) bool {
		b.get("/")
		return b.doc().Find(`form[action="/auth/logout"]`).Length() == 1
	}

	t.Run("idle for 30 minutes", func(t *testing.T) {
		agent := d.browser(t)
		agent.signIn("/", "agent")
		clock.advance(29 * time.Minute)
		if !signedIn(agent) {
			t.Fatal("signed out after 29 idle minutes")
		}
		clock.advance(30 * time.Minute)
		csrf := csrfOf(agent)
		agent.post("/requests", url.Values{"_csrf": {csrf}}).status(http.StatusForbidden).
			contains("signed out after 30 minutes without activity")
		if signedIn(agent) {
			t.Fatal("still signed in after 30 idle minutes")
		}
		mustAudit(t, d, "Sign out", "success", "idle for more than 30m")

	})

	// The request page's script polls and, on a change, fetches the page
	// again (Sec-Fetch-Dest: empty): an open tab left alone must still end
	// its session after 30 idle minutes.
	t.Run("a page's own script is not activity", func(t *testing.T) {
		agent := d.browser(t)
		agent.signIn("/", "agent")
		clock.advance(20 * time.Minute)
		req, err := http.NewRequest(http.MethodGet, agent.abs("/"), nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Sec-Fetch-Dest", "empty")
		agent.do(req).status(http.StatusOK)
		clock.advance(20 * time.Minute)
		if signedIn(agent) {
			t.Fatal("a script's fetch kept an idle session alive")
		}
	})

	t.Run("8 hours however active", func(t *testing.T) {
		agent := d.browser(t)
		agent.signIn("/", "agent")
		for range 19 { // 7h55m, never idle
			clock.advance(25 * time.Minute)
			if !signedIn(agent) {
				t.Fatal("an active session ended before 8 hours")
			}
		}
		clock.advance(10 * time.Minute)
		agent.get("/users?q=nina").status(http.StatusOK)
		if !strings.HasSuffix(agent.path(), "/demo/idp/authorize") {
			t.Fatalf("after 8h05m the agent is on %s, not sent to sign in", agent.path())
		}
		mustAudit(t, d, "Sign out", "success", "older than 8h")
	})
}

// Issuing needs MFA: an agent signed in with a password only is refused
// before Graph is called.
func TestRevealNeedsMFA(t *testing.T) {
	nomfa := demoidp.Persona{Key: "nomfa", Name: "Pat Password", UPN: "pat.password@contoso.example",
		Email: "pat.password@contoso.example", ObjectID: "11111111-1111-4111-8111-0000000000aa",
		Roles: []string{"Tap.Requester"}, NoMFA: true}
	d := startTestDemoWith(t, func(o *demoOptions) { o.Personas = append(o.Personas, nomfa) })
	agent := d.browser(t)
	agent.signIn("/", "nomfa")
	req := approvedRequest(t, d, agent)
	before := d.fake.CountRequests(createTAP)
	agent.get(req).submit(`form[action$="/reveal"]`, nil).status(http.StatusForbidden).contains("multi-factor authentication")
	if n := d.fake.CountRequests(createTAP) - before; n != 0 {
		t.Errorf("Graph saw %d creates for a sign-in without MFA", n)
	}
	mustAudit(t, d, "Refuse reveal", "failure", "multi-factor authentication")
}

// Sign-out on a shared PC ends the identity provider's session too, so the
// next person is asked who they are.
func TestSignOutEndsProviderSession(t *testing.T) {
	d := startTestDemo(t)
	agent := d.browser(t)
	agent.signIn("/", "agent")
	if !d.idp.HasSession("agent") {
		t.Fatal("the demo provider keeps no session; nothing to end")
	}
	noFollow := *agent.client
	noFollow.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	res, err := noFollow.PostForm(d.baseURL+"/auth/logout", url.Values{"_csrf": {csrfOf(agent)}})
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	loc, _ := url.Parse(res.Header.Get("Location"))
	q := loc.Query()
	if res.StatusCode != http.StatusSeeOther || !strings.HasPrefix(loc.String(), d.baseURL+"/demo/idp/logout?") ||
		q.Get("id_token_hint") == "" || q.Get("client_id") != fakegraph.SampleSignInClientID || q.Get("post_logout_redirect_uri") != d.baseURL {
		t.Fatalf("sign-out: %d to %s", res.StatusCode, loc)
	}
	res, err = noFollow.Get(loc.String())
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if back := res.Header.Get("Location"); res.StatusCode != http.StatusFound || back != d.baseURL {
		t.Fatalf("the provider answered sign-out with %d to %q, not back to tapdesk", res.StatusCode, back)
	}
	if d.idp.HasSession("agent") {
		t.Error("the provider's session outlived sign-out")
	}
	// Back at tapdesk, nobody is signed in: the home page asks the provider,
	// which asks who you are.
	agent.get(d.baseURL).status(http.StatusOK)
	if agent.doc().Find(`[data-testid="continue-agent"]`).Length() != 0 || agent.doc().Find(`[data-testid="persona-agent"]`).Length() != 1 {
		t.Errorf("the next sign-in does not ask who you are:\n%s", agent.body)
	}
	mustAudit(t, d, "Sign out", "success", "")
}

func TestServeRefusesSessionSettings(t *testing.T) {
	cases := []struct {
		set  map[string]string
		want []string
	}{
		{map[string]string{"TAPDESK_SESSION_IDLE_TIMEOUT": "0", "TAPDESK_REVEAL_MFA": "maybe", "TAPDESK_REVEAL_MAX_AGE": "soon"},
			[]string{"TAPDESK_SESSION_IDLE_TIMEOUT: must be longer than 0", "TAPDESK_REVEAL_MFA: must be true or false", "TAPDESK_REVEAL_MAX_AGE"}},
		{map[string]string{"TAPDESK_SESSION_IDLE_TIMEOUT": "2h", "TAPDESK_SESSION_LIFETIME": "1h"},
			[]string{"TAPDESK_SESSION_IDLE_TIMEOUT: must not be longer than TAPDESK_SESSION_LIFETIME"}},
		{map[string]string{"TAPDESK_SESSION_LIFETIME": "0s"},
			[]string{"TAPDESK_SESSION_LIFETIME: must be longer than 0"}},
	}
	for _, c := range cases {
		env := validServeEnv(t)
		for k, v := range c.set {
			env[k] = v
		}
		err := run(t.Context(), []string{"serve"}, envFrom(env), io.Discard, io.Discard)
		if err == nil {
			t.Fatalf("serve started with %v", c.set)
		}
		for _, want := range c.want {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("refusal lacks %q:\n%v", want, err)
			}
		}
	}
}
