package main

import (
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"
)

// audience says who may reach a route. Every route the running demo serves
// must have one in routeAudiences: a route added later and not classified
// fails TestRouteWalk.
type audience string

const (
	anyone        audience = "anonymous-ok"  // no sign-in needed
	signedIn      audience = "signed-in"     // any signed-in person
	requesterOnly audience = "requester"     // Tap.Requester
	approverOnly  audience = "approver"      // Tap.Approver
	auditorOnly   audience = "auditor"       // Tap.Auditor
	adminOnly     audience = "admin"         // Tap.Admin
	itsRequester  audience = "its-requester" // the agent who filed the request
	// itsViewers are the request's requester, approvers and auditors.
	itsViewers audience = "its-requester, approvers, auditors"
	// itsRevokers are the request's requester, approvers and admins.
	itsRevokers audience = "its-requester, approvers, admins"
	// itsEvidence are the request's requester and auditors (evidence pack).
	itsEvidence        audience = "its-requester, auditors"
	approvalLinkHolder audience = "link-token (approver signed in)"
	disputeLinkHolder  audience = "link-token (anyone holding it)"
	demoOnly           audience = "demo-only" // mounted by `tapdesk demo` alone (serve answers 404: TestServeStarts)
)

// routeAudiences is the expected audience of every route, keyed by "METHOD
// path" as echo lists it ("*" for a route mounted with e.Any).
var routeAudiences = map[string]audience{
	"GET /healthz":       anyone,
	"GET /readyz":        anyone,
	"GET /static/*":      anyone,
	"GET /favicon.ico":   anyone,
	"HEAD /healthz":      anyone,
	"HEAD /readyz":       anyone,
	"HEAD /static/*":     anyone,
	"HEAD /favicon.ico":  anyone,
	"GET /":              signedIn,
	"GET /auth/login":    anyone,
	"GET /auth/callback": anyone,
	// Signing out without a session is harmless, and a person whose session
	// just ended must not get an error for pressing "Sign out".
	"POST /auth/logout":          anyone,
	"GET /users":                 requesterOnly,
	"GET /users/:user":           requesterOnly,
	"GET /requests/new":          requesterOnly,
	"POST /requests":             requesterOnly,
	"GET /requests/:id":          itsViewers,
	"POST /requests/:id/cancel":  itsRequester,
	"POST /requests/:id/approve": approverOnly,
	"POST /requests/:id/deny":    approverOnly,
	"POST /requests/:id/reveal":  itsRequester,
	"POST /requests/:id/revoke":  itsRevokers,
	"GET /requests/:id/status":   itsViewers,
	"GET /requests/:id/cancel":   itsRequester,
	"GET /requests/:id/revoke":   itsRevokers,
	"GET /requests/:id/evidence": itsEvidence,
	"GET /approve/:token":        approvalLinkHolder,
	"GET /dispute/:token":        disputeLinkHolder,
	"POST /dispute/:token":       disputeLinkHolder,
	"GET /audit":                 auditorOnly,
	"GET /audit/export":          auditorOnly,
	"GET /audit/verify":          auditorOnly,
	"GET /reports":               auditorOnly,
	"GET /reports/:file":         auditorOnly,
	"GET /alerts":                auditorOnly,
	"GET /admin/threat-mode":     adminOnly,
	"POST /admin/threat-mode":    adminOnly,
	"* /demo/idp/*":              demoOnly,
	"GET /demo/mailbox":          demoOnly,
}

// outcome is what one persona should get from one route.
type outcome int

const (
	reaches  outcome = iota // anything but a refusal (and never a 5xx)
	toSignIn                // GET: 303 to /auth/login?next=<the path>; unsafe: 403
	refused                 // 403
	hidden                  // 404: the request is not theirs to see, answered as if missing (no oracle)
)

// walkPersona is one person walking the routes.
type walkPersona struct {
	key   string // demo persona key, "" for anonymous
	roles []string
}

var walkPersonas = []walkPersona{
	{key: ""},
	{key: "agent", roles: []string{"requester"}}, // files the request the :id routes name
	{key: "agent2", roles: []string{"requester"}},
	{key: "approver", roles: []string{"approver"}},
	{key: "auditor", roles: []string{"auditor"}},
}

func (p walkPersona) name() string {
	if p.key == "" {
		return "anonymous"
	}
	return p.key
}

func (p walkPersona) has(role string) bool {
	for _, r := range p.roles {
		if r == role {
			return true
		}
	}
	return false
}

