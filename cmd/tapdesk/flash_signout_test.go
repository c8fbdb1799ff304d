package main

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/tapdesk/tapdesk/signin/demoidp"
)

// TestSignOutDropsPendingFlash: a flash still pending when someone signs
// out (its cookie outlives the session) is theirs: the next person to sign
// in on the same browser does not see it.
func TestSignOutDropsPendingFlash(t *testing.T) {
	d := startTestDemo(t)
	b := d.browser(t)
	b.signIn("/", "agent")
	req := fileRequestFor(t, b, "nina.newhire@contoso.example", "Lost phone, needs to re-register")
	b.get(req).status(http.StatusOK)
	csrf := csrfOf(b)
	b.client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	b.submit(`form[action$="/cancel"]`, nil).status(http.StatusSeeOther)
	if len(setCookies(b.last, "tapdesk_flash")) != 1 {
		t.Fatal("cancelling set no flash cookie; nothing pending to test")
	}
	b.client.CheckRedirect = nil

	// Signed out before the page that would show it.
	b.post("/auth/logout", url.Values{"_csrf": {csrf}}).status(http.StatusOK)
	b.get("/").status(http.StatusOK).pick("approver")
	if b.path() != "/" {
		t.Fatalf("after sign-in the approver is on %s", b.path())
	}
	if f := b.text(`[data-testid="flash"]`); f != "" {
		t.Errorf("the next person sees the signed-out person's flash %q", f)
	}
}

// secondAdmin is another administrator, with MFA.
var secondAdmin = demoidp.Persona{Key: "secondadmin", Name: "Sam Second", UPN: "sam.second@contoso.example",
	Email: "sam.second@contoso.example", ObjectID: "11111111-1111-4111-8111-0000000000f3",
	Roles: []string{"Tap.Admin"}}

// TestThreatReasonNotKeptForAnotherPerson: the reason an admin typed to
// switch heightened-threat mode off is kept across the fresh sign-in for
// them, not for someone else who signs in at the identity provider's
// prompt: that person gets an empty form and none of the first admin's
// messages.
func TestThreatReasonNotKeptForAnotherPerson(t *testing.T) {
	clock := &testClock{now: time.Now()}
	d := startTestDemoWith(t, func(o *demoOptions) {
		o.Now = clock.Now
		o.Personas = append(o.Personas, secondAdmin)
	})
	admin := d.browser(t)
	admin.signIn("/", "admin")
	switchThreatMode(t, admin, "on", "Vishing wave against the helpdesk").status(http.StatusOK)
	clock.advance(20 * time.Minute) // older than the approvers' 15 minutes

	const reason = "Ada's reason for switching off"
	switchThreatMode(t, admin, "off", reason).status(http.StatusOK)
	if !strings.HasSuffix(admin.path(), "/demo/idp/authorize") {
		t.Fatalf("a stale switch off went to %s, want the identity provider", admin.last.Request.URL)
	}
	admin.pick("secondadmin")
	if admin.path() != "/admin/threat-mode" {
		t.Fatalf("after signing in the second admin is on %s", admin.path())
	}
	if !strings.Contains(admin.body, "Sam Second") {
		t.Fatalf("the page is not the second admin's:\n%s", admin.body)
	}
	if got := strings.TrimSpace(admin.text(`textarea[name="reason"]`)); got != "" {
		t.Errorf("the second admin's form holds the first admin's reason %q", got)
	}
	if f := admin.text(`[data-testid="flash"]`); f != "" {
		t.Errorf("the second admin sees the first admin's flash %q", f)
	}
	if !threatModeOn(t, d) {
		t.Error("signing in switched the mode off")
	}
}
