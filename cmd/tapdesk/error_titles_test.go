package main

import (
	"net/http"
	"strings"
	"testing"
)

// titleIs checks that an error page names its situation in both <title>
// and its heading (issue 12: not the HTTP status's "Already changed").
func (b *browser) titleIs(want string) *browser {
	b.t.Helper()
	doc := b.doc()
	if got := strings.TrimSpace(doc.Find("title").Text()); got != want+" · tapdesk" {
		b.t.Errorf("<title> %q, want %q", got, want+" · tapdesk")
	}
	if got := strings.TrimSpace(doc.Find(`[data-testid="error"] h1`).Text()); got != want {
		b.t.Errorf("<h1> %q, want %q\n%s", got, want, b.body)
	}
	return b
}

// TestErrorPagesNameTheSituation: a used approval link, approving a request
// already decided, a request that does not exist and an unknown page each
// read as what happened.
func TestErrorPagesNameTheSituation(t *testing.T) {
	d := startTestDemo(t)
	agent := d.browser(t)
	agent.signIn("/", "agent")
	req := fileRequestFor(t, agent, "nina.newhire@contoso.example", "Lost phone, needs to re-register")
	link, _ := linkFor(t, d, "avery.approver@contoso.example")

	// Blake opens the request while it waits; Avery approves through the
	// link meanwhile.
	blake := d.browser(t)
	blake.signIn(req, "approver2").status(http.StatusOK)
	avery := d.browser(t)
	avery.signIn(link, "approver").status(http.StatusOK)
	avery.submit(`form[action$="/approve"]`, nil).status(http.StatusOK)

	t.Run("approving a request already decided", func(t *testing.T) {
		blake.with(t).submit(`form[action$="/approve"]`, nil).status(http.StatusConflict).titleIs("Already decided")
	})
	t.Run("a used approval link", func(t *testing.T) {
		blake.with(t).get(link).status(http.StatusConflict).titleIs("Link already used")
	})
	t.Run("a request that does not exist", func(t *testing.T) {
		blake.with(t).get("/requests/no-such-request").status(http.StatusNotFound).titleIs("Request not found")
	})
	t.Run("a page that does not exist", func(t *testing.T) {
		blake.with(t).get("/no-such-page").status(http.StatusNotFound).titleIs("Page not found")
	})
	t.Run("a page for another role", func(t *testing.T) {
		blake.with(t).get("/audit").status(http.StatusForbidden).titleIs("Not one of your tasks")
	})
}
