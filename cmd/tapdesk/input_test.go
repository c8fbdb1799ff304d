package main

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/tapdesk/tapdesk/entra/fakegraph"
)

func validForm(csrf, user string) url.Values {
	return url.Values{"_csrf": {csrf}, "user": {user}, "ticket_ref": {"INC-1"},
		"justification": {"Lost phone, needs to re-register"}, "verification": {"manager"},
		"verification_note": {"Manager Kim confirmed on Teams video"}, "lifetime": {"60"}, "usable_once": {"on"}}
}

// TestBadInput: every field gets a message next to it; every ineligible
// user a plain sentence; nothing is a 500.
func TestBadInput(t *testing.T) {
	d := startTestDemoWith(t, manyActions) // files and reveals more than a person would in 10 minutes
	agent := d.browser(t)
	agent.signIn("/", "agent")
	nina := d.userID(t, "nina.newhire@contoso.example")
	csrf := csrfOf(agent)

	t.Run("form fields", func(t *testing.T) {
		agent := agent.with(t)
		cases := []struct {
			field, value, want string
		}{
			{"ticket_ref", "", "Enter the ticket"},
			{"ticket_ref", strings.Repeat("x", 65), "at most 64"},
			{"justification", "short", "at least 10"},
			{"verification", "psychic", "how you verified"},
			{"verification_note", "", "Note what you checked"},
			{"lifetime", "abc", "whole number"},
			{"lifetime", "5000", "from 60 to 480 minutes"},
			{"lifetime", "30", "from 60 to 480 minutes"},
			{"start_at", "yesterday", "date and time in UTC"},
			{"start_at", "2001-01-01T10:00", "in the past"},
		}
		for _, tc := range cases {
			t.Run(tc.field+"="+tc.value, func(t *testing.T) {
				agent := agent.with(t)
				f := validForm(csrf, nina)
				f.Set(tc.field, tc.value)
				agent.post("/requests", f).status(http.StatusUnprocessableEntity)
				if msg := agent.text(`[data-testid="error-` + tc.field + `"]`); !strings.Contains(msg, tc.want) {
					t.Errorf("message next to %s is %q, want it to say %q", tc.field, msg, tc.want)
				}
				// The rest of what was typed comes back.
				if tc.field != "verification_note" {
					agent.contains("Manager Kim confirmed on Teams video")
				}
			})
		}
	})

	t.Run("ineligible users", func(t *testing.T) {
		agent := agent.with(t)
		cases := []struct{ upn, want string }{
			{"dana.departed@contoso.example", "disabled"},
			{"jordan_partner.example#EXT#@contoso.example", "external guest"},
			{"riley.restricted@contoso.example", "outside the tenant's Temporary Access Pass policy"},
		}
		for _, tc := range cases {
			t.Run(tc.upn, func(t *testing.T) {
				agent := agent.with(t)
				id := d.userID(t, tc.upn)
				agent.get("/users/" + id).status(http.StatusOK)
				if msg := agent.text(`[data-testid="ineligible"]`); !strings.Contains(msg, tc.want) {
					t.Errorf("card says %q, want %q", msg, tc.want)
				}
				agent.post("/requests", validForm(csrf, id)).status(http.StatusUnprocessableEntity)
				if msg := agent.text(`[data-testid="error-message"]`); !strings.Contains(msg, tc.want) {
					t.Errorf("refusal says %q, want %q", msg, tc.want)
				}
			})
		}
	})

	t.Run("unknown user", func(t *testing.T) {
		agent := agent.with(t)
		agent.get("/users/00000000-0000-4000-8000-000000000000").status(http.StatusNotFound).contains("no such user")
		agent.get("/users/nobody@contoso.example").status(http.StatusNotFound)
		agent.post("/requests", validForm(csrf, "nobody@contoso.example")).status(http.StatusNotFound)
		agent.get("/users?q=zzzz").status(http.StatusOK).contains(`data-testid="search-message"`)
		agent.get("/users?q=a").status(http.StatusOK).contains("at least two characters")
	})

	t.Run("odd paths and ids", func(t *testing.T) {
		agent := agent.with(t)
		agent.get("/requests/not-an-id").status(http.StatusNotFound)
		agent.get("/requests/aaaaaaaaaaaaaaaaaaaaaaaaaa").status(http.StatusNotFound)
		agent.get("/nowhere").status(http.StatusNotFound).contains("no such page")
		agent.get("/audit/export?format=csv").status(http.StatusForbidden)
	})

	t.Run("policy turned off", func(t *testing.T) {
		agent := agent.with(t)
		pol := d.fake.Tenant().CurrentPolicy()
		off := pol
		off.State = "disabled"
		d.fake.Tenant().SetPolicy(off)
		defer d.fake.Tenant().SetPolicy(pol)
		agent.get("/users/" + nina).status(http.StatusOK).contains("policy is turned off")
		agent.post("/requests", validForm(csrf, nina)).status(http.StatusUnprocessableEntity)
	})
}

