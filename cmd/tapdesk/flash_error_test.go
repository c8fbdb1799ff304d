package main

import (
	"net/http"
	"testing"
)

// TestFlashShownOnceOnAnErrorPage: an error page that shows the pending
// flash drops it, like any page; it must not come back on the next page
// (the session is saved after the error page is drawn, not before).
func TestFlashShownOnceOnAnErrorPage(t *testing.T) {
	d := startTestDemo(t)
	agent := d.browser(t)
	agent.signIn("/", "agent")
	fileRequestFor(t, agent, "nina.newhire@contoso.example", "Lost phone, needs to re-register")
	link, _ := linkFor(t, d, "avery.approver@contoso.example")
	blake := d.browser(t)
	blake.signIn("/", "approver2")
	blake.client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	blake.get(link).status(http.StatusSeeOther) // sets the flash "mailed to another approver"
	blake.get("/no-such-page").status(http.StatusNotFound)
	if f := blake.text(`[data-testid="flash"]`); f == "" {
		t.Fatal("the 404 page did not show the pending flash")
	}
	blake.get("/").status(http.StatusOK)
	if f := blake.text(`[data-testid="flash"]`); f != "" {
		t.Errorf("flash shown again after the error page showed it: %q", f)
	}
}
