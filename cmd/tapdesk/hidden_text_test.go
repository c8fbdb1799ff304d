package main

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/tapdesk/tapdesk/entra/fakegraph"
)

// Hole 8: forwarded approval mail carries no free text, and directory names
// are isolated in mail and pages.
func TestApprovalMailCarriesNoFreeText(t *testing.T) {
	// A reminder half-way, when the test moves the portal's clock there.
	const ttl = 10 * time.Minute
	clock := &testClock{now: time.Now()}
	d := startTestDemoWith(t, func(o *demoOptions) {
		o.Now = clock.Now
		o.DecisionTTL = ttl
		o.SweepInterval = 100 * time.Millisecond
	})
	// A right-to-left display name, with an override hidden in it.
	const rtlName = "نينا\u202E نيوهاير"
	const shownName = "نينا نيوهاير"
	if err := d.fake.Tenant().UpdateUser("nina.newhire@contoso.example", func(u *fakegraph.User) { u.DisplayName = rtlName }); err != nil {
		t.Fatal(err)
	}
	const justification = "Lost her phone at the airport, flying to Lisbon"
	const note = "Called back +1 555 0100 from HR record"
	agent := d.browser(t)
	agent.signIn("/", "agent")
	req := fileRequestFor(t, agent, "nina.newhire@contoso.example", justification)
	r, err := d.app.db.Request(context.Background(), strings.TrimPrefix(req, "/requests/"))
	if err != nil {
		t.Fatal(err)
	}

	check := func(t *testing.T, subject string) {
		t.Helper()
		msg := waitMail(t, d.capture, "avery.approver@contoso.example", subject)
		for _, secret := range []string{justification, note, "Lisbon", "+1 555 0100"} {
			if strings.Contains(msg.Text, secret) || strings.Contains(msg.Subject, secret) || strings.Contains(string(msg.Raw), secret) {
				t.Errorf("the mail %q carries %q:\n%s", msg.Subject, secret, msg.Text)
			}
		}
		if !approveLink.MatchString(msg.Text) {
			t.Fatalf("the mail %q has no approval link:\n%s", msg.Subject, msg.Text)
		}
		for _, want := range []string{"INC-4711", "\u2068Alex Agent\u2069", "\u2068" + shownName + "\u2069",
			"nina.newhire@contoso.example", "Called back the number on file",
			"until " + r.ExpiresAt.UTC().Format("2006-01-02 15:04 UTC")} {
			if !strings.Contains(msg.Text, want) {
				t.Errorf("the mail %q lacks %q:\n%s", msg.Subject, want, msg.Text)
			}
		}
		if strings.ContainsRune(msg.Text, '\u202E') || strings.ContainsRune(msg.Subject, '\u202E') {
			t.Errorf("the directory name's override reached the mail %q", msg.Subject)
		}
	}
	t.Run("approval mail", func(t *testing.T) { check(t, "Approval needed") })
	t.Run("reminder", func(t *testing.T) {
		clock.advance(ttl / 2)
		check(t, "Reminder: Approval needed")
	})

	t.Run("request page isolates names", func(t *testing.T) {
		agent := agent.with(t)
		agent.get(req).status(http.StatusOK)
		if got := agent.doc().Find(`h1 bdi[data-testid="target-name"]`).Text(); got != rtlName {
			t.Errorf("the target name in the heading is not isolated in <bdi>: %q\n%s", got, agent.body)
		}
		if got := agent.doc().Find(`dd bdi`).First().Text(); got != rtlName {
			t.Errorf("the user line does not isolate the name: %q", got)
		}
		// Signed in, approvers see the free text the mail leaves out.
		avery := d.browser(t)
		avery.signIn(req, "approver").contains(justification).contains(note)
	})
}

// Hole 8: free text with text-direction or zero-width characters is refused
// with a sentence per field, and what was typed comes back.
func TestFreeTextRefusesHiddenControls(t *testing.T) {
	d := startTestDemo(t)
	agent := d.browser(t)
	agent.signIn("/", "agent")
	nina := d.userID(t, "nina.newhire@contoso.example")

	t.Run("request form", func(t *testing.T) {
		agent := agent.with(t)
		f := validForm(csrfOf(agent), nina)
		ticket := "INC-47\u200B11"
		justification := "Locked out \u202Eenohp tsol"
		note := "Called back \u2066+1 555 0100\u2069"
		f.Set("ticket_ref", ticket)
		f.Set("justification", justification)
		f.Set("verification_note", note)
		agent.post("/requests", f).status(http.StatusUnprocessableEntity)
		for field, want := range map[string]string{"ticket_ref": "U+200B", "justification": "U+202E", "verification_note": "U+2066"} {
			if msg := agent.text(`[data-testid="error-` + field + `"]`); !strings.Contains(msg, want) || !strings.Contains(msg, "invisible") {
				t.Errorf("message next to %s is %q, want a sentence naming %s", field, msg, want)
			}
		}
		doc := agent.doc()
		if got := doc.Find(`input[name="ticket_ref"]`).AttrOr("value", ""); got != ticket {
			t.Errorf("ticket came back as %q", got)
		}
		if got := doc.Find(`textarea[name="justification"]`).Text(); got != justification {
			t.Errorf("justification came back as %q", got)
		}
		if got := doc.Find(`textarea[name="verification_note"]`).Text(); got != note {
			t.Errorf("verification note came back as %q", got)
		}
		if auditHas(t, d, "File request", "success", "") {
			t.Fatal("a request with hidden characters was filed")
		}
	})

	t.Run("denial reason", func(t *testing.T) {
		agent := agent.with(t)
		req := fileRequestFor(t, agent, "nina.newhire@contoso.example", "Lost phone, needs to re-register")
		avery := d.browser(t)
		avery.signIn(req, "approver")
		reason := "Caller \u202Edeifirev ton"
		avery.submit(`form[action$="/deny"]`, url.Values{"reason": {reason}}).status(http.StatusUnprocessableEntity)
		if msg := avery.text(`[data-testid="deny-error"]`); !strings.Contains(msg, "U+202E") {
			t.Errorf("deny error %q", msg)
		}
		if got := avery.doc().Find(`textarea[name="reason"]`).Text(); got != reason {
			t.Errorf("reason came back as %q", got)
		}
		if got := avery.text(`[data-testid="state"]`); got != "Pending" {
			t.Errorf("request is %s after a refused denial", got)
		}
	})
}