// expect is the outcome for p on a route of audience a, the request named
// in the route filed by "agent".
func expect(a audience, p walkPersona) outcome {
	if p.key == "" {
		switch a {
		case anyone, disputeLinkHolder, demoOnly:
			return reaches
		}
		return toSignIn
	}
	switch a {
	case anyone, disputeLinkHolder, demoOnly, signedIn:
		return reaches
	case requesterOnly:
		return allow(p.has("requester"))
	case approverOnly, approvalLinkHolder:
		return allow(p.has("approver"))
	case auditorOnly:
		return allow(p.has("auditor"))
	case adminOnly:
		return allow(p.has("admin"))
	case itsRequester, itsViewers, itsRevokers, itsEvidence:
		if p.key == "agent2" {
			return hidden // another agent's request
		}
		switch {
		case p.key == "agent":
			return reaches
		case a == itsViewers:
			return reaches
		case a == itsRevokers && p.has("approver"):
			return reaches
		case a == itsEvidence && p.has("auditor"):
			return reaches
		}
		return refused
	}
	panic("unknown audience " + a)
}

func allow(ok bool) outcome {
	if ok {
		return reaches
	}
	return refused
}

// oddParams are path parameter values nobody should send: each must get a
// 4xx or a page, never a 500.
var oddParams = []string{
	strings.Repeat("9", 4000),
	"..",
	"%2e%2e",
	"%2E%2E%2F%2E%2E%2Fetc%2Fpasswd",
	"%C3%BCn%C3%AFc%C3%B8d%C3%A9-%E6%97%A5%E6%9C%AC", // ünïcødé-日本
	"%00",
	"a%00b",
	"%FF%FE",
	"a%2Fb",
	"%3Cscript%3Ealert(1)%3C%2Fscript%3E",
	"$count",
	"'%20OR%201=1--",
	"01ARZ3NDEKTSV4RRFFQ69G5FAV", // a well-formed id of no request
}

// walkStats counts what the walk sent and saw, for the report.
type walkStats struct {
	mu       sync.Mutex
	sent     int
	statuses map[int]int
}

func (s *walkStats) add(status int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sent++
	s.statuses[status]++
}

