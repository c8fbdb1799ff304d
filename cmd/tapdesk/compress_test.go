package main

import (
	"net/http"
	"strings"
	"testing"

	"github.com/labstack/echo/v4/middleware"
)

// browserHeaders are what Chromium sends with a page it navigates to from
// another tapdesk page.
var browserHeaders = http.Header{
	"Accept-Encoding": {"gzip, deflate, br, zstd"},
	"Sec-Fetch-Site":  {"same-origin"},
	"Sec-Fetch-Mode":  {"navigate"},
	"Sec-Fetch-Dest":  {"document"},
}

// TestPagesCompressedOnlyWithoutSecrets performs the BREACH setting: a
// page compressed with a secret on it, next to text an attacker chooses
// (the dashboard's history search reflects its query). tapdesk compresses
// pages for browsers that send Fetch Metadata, whose forms carry echo's
// fixed placeholder rather than a token, and never a page with a real CSRF
// token, a pass, or a link's token (tapdesk.CompressPage).
func TestPagesCompressedOnlyWithoutSecrets(t *testing.T) {
	d := startTestDemo(t)
	agent := d.browser(t)
	agent.signIn("/", "agent")
	reqPath := fileRequestFor(t, agent, "nina.newhire@contoso.example", "New starter, first day, no methods yet")

	agent.header = browserHeaders
	placeholder := `name="_csrf" value="` + middleware.CSRFUsingSecFetchSite + `"`
	t.Run("pages without a secret are compressed", func(t *testing.T) {
		b := agent.with(t)
		// Twice: the second time the kept, deflated page is sent with a
		// new nonce, and must still be this page.
		var nonces []string
		for range 2 {
			b.get("/").status(http.StatusOK).contains(`href="` + reqPath + `"`).contains(placeholder)
			if b.encoding != "gzip" {
				t.Fatalf("the dashboard went out with Content-Encoding %q, want gzip", b.encoding)
			}
			if v := b.last.Header.Values("Vary"); !strings.Contains(strings.Join(v, ","), "Accept-Encoding") {
				t.Errorf("Vary: %q lacks Accept-Encoding", v)
			}
			nonce, ok := b.doc().Find("script[nonce]").Attr("nonce")
			if !ok || !strings.Contains(b.last.Header.Get("Content-Security-Policy"), "'nonce-"+nonce+"'") {
				t.Fatalf("the page's script nonce %q is not the policy's: %s", nonce, b.last.Header.Get("Content-Security-Policy"))
			}
			nonces = append(nonces, nonce)
		}
		if nonces[0] == nonces[1] {
			t.Error("two pages sent with the same nonce")
		}
		b.get(reqPath).status(http.StatusOK).contains("Nina Newhire")
		if b.encoding != "gzip" {
			t.Errorf("the request page went out with Content-Encoding %q, want gzip", b.encoding)
		}
		// The history search reflects its query, compressed: the page
		// holds no secret to guess.
		b.get("/?q=INC-4711").status(http.StatusOK).contains(placeholder)
		if b.encoding != "gzip" {
			t.Errorf("the searched dashboard went out with Content-Encoding %q, want gzip", b.encoding)
		}
	})

	t.Run("a page with a real CSRF token is not compressed", func(t *testing.T) {
		// A client without Fetch Metadata gets a real token in its forms.
		b := agent.with(t)
		b.header = http.Header{"Accept-Encoding": {"gzip"}}
		b.get("/?q=INC-4711").status(http.StatusOK)
		token, _ := b.doc().Find(`input[name="_csrf"]`).Attr("value")
		if token == "" || token == middleware.CSRFUsingSecFetchSite {
			t.Fatalf("the page carries CSRF token %q, want a real one", token)
		}
		if b.encoding != "" {
			t.Fatalf("a page with a real CSRF token and a reflected query went out with Content-Encoding %q", b.encoding)
		}
	})

	t.Run("a page another site had the browser ask for is not compressed", func(t *testing.T) {
		// The other site chose what the search echoes; the sizes would
		// tell it what else the page shows.
		b := agent.with(t)
		b.header = http.Header{"Accept-Encoding": {"gzip"}, "Sec-Fetch-Site": {"cross-site"}, "Sec-Fetch-Mode": {"navigate"}}
		b.get("/users?q=nina").status(http.StatusOK)
		if b.encoding != "" {
			t.Fatalf("a cross-site search page went out with Content-Encoding %q", b.encoding)
		}
	})

	t.Run("the demo mailbox, its links carrying tokens, is not compressed", func(t *testing.T) {
		b := agent.with(t)
		b.get("/demo/mailbox").status(http.StatusOK).contains("Demo mailbox")
		if b.encoding != "" {
			t.Fatalf("the demo mailbox went out with Content-Encoding %q", b.encoding)
		}
	})

	t.Run("the pass is not compressed", func(t *testing.T) {
		approveAs(t, d, reqPath, "approver")
		b := agent.with(t)
		b.get(reqPath).submit(`form[action$="/reveal"]`, nil).status(http.StatusOK)
		if pass, ok := shownPass(b.doc().Find(`[data-testid="pass"]`)); !ok || len(pass) < 8 {
			t.Fatalf("the reveal page shows no pass:\n%s", b.body)
		}
		if b.encoding != "" {
			t.Fatalf("the reveal page went out with Content-Encoding %q", b.encoding)
		}
	})

	t.Run("a link's page is not compressed", func(t *testing.T) {
		link := disputeLink.FindString(waitMail(t, d.capture, "nina.newhire@contoso.example", requestedSubject).Text)
		if link == "" {
			t.Fatal("no dispute link mailed to Nina")
		}
		b := d.browser(t)
		b.header = browserHeaders
		b.get(link).status(http.StatusOK).contains(`action="/dispute/`)
		if b.encoding != "" {
			t.Fatalf("the dispute page, its token in the form, went out with Content-Encoding %q", b.encoding)
		}
	})
}
