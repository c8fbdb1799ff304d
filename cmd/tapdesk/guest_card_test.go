package main

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// TestGuestCardByUPN: a guest's UPN holds '#' (x_y.example#EXT#@tenant),
// which a URL must carry as %23. Found by search or addressed by UPN, the
// guest's card opens and says why no pass can be filed for them; a key that
// does not unescape, or unescapes to something that is not a user key, is
// a 400 that never reaches Graph.
func TestGuestCardByUPN(t *testing.T) {
	d := startTestDemo(t)
	agent := d.browser(t)
	agent.signIn("/", "agent")
	const guest = "jordan_partner.example#EXT#@contoso.example"

	openedCard := func(t *testing.T, b *browser) {
		t.Helper()
		b.status(http.StatusOK)
		if upn := b.text(`[data-testid="upn"]`); upn != guest {
			t.Errorf("card shows UPN %q, want %q", upn, guest)
		}
		if msg := b.text(`[data-testid="ineligible"]`); !strings.Contains(msg, "external guest") {
			t.Errorf("card says %q, want it to explain the guest cannot get a pass", msg)
		}
	}

	t.Run("found by search", func(t *testing.T) {
		agent := agent.with(t)
		agent.get("/users?q=" + url.QueryEscape("jordan")).status(http.StatusOK)
		href, ok := agent.doc().Find(`[data-testid="results"] a`).First().Attr("href")
		if !ok {
			t.Fatalf("no result for the guest:\n%s", agent.body)
		}
		openedCard(t, agent.get(href))
	})
	t.Run("addressed by UPN", func(t *testing.T) {
		agent := agent.with(t)
		openedCard(t, agent.get("/users/"+url.PathEscape(guest)))
		// Spelled with '@' escaped too, as encodeURIComponent does.
		openedCard(t, agent.get("/users/"+strings.NewReplacer("#", "%23", "@", "%40").Replace(guest)))
	})
	t.Run("hostile keys", func(t *testing.T) {
		agent := agent.with(t)
		for _, path := range []string{
			"/users/jordan%25@contoso.example",             // '%' itself
			"/users/..%2F..%2Fdelta",                       // another Graph endpoint once unescaped
			"/users/a%2Fb@contoso.example",                 // '/' once unescaped
			"/users/jordan%2523EXT%2523@contoso.example",   // escaped twice
			"/users/jordan%2523EXT%2523%40contoso.example", // escaped twice, with the path kept escaped
			"/users/%00@contoso.example",                   // NUL
		} {
			d.fake.ClearRequests()
			req, _ := http.NewRequest(http.MethodGet, agent.abs("/"), nil)
			req.URL.Opaque = "//" + req.URL.Host + path // sent exactly as written
			agent.do(req)
			if s := agent.last.StatusCode; s != http.StatusBadRequest {
				t.Errorf("%s: status %d, want 400", path, s)
			}
			if msg := agent.text(`[data-testid="error-message"]`); !strings.Contains(msg, "user principal name") {
				t.Errorf("%s: the page says %q, want a sentence naming what a lookup takes", path, msg)
			}
			if calls := graphReads(d); len(calls) != 0 {
				t.Errorf("%s: Graph received %d calls, want none: %+v", path, len(calls), calls)
			}
		}
	})
}
