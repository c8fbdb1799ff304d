package main

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/tapdesk/tapdesk/entra/fakegraph"
)

// graphReads counts what the fake Graph received apart from mail (the mail
// loop sends in the background).
func graphReads(d *testDemo) []fakegraph.RecordedRequest {
	var out []fakegraph.RecordedRequest
	for _, r := range d.fake.Requests() {
		if !strings.HasSuffix(r.Path, "/sendMail") {
			out = append(out, r)
		}
	}
	return out
}

// hostileUserKeys are lookup inputs that are neither an object id nor a
// UPN. Put into /users/{key} they would address another Graph endpoint (or
// a 10 KB path).
var hostileUserKeys = []string{
	"..", "../me", "..%2Fme", "delta", "$count", "$metadata", "%2e%2e", "a/b", "me",
	"nina.newhire@contoso.example/../../me", "nina.newhire@contoso.example?$select=passwordProfile",
	"nina.newhire@contoso.example#x/..", "x@y", "@contoso.example", "nina.newhire@", "nina newhire@contoso.example",
	"nina.newhire@contoso.example\x00", "users('x')", "00000000-0000-4000-8000-00000000000g",
	strings.Repeat("a", 10*1024), strings.Repeat("a", 10*1024) + "@contoso.example",
}

// TestHostileUserLookup sends every hostile key through every place that
// turns user input into a Graph lookup: the user card path, the request
// form's ?user= and the filing form's user field. Each gets 400 with a
// sentence, and Graph hears nothing of it.
func TestHostileUserLookup(t *testing.T) {
	d := startTestDemoWith(t, manyActions) // 21 hostile filings, more than the filing limit lets through
	agent := d.browser(t)
	agent.signIn("/", "agent")
	csrf := csrfOf(agent)

	for _, key := range hostileUserKeys {
		name := key
		if len(name) > 40 {
			name = name[:20] + "...(long)"
		}
		t.Run(name, func(t *testing.T) {
			agent := agent.with(t)
			entries := []struct {
				what string
				send func()
			}{
				// The path as typed: escaped, so the key is one segment.
				{"user card", func() { agent.get("/users/" + url.PathEscape(key)) }},
				{"request form", func() { agent.get("/requests/new?user=" + url.QueryEscape(key)) }},
				{"filing", func() { agent.post("/requests", validForm(csrf, key)) }},
			}
			for _, e := range entries {
				d.fake.ClearRequests()
				e.send()
				agent.status(http.StatusBadRequest)
				if msg := agent.text(`[data-testid="error-message"]`); !strings.Contains(msg, "user principal name") {
					t.Errorf("%s: the page says %q, want a sentence naming what a lookup takes", e.what, msg)
				}
				if calls := graphReads(d); len(calls) != 0 {
					t.Errorf("%s: Graph received %d calls, want none: %+v", e.what, len(calls), calls)
				}
			}
		})
	}

	// The raw path, as a hand-made URL would send it: the router takes an
	// escaped '/' as part of the one segment, and the key is refused.
	t.Run("raw paths", func(t *testing.T) {
		agent := agent.with(t)
		for _, p := range []string{"/users/..", "/users/%2e%2e", "/users/$count", "/users/delta", "/users/..%2Fme", "/users/a%2Fb"} {
			d.fake.ClearRequests()
			req, _ := http.NewRequest(http.MethodGet, agent.abs("/"), nil)
			req.URL.Opaque = "//" + req.URL.Host + p // sent exactly as written
			agent.do(req)
			if s := agent.last.StatusCode; s != http.StatusBadRequest {
				t.Errorf("%s: status %d, want 400", p, s)
			}
			if calls := graphReads(d); len(calls) != 0 {
				t.Errorf("%s: Graph received %d calls, want none: %+v", p, len(calls), calls)
			}
		}
	})

	// Real keys still work, in any case of GUID.
	t.Run("real keys", func(t *testing.T) {
		agent := agent.with(t)
		nina := d.userID(t, "nina.newhire@contoso.example")
		agent.get("/users/" + strings.ToUpper(nina)).status(http.StatusOK).contains("Nina Newhire")
		agent.get("/users/nina.newhire@contoso.example").status(http.StatusOK).contains("Nina Newhire")
		agent.get("/requests/new?user=" + nina).status(http.StatusOK)
	})
}

// TestHostileUserSearch: a search term is bounded before Graph hears of it,
// and a quote cannot break out of the OData string literal.
func TestHostileUserSearch(t *testing.T) {
	d := startTestDemo(t)
	if err := d.fake.Tenant().AddUser(fakegraph.User{ID: "5d2c6a0e-7b8f-4e3a-9c1d-0f4b2e6a8c13",
		DisplayName: "Séan O'Brien", UserPrincipalName: "sean.obrien@contoso.example", AccountEnabled: true}); err != nil {
		t.Fatal(err)
	}
	agent := d.browser(t)
	agent.signIn("/", "agent")

	t.Run("too long or control characters", func(t *testing.T) {
		agent := agent.with(t)
		for _, q := range []string{strings.Repeat("a", 65), strings.Repeat("é", 65), strings.Repeat("a", 10*1024), "nina\r\nX-Injected: 1", "nina\x00", "nina\x1b[31m"} {
			d.fake.ClearRequests()
			agent.get("/users?q=" + url.QueryEscape(q)).status(http.StatusBadRequest)
			if msg := agent.text(`[data-testid="search-message"]`); msg == "" {
				t.Errorf("q of %d bytes: no sentence on the page", len(q))
			}
			if strings.Contains(agent.body, strings.Repeat("a", 65)) {
				t.Errorf("q of %d bytes: the term is echoed back", len(q))
			}
			if calls := graphReads(d); len(calls) != 0 {
				t.Errorf("q of %d bytes: Graph received %d calls, want none", len(q), len(calls))
			}
		}
		// 64 characters is still a search.
		agent.get("/users?q=" + strings.Repeat("a", 64)).status(http.StatusOK)
	})

	t.Run("quote injection", func(t *testing.T) {
		agent := agent.with(t)
		// Unescaped, this would make the filter startswith(displayName,'')
		// and list the whole directory.
		for _, q := range []string{"x') or startswith(displayName,'", "''", "x' or 1 eq 1 or '"} {
			d.fake.ClearRequests()
			agent.get("/users?q=" + url.QueryEscape(q)).status(http.StatusOK)
			if n := agent.doc().Find(`[data-testid="results"] a`).Length(); n != 0 {
				t.Errorf("q %q found %d users, want none", q, n)
			}
			var filters []string
			for _, r := range graphReads(d) {
				filters = append(filters, r.Query.Get("$filter"))
			}
			if len(filters) != 1 || !strings.Contains(filters[0], strings.ReplaceAll(q, "'", "''")) {
				t.Errorf("q %q: Graph got filters %q, want one with the quotes doubled", q, filters)
			}
		}
		// A real name with an apostrophe is found.
		agent.get("/users?q=" + url.QueryEscape("Séan O'")).status(http.StatusOK).contains("Séan O&#39;Brien")
	})
}