// noRedirectClient is b's cookie jar without following redirects, so the walk
// sees each answer as sent.
func noRedirectClient(b *browser) *http.Client {
	return &http.Client{Jar: b.client.Jar, Timeout: 30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

type walkAnswer struct {
	status   int
	location string
	body     string
}

func walkSend(t *testing.T, c *http.Client, stats *walkStats, base, method, path string, form url.Values) walkAnswer {
	t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, base+path, body)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	req.Header.Set("User-Agent", "tapdesk-routewalk")
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	res, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	stats.add(res.StatusCode)
	a := walkAnswer{status: res.StatusCode, location: res.Header.Get("Location"), body: string(raw)}
	if a.status >= 500 {
		t.Errorf("%s %s: %d (never a 5xx)\n%s", method, path, a.status, a.body)
	}
	if strings.Contains(a.body, "goroutine ") || strings.Contains(a.body, "panic:") {
		t.Errorf("%s %s: the answer shows a stack trace", method, path)
	}
	return a
}

// TestRouteWalk walks every route the running demo serves as every persona:
// anonymous, each role that should not reach it, with and without the CSRF
// token for unsafe methods, and with odd path parameters. Nothing may
// answer 500; refusals are 403 (or 404 where a request is not the person's
// to see), anonymous GETs go to sign-in.
func TestRouteWalk(t *testing.T) {
	d := startTestDemo(t)
	stats := &walkStats{statuses: map[int]int{}}

	// The request the :id routes name, filed by agent, pending, with its
	// approval and dispute links.
	agentB := d.browser(t)
	agentB.signIn("/", "agent")
	reqPath := fileWithExtras(t, agentB, d, "nina.newhire@contoso.example", "Route walk: a pending request to walk around", nil)
	reqID := strings.TrimPrefix(reqPath, "/requests/")
	approvalM := approveLink.FindStringSubmatch(waitMail(t, d.capture, "avery.approver@contoso.example", "Approval needed").Text)
	disputeM := disputeLink.FindStringSubmatch(waitMail(t, d.capture, "nina.newhire@contoso.example", requestedSubject).Text)
	if approvalM == nil || disputeM == nil {
		t.Fatal("the request's mails carry no approval or dispute link")
	}
	nina := d.userID(t, "nina.newhire@contoso.example")

	concrete := func(route string, param func(name string) string) string {
		var out []string
		for _, seg := range strings.Split(route, "/") {
			switch {
			case seg == "*":
				seg = param("*")
			case strings.HasPrefix(seg, ":"):
				seg = param(seg[1:])
			}
			out = append(out, seg)
		}
		return strings.Join(out, "/")
	}
	real := func(route string) func(string) string {
		return func(name string) string {
			switch name {
			case "id":
				return reqID
			case "file":
				return "outcomes.csv"
			case "user":
				return nina
			case "token":
				if strings.HasPrefix(route, "/approve/") {
					return approvalM[1]
				}
				return disputeM[1]
			case "*":
				if strings.HasPrefix(route, "/static/") {
					return "app.css"
				}
				return ".well-known/openid-configuration"
			}
			t.Fatalf("route %s has a parameter %s the walk does not know", route, name)
			return ""
		}
	}

	// The routes, as the running server lists them: a route added later is
	// walked too, and must be classified.
	type walkRoute struct {
		method, path string
		aud          audience
	}
	var routes []walkRoute
	listed := map[string]bool{}
	for _, r := range d.app.echo.Routes() {
		key := r.Method + " " + r.Path
		a, ok := routeAudiences[key]
		if !ok {
			if a, ok = routeAudiences["* "+r.Path]; ok {
				listed["* "+r.Path] = true
			}
		} else {
			listed[key] = true
		}
		if !ok {
			t.Errorf("route %s is not classified: add its audience to routeAudiences", key)
			continue
		}
		routes = append(routes, walkRoute{r.Method, r.Path, a})
	}
	for key := range routeAudiences {
		if !listed[key] {
			t.Errorf("routeAudiences lists %s, which the demo does not serve", key)
		}
	}
	sort.Slice(routes, func(i, j int) bool {
		return routes[i].path+routes[i].method < routes[j].path+routes[j].method
	})

	// One signed-in browser per persona; anonymous has a CSRF cookie too
	// (from its first GET), so its refusals are not just the missing token.
	clients := map[string]*http.Client{}
	tokens := map[string]string{}
	for _, p := range walkPersonas {
		b := d.browser(t)
		if p.key == "agent" {
			b = agentB
		} else if p.key != "" {
			b.signIn("/", p.key)
		}
		clients[p.key] = noRedirectClient(b)
		walkSend(t, clients[p.key], stats, d.baseURL, http.MethodGet, "/", nil) // a page: probes set no CSRF cookie
		if tokens[p.key] = csrfCookie(b); tokens[p.key] == "" {
			t.Fatalf("%s has no CSRF cookie", p.name())
		}
	}

	unsafe := func(method string) bool {
		switch method {
		case http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodTrace:
			return false
		}
		return true
	}
	// Steps that change the request (the rightful persona cancelling,
	// approving) run after every refusal has been checked.
	type step struct {
		r walkRoute
		p walkPersona
	}
	var later []step
	walked := map[string]bool{}

	for _, r := range routes {
		if r.method == http.MethodConnect {
			continue // not a method a browser sends; Go's client tunnels it
		}
		path := concrete(r.path, real(r.path))
		for _, p := range walkPersonas {
			want := expect(r.aud, p)
			if want == reaches {
				later = append(later, step{r, p})
				continue
			}
			c := clients[p.key]
			t.Run(fmt.Sprintf("%s_%s_as_%s", r.method, r.path, p.name()), func(t *testing.T) {
				walked[r.method+" "+r.path+" "+p.name()] = true
				if !unsafe(r.method) {
					a := walkSend(t, c, stats, d.baseURL, r.method, path, nil)
					checkRefusal(t, r.method, path, want, a)
					return
				}
				a := walkSend(t, c, stats, d.baseURL, r.method, path, url.Values{"reason": {"walk"}})
				if a.status != http.StatusForbidden {
					t.Errorf("%s %s without the CSRF token: %d, want 403", r.method, path, a.status)
				}
				a = walkSend(t, c, stats, d.baseURL, r.method, path, url.Values{"_csrf": {tokens[p.key]}, "reason": {"walk"}})
				checkRefusal(t, r.method, path, want, a)
			})
		}
	}

	// The rightful personas: without the token every unsafe route but the
	// demo identity provider's (it has its own forms) refuses; with it they
	// get whatever the state of the request allows, never a refusal.
	for _, s := range later {
		r, p := s.r, s.p
		path := concrete(r.path, real(r.path))
		if r.path == "/auth/logout" && p.key != "" {
			continue // would end the session the walk still needs; walked anonymous
		}
		if r.path == "/dispute/:token" && r.method == http.MethodPost {
			// Disputing stops the request for good: walk it with a token of no request.
			path = "/dispute/" + strings.Repeat("A", len(disputeM[1]))
		}
		t.Run(fmt.Sprintf("%s_%s_as_%s", r.method, r.path, p.name()), func(t *testing.T) {
			walked[r.method+" "+r.path+" "+p.name()] = true
			c := clients[p.key]
			var form url.Values
			if unsafe(r.method) {
				if !strings.HasPrefix(r.path, "/demo/idp/") {
					a := walkSend(t, c, stats, d.baseURL, r.method, path, url.Values{"reason": {"walk"}})
					if a.status != http.StatusForbidden {
						t.Errorf("%s %s without the CSRF token: %d, want 403", r.method, path, a.status)
					}
				}
				form = url.Values{"_csrf": {tokens[p.key]}, "reason": {"walk"}}
			}
			a := walkSend(t, c, stats, d.baseURL, r.method, path, form)
			// The sign-in callback refuses a sign-in this browser did not
			// start (401, the sign-in failed): that is about the input, not
			// about who may reach the route.
			if (a.status == http.StatusForbidden || a.status == http.StatusUnauthorized) && r.path != "/auth/callback" {
				t.Errorf("%s %s as %s (%s): refused with %d\n%s", r.method, path, p.name(), r.aud, a.status, a.body)
			}
			if strings.HasPrefix(a.location, "/auth/login?next=") {
				t.Errorf("%s %s as %s (%s): sent to sign in", r.method, path, p.name(), r.aud)
			}
		})
	}

	// Odd path parameters, as anonymous and as a persona the route is for.
	oddSent := 0
	for _, r := range routes {
		if !strings.ContainsAny(r.path, ":*") || (r.method != http.MethodGet && r.method != http.MethodPost) {
			continue
		}
		who := []walkPersona{walkPersonas[0]}
		for _, p := range walkPersonas[1:] {
			if expect(r.aud, p) == reaches {
				who = append(who, p)
				break
			}
		}
		if r.path == "/dispute/:token" && r.method == http.MethodPost {
			who = who[:1] // anyone holding a token; once is enough
		}
		t.Run(fmt.Sprintf("odd_params_%s_%s", r.method, r.path), func(t *testing.T) {
			for _, odd := range oddParams {
				path := concrete(r.path, func(string) string { return odd })
				for _, p := range who {
					var form url.Values
					if r.method == http.MethodPost {
						form = url.Values{"_csrf": {tokens[p.key]}, "reason": {"walk"}}
					}
					a := walkSend(t, clients[p.key], stats, d.baseURL, r.method, path, form)
					oddSent++
					// A guarded route sends anonymous people to sign in
					// whatever the parameter. Link routes may refuse a token
					// of the wrong shape first, and a flood limit may answer
					// 429 to this many odd requests: both are fine here.
					if p.key == "" && expect(r.aud, p) == toSignIn && r.aud != approvalLinkHolder && a.status != http.StatusTooManyRequests {
						checkRefusal(t, r.method, path, toSignIn, a)
					}
				}
			}
		})
	}

	// No handler panicked along the way (the recoverer would have hidden
	// it behind a 500, which the walk already fails on, but say so).
	if strings.Contains(d.logs.String(), "panic") {
		t.Errorf("the server logged a panic during the walk")
	}
	var codes []string
	for code, n := range stats.statuses {
		codes = append(codes, fmt.Sprintf("%d×%d", code, n))
	}
	sort.Strings(codes)
	t.Logf("route walk: %d routes × %d personas (%d route-persona pairs walked), %d odd-parameter requests, %d requests in all; statuses %s",
		len(routes), len(walkPersonas), len(walked), oddSent, stats.sent, strings.Join(codes, " "))
}

// checkRefusal checks a refusal is the one the route's audience calls for.
func checkRefusal(t *testing.T, method, path string, want outcome, a walkAnswer) {
	t.Helper()
	switch want {
	case toSignIn:
		if method != http.MethodGet && method != http.MethodHead {
			if a.status != http.StatusForbidden {
				t.Errorf("anonymous %s %s: %d, want 403\n%s", method, path, a.status, a.body)
			}
			return
		}
		wantLoc := "/auth/login?next=" + url.QueryEscape(path)
		if path == "/" {
			wantLoc = "/auth/login" // the dashboard's own redirect: next defaults to /
		}
		if a.status != http.StatusSeeOther || a.location != wantLoc {
			t.Errorf("anonymous GET %s: %d to %q, want 303 to %q", path, a.status, a.location, wantLoc)
		}
	case refused:
		if a.status != http.StatusForbidden {
			t.Errorf("%s %s: %d, want 403\n%s", method, path, a.status, a.body)
		}
	case hidden:
		if a.status != http.StatusNotFound {
			t.Errorf("%s %s: %d, want 404 (not theirs to see)\n%s", method, path, a.status, a.body)
		}
	}
}
