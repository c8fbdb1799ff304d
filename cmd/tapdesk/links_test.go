package main

import (
	"database/sql"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"

	"github.com/tapdesk/tapdesk/signin/demoidp"
	"github.com/tapdesk/tapdesk/store"
)

// noMFAApprover is an approver whose sign-ins carry no MFA (amr ["pwd"]).
var noMFAApprover = demoidp.Persona{Key: "nomfa", Name: "Noel Nomfa", UPN: "noel.nomfa@contoso.example",
	Email: "noel.nomfa@contoso.example", ObjectID: "11111111-1111-4111-8111-0000000000f1",
	Roles: []string{"Tap.Approver"}, NoMFA: true}

// linkFor waits for the approval mail to `to` and returns its link and token.
func linkFor(t *testing.T, d *testDemo, to string) (link, token string) {
	t.Helper()
	msg := waitMail(t, d.capture, to, "Approval needed")
	m := approveLink.FindStringSubmatch(msg.Text)
	if m == nil {
		t.Fatalf("approval mail to %s has no link:\n%s", to, msg.Text)
	}
	return m[0], m[1]
}

// linkSpentBy is the object id that spent the link, "" while unspent.
func linkSpentBy(t *testing.T, d *testDemo, token string) string {
	t.Helper()
	var at, by sql.NullString
	if err := d.app.db.SQL().QueryRow(`SELECT used_at, used_by_oid FROM approval_links WHERE token_hash = ?`,
		store.HashToken(token)).Scan(&at, &by); err != nil {
		t.Fatal(err)
	}
	if !at.Valid {
		return ""
	}
	if by.String == "" {
		t.Fatal("link spent by nobody")
	}
	return by.String
}

// pickPersona signs in as persona on the demo provider's picker, which b
// must be showing.
func (b *browser) pickPersona(persona string) *browser {
	b.t.Helper()
	if !strings.Contains(b.path(), "/demo/idp/authorize") {
		b.t.Fatalf("expected the demo sign-in page, got %s\n%s", b.last.Request.URL, b.body)
	}
	form := b.doc().Find(`[data-testid="persona-` + persona + `"]`).Closest("form")
	if form.Length() == 0 {
		b.t.Fatalf("no persona %s on the picker", persona)
	}
	vals := url.Values{}
	form.Find("input").Each(func(_ int, s *goquery.Selection) { vals.Set(s.AttrOr("name", ""), s.AttrOr("value", "")) })
	ref, _ := url.Parse(form.AttrOr("action", "/demo/idp/authorize"))
	return b.post(b.last.Request.URL.ResolveReference(ref).String(), vals)
}

// Hole 7: a link is for the approver it was mailed to. Another approver who
// opens it sees the request but does not spend it.
func TestApprovalLinkIsForItsRecipient(t *testing.T) {
	d := startTestDemo(t)
	agent := d.browser(t)
	agent.signIn("/", "agent")
	req := fileRequestFor(t, agent, "nina.newhire@contoso.example", "Lost phone, needs to re-register")
	link, token := linkFor(t, d, "avery.approver@contoso.example")

	t.Run("another approver opens it", func(t *testing.T) {
		blake := d.browser(t)
		blake.signIn(link, "approver2").status(http.StatusOK)
		if blake.path() != req {
			t.Fatalf("another approver's link landed on %s, want the request %s", blake.path(), req)
		}
		blake.contains("mailed to another approver")
		if blake.doc().Find(`form[action$="/approve"]`).Length() == 0 {
			t.Error("the other approver cannot decide from the request page")
		}
		if by := linkSpentBy(t, d, token); by != "" {
			t.Fatalf("Blake spent the link mailed to Avery (used by %s)", by)
		}
		mustAudit(t, d, "Refuse approval link", "failure", "mailed to another approver")
	})

	t.Run("its recipient still uses it", func(t *testing.T) {
		avery := d.browser(t)
		avery.signIn(link, "approver").status(http.StatusOK)
		if avery.path() != req {
			t.Fatalf("Avery's own link landed on %s:\n%s", avery.path(), avery.body)
		}
		if by := linkSpentBy(t, d, token); by != d.userID(t, "avery.approver@contoso.example") {
			t.Fatalf("link spent by %q, want Avery", by)
		}
		// A second visit by its signed-in recipient lands on the request
		// with what happened, refused and audited all the same.
		avery.get(link).status(http.StatusOK)
		if avery.path() != req || !strings.Contains(avery.text(`[data-testid="flash"]`), "still waiting for a decision") {
			t.Fatalf("second visit landed on %s with %q", avery.path(), avery.text(`[data-testid="flash"]`))
		}
		mustAudit(t, d, "Refuse approval link", "failure", "was shown the request")
		avery.submit(`form[action$="/approve"]`, nil).status(http.StatusOK)
		avery.get(link).status(http.StatusOK)
		if avery.path() != req || avery.text(`[data-testid="flash"]`) != "You already approved this request." {
			t.Fatalf("after approving, the link landed on %s with %q", avery.path(), avery.text(`[data-testid="flash"]`))
		}
	})

	t.Run("another approver opens it once used", func(t *testing.T) {
		blake := d.browser(t)
		blake.signIn("/", "approver2")
		blake.get(link).status(http.StatusConflict).contains("already been used")
		if blake.path() == req {
			t.Fatal("a used link brought another approver to the request")
		}
	})

	t.Run("anyone signed out is still sent to sign in", func(t *testing.T) {
		anon := d.browser(t)
		anon.client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
		anon.get(link).status(http.StatusSeeOther)
		if loc := anon.last.Header.Get("Location"); !strings.HasPrefix(loc, "/auth/login") {
			t.Fatalf("signed out, a used link goes to %q", loc)
		}
	})
}