// TestDecisionsAndRevoke: deny needs a reason, cancel, revoke, and a Graph
// refusal at issue time fails the request with the reason in words.
func TestDecisionsAndRevoke(t *testing.T) {
	d := startTestDemo(t)
	agent := d.browser(t)
	agent.signIn("/", "agent")
	approver := d.browser(t)
	approver.signIn("/", "approver")

	t.Run("deny needs a reason", func(t *testing.T) {
		agent, approver := agent.with(t), approver.with(t)
		req := fileRequestFor(t, agent, "priya.patel@contoso.example", "Caller claims to be Priya from Finance")
		approver.get(req).status(http.StatusOK)
		approver.submit(`form[action$="/deny"]`, url.Values{"reason": {"   "}}).status(http.StatusUnprocessableEntity).contains("needs a reason")
		if approver.doc().Find(`[data-testid="deny-error"]`).Length() != 1 || approver.doc().Find(`form[action$="/deny"]`).Length() != 1 {
			t.Error("a refused denial does not show the form again with the sentence by it")
		}
		long := strings.Repeat("x", 2001)
		approver.submit(`form[action$="/deny"]`, url.Values{"reason": {long}}).status(http.StatusUnprocessableEntity)
		if got := approver.text(`textarea[name="reason"]`); got != long {
			t.Errorf("the typed reason was lost (%d characters kept)", len(got))
		}
		approver.get(req).submit(`form[action$="/deny"]`, url.Values{"reason": {"Callback number did not match HR"}}).status(http.StatusOK)
		if got := approver.text(`[data-testid="state"]`); got != "Denied" {
			t.Fatalf("state %q", got)
		}
		agent.get(req).contains("Callback number did not match HR")
		if agent.doc().Find(`form[action$="/reveal"]`).Length() != 0 {
			t.Fatal("a denied request offers reveal")
		}
		waitMail(t, d.capture, "alex.agent@contoso.example", "denied")
	})

	t.Run("cancel", func(t *testing.T) {
		agent, approver := agent.with(t), approver.with(t)
		req := fileRequestFor(t, agent, "grace.global@contoso.example", "Global admin lost authenticator")
		agent.submit(`form[action$="/cancel"]`, nil).status(http.StatusOK)
		if got := agent.text(`[data-testid="state"]`); got != "Cancelled" {
			t.Fatalf("state %q", got)
		}
		approver.get(req).status(http.StatusOK)
		if approver.doc().Find(`form[action$="/approve"]`).Length() != 0 {
			t.Fatal("a cancelled request can be approved")
		}
		agent.post(req+"/cancel", url.Values{"_csrf": {csrfOf(agent)}}).status(http.StatusConflict)
	})

	t.Run("graph refuses at issue", func(t *testing.T) {
		agent, approver := agent.with(t), approver.with(t)
		req := fileRequestFor(t, agent, "priya.patel@contoso.example", "Second try after verification")
		approver.get(req).submit(`form[action$="/approve"]`, nil).status(http.StatusOK)
		// The tenant's policy changed between approval and issue.
		d.fake.SetFault("POST /v1.0/users/*/authentication/temporaryAccessPassMethods", fakegraph.Fault{Status: 400,
			Code: "badRequest", Message: "Converged UserCredentialPolicy does not allow creating or updating this authentication method. AuthMethodType [TemporaryAccessPass].", Times: 1})
		agent.get(req).submit(`form[action$="/reveal"]`, nil)
		if agent.last.StatusCode >= 500 && agent.last.StatusCode != http.StatusServiceUnavailable {
			t.Fatalf("status %d", agent.last.StatusCode)
		}
		agent.contains("Temporary Access Pass policy is turned off, or this user is not in its scope")
		agent.get(req)
		if got := agent.text(`[data-testid="state"]`); got != "Failed" {
			t.Fatalf("state %q", got)
		}
		agent.contains(`data-testid="failure"`)
		mustAudit(t, d, "Issue temporary access pass", "failure", "policy")
	})

	t.Run("revoke", func(t *testing.T) {
		agent, approver := agent.with(t), approver.with(t)
		req := fileRequestFor(t, agent, "nina.newhire@contoso.example", "New starter needs a pass to onboard")
		approver.get(req).submit(`form[action$="/approve"]`, nil).status(http.StatusOK)
		agent.get(req).submit(`form[action$="/reveal"]`, nil).status(http.StatusOK)
		nina := d.userID(t, "nina.newhire@contoso.example")
		if d.fake.Tenant().CurrentTAP(nina) == nil {
			t.Fatal("no pass after reveal")
		}
		agent.get(req).submit(`form[action$="/revoke"]`, nil).status(http.StatusOK)
		if got := agent.text(`[data-testid="state"]`); got != "Revoked" {
			t.Fatalf("state %q", got)
		}
		if tap := d.fake.Tenant().CurrentTAP(nina); tap != nil {
			t.Fatalf("the pass still exists in Entra: %+v", tap)
		}
	})
}