// Hole 7: a link opened on a stale sign-in, or one without MFA, is not
// spent; the approver signs in fresh and the link is spent then.
func TestApprovalLinkNeedsAFreshSignIn(t *testing.T) {
	clock := &testClock{now: time.Now()}
	base := clock.Now()
	d := startTestDemoWith(t, func(o *demoOptions) {
		o.Now = clock.Now
		o.Personas = append(demoidp.DefaultPersonas(), noMFAApprover)
	})
	agent := d.browser(t)
	agent.signIn("/", "agent")
	req := fileRequestFor(t, agent, "nina.newhire@contoso.example", "Lost phone, needs to re-register")

	t.Run("stale sign-in", func(t *testing.T) {
		link, token := linkFor(t, d, "avery.approver@contoso.example")
		avery := d.browser(t)
		avery.signIn("/", "approver")
		clock.set(base.Add(16 * time.Minute)) // the demo's approver limit is 15 minutes
		defer clock.set(base)
		avery.get(link).status(http.StatusOK)
		if !strings.Contains(avery.path(), "/demo/idp/authorize") {
			t.Fatalf("a stale approver's link landed on %s, want a fresh sign-in", avery.path())
		}
		if q := avery.last.Request.URL.Query(); q.Get("prompt") != "login" || q.Get("max_age") == "" {
			t.Errorf("the fresh sign-in asks prompt=%q max_age=%q", q.Get("prompt"), q.Get("max_age"))
		}
		if by := linkSpentBy(t, d, token); by != "" {
			t.Fatalf("a stale sign-in spent the link (used by %s)", by)
		}
		mustAudit(t, d, "Refuse approval link", "failure", "sent to sign in again: This needs a sign-in from the last 15 minutes")

		clock.set(base)
		avery.pickPersona("approver").status(http.StatusOK)
		if avery.path() != req {
			t.Fatalf("after a fresh sign-in the link landed on %s:\n%s", avery.path(), avery.body)
		}
		if by := linkSpentBy(t, d, token); by != d.userID(t, "avery.approver@contoso.example") {
			t.Fatalf("after the fresh sign-in the link was spent by %q, want Avery", by)
		}
	})

	t.Run("no MFA", func(t *testing.T) {
		link, token := linkFor(t, d, noMFAApprover.Email)
		noel := d.browser(t)
		// A sign-in without MFA: signing in again the same way would change
		// nothing, so a sentence instead of a loop, now and minutes later.
		noel.get(link).pickPersona("nomfa").status(http.StatusForbidden).contains("multi-factor")
		clock.set(base.Add(5 * time.Minute))
		defer clock.set(base)
		noel.get(link).status(http.StatusForbidden).contains("multi-factor")
		if by := linkSpentBy(t, d, token); by != "" {
			t.Fatalf("a sign-in without MFA spent the link (used by %s)", by)
		}
		mustAudit(t, d, "Refuse approval link", "failure", "sign-in without MFA: link not spent")
	})
}
