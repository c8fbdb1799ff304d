package main

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/tapdesk/tapdesk"
	"github.com/tapdesk/tapdesk/signin/demoidp"
	"github.com/tapdesk/tapdesk/store"
)

// noMFAAdmin is an administrator whose sign-in is without MFA.
var noMFAAdmin = demoidp.Persona{Key: "nomfaadmin", Name: "Nils Nomfa", UPN: "nils.nomfa@contoso.example",
	Email: "nils.nomfa@contoso.example", ObjectID: "11111111-1111-4111-8111-0000000000f2",
	Roles: []string{"Tap.Admin"}, NoMFA: true}

// threatModeOn reports the stored mode.
func threatModeOn(t *testing.T, d *testDemo) bool {
	t.Helper()
	m, err := d.app.db.ThreatMode(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return m.On
}

// threatSwitches are the audited switches of the mode to state.
func threatSwitches(t *testing.T, d *testDemo, state string) []tapdesk.Event {
	t.Helper()
	evs, err := d.app.db.Events(context.Background(), store.EventFilter{Activity: string(tapdesk.ActThreatModeChanged)})
	if err != nil {
		t.Fatal(err)
	}
	var out []tapdesk.Event
	for _, ev := range evs {
		if ev.Details["threat_mode"] == state {
			out = append(out, ev)
		}
	}
	return out
}

// Switching heightened-threat mode off lowers every guard at once, so it
// needs what approving needs: a stale sign-in is sent through the identity
// provider (and back to the form, the reason kept), a sign-in without MFA
// is refused; the mode stays on meanwhile and no switch is audited.
// Switching on needs neither. Each switch off raises one alert: audited,
// mailed to the security address, counted and listed for auditors.
func TestThreatModeOffNeedsFreshMFASignIn(t *testing.T) {
	clock := &testClock{now: time.Now()}
	d := startTestDemoWith(t, func(o *demoOptions) {
		o.Now, o.MetricsAddr = clock.Now, "127.0.0.1:0"
		o.Personas = append(o.Personas, noMFAAdmin)
	})
	admin := d.browser(t)
	admin.signIn("/", "admin")
	clock.advance(20 * time.Minute) // older than the approvers' 15 minutes

	t.Run("switching on needs no fresh sign-in", func(t *testing.T) {
		b := switchThreatMode(t, admin.with(t), "on", "Vishing wave against the helpdesk").status(http.StatusOK)
		if b.path() != "/admin/threat-mode" || !threatModeOn(t, d) {
			t.Fatalf("a stale admin could not switch on: on %s, mode on %v", b.path(), threatModeOn(t, d))
		}
		if note := b.text(`[data-testid="threat-off-note"]`); !strings.Contains(note, "15 minutes") || !strings.Contains(note, "multi-factor") || !strings.Contains(note, "alerted by mail") {
			t.Errorf("the page does not say what switching off takes: %q", note)
		}
	})

	const reason = "SOC says the vishing wave is over"
	t.Run("a stale sign-in is sent to sign in again", func(t *testing.T) {
		b := admin.with(t)
		switchThreatMode(t, b, "off", reason).status(http.StatusOK)
		at := b.last.Request.URL
		if !strings.HasSuffix(at.Path, "/demo/idp/authorize") || at.Query().Get("max_age") != "900" || at.Query().Get("prompt") != "login" {
			t.Fatalf("a stale switch off went to %s, want the identity provider with max_age=900 and prompt=login", at)
		}
		if !threatModeOn(t, d) || len(threatSwitches(t, d, "off")) != 0 {
			t.Fatal("a stale sign-in switched the mode off")
		}
		mustAudit(t, d, string(tapdesk.ActAccessRefused), "failure", "from the last 15 minutes")

		b.pick("admin")
		if b.path() != "/admin/threat-mode" {
			t.Fatalf("after signing in again the admin is on %s", b.path())
		}
		if f := b.text(`[data-testid="flash"]`); !strings.Contains(f, "Signed in again") {
			t.Errorf("flash %q", f)
		}
		if got := strings.TrimSpace(b.text(`textarea[name="reason"]`)); got != reason {
			t.Errorf("the reason typed before is %q in the form, want %q", got, reason)
		}
		if !threatModeOn(t, d) {
			t.Fatal("signing in again switched the mode off by itself")
		}
		b.submit(`[data-testid="threat-switch"]`, map[string][]string{"reason": {b.text(`textarea[name="reason"]`)}}).status(http.StatusOK)
		if threatModeOn(t, d) {
			t.Fatalf("a fresh MFA sign-in could not switch off:\n%s", b.body)
		}
		// The alert was raised at once and mailed (the demo sets a
		// security address): the flash says so, and no more.
		if f := b.text(`[data-testid="flash"]`); f != "Heightened-threat mode is off. The security team has been alerted by mail." {
			t.Errorf("flash %q", f)
		}
		off := threatSwitches(t, d, "off")
		if len(off) != 1 || off[0].Reason != reason || off[0].Actor.UPN != "ada.admin@contoso.example" || off[0].Details["mfa"] != "true" {
			t.Fatalf("the switch off's audit events: %+v", off)
		}
	})

	t.Run("the switch off raises one alert", func(t *testing.T) {
		m := waitMail(t, d.capture, demoSecurityEmail, "tapdesk alert: "+tapdesk.AlertThreatModeOff.Title())
		for _, w := range []string{"Ada Admin (ada.admin@contoso.example) switched heightened-threat mode off", reason,
			d.baseURL + "/audit?before=", d.baseURL + "/alerts"} {
			if !strings.Contains(m.Text, w) {
				t.Errorf("the alert mail lacks %q:\n%s", w, m.Text)
			}
		}
		if a := storedAlerts(t, d)[tapdesk.AlertThreatModeOff]; len(a) != 1 || a[0].Subject != "ada.admin@contoso.example" {
			t.Errorf("stored alerts %+v", a)
		}
		mustAudit(t, d, string(tapdesk.ActAlertRaised), "success", "")
	})

	t.Run("without MFA an admin cannot switch off", func(t *testing.T) {
		nils := d.browser(t)
		nils.signIn("/", "nomfaadmin")
		switchThreatMode(t, nils, "on", "Second vishing wave this week").status(http.StatusOK)
		if !threatModeOn(t, d) {
			t.Fatal("an admin without MFA could not switch on")
		}
		switchThreatMode(t, nils, "off", "Trying to switch it off without MFA").status(http.StatusForbidden).contains("multi-factor")
		if !threatModeOn(t, d) || len(threatSwitches(t, d, "off")) != 1 {
			t.Fatal("a sign-in without MFA switched the mode off")
		}
		mustAudit(t, d, string(tapdesk.ActAccessRefused), "failure", "without it")
	})

	t.Run("each switch off is one more alert, listed for auditors", func(t *testing.T) {
		fresh := d.browser(t)
		fresh.signIn("/", "admin")
		switchThreatMode(t, fresh, "off", "The second wave is over too").status(http.StatusOK)
		if threatModeOn(t, d) {
			t.Fatal("a fresh MFA sign-in could not switch off")
		}
		deadline := time.Now().Add(30 * time.Second)
		for len(mailsTo(d.capture, demoSecurityEmail, tapdesk.AlertThreatModeOff.Title())) < 2 && time.Now().Before(deadline) {
			time.Sleep(50 * time.Millisecond)
		}
		if n := len(mailsTo(d.capture, demoSecurityEmail, tapdesk.AlertThreatModeOff.Title())); n != 2 {
			t.Errorf("%d alert mails for two switches off, want 2", n)
		}
		if n := len(storedAlerts(t, d)[tapdesk.AlertThreatModeOff]); n != 2 {
			t.Errorf("%d alerts for two switches off, want 2", n)
		}
		_, families := scrape(t, d.metricsURL)
		if v, _ := sample(families, "tapdesk_alerts_raised_total", map[string]string{"rule": string(tapdesk.AlertThreatModeOff)}); v != 2 {
			t.Errorf("tapdesk_alerts_raised_total{rule=%q} = %v, want 2", tapdesk.AlertThreatModeOff, v)
		}
		auditor := d.browser(t)
		auditor.signIn("/alerts?rule="+string(tapdesk.AlertThreatModeOff), "auditor").status(http.StatusOK)
		rows := auditor.doc().Find(`[data-testid="alerts"] [data-testid="alert"]`)
		if rows.Length() != 2 || !strings.Contains(rows.Text(), "ada.admin@contoso.example") || !strings.Contains(rows.Text(), "The second wave is over too") {
			t.Errorf("/alerts lists %d threat-mode alerts:\n%s", rows.Length(), rows.Text())
		}
	})
}

// Without security addresses the switch off's alert is recorded, not
// mailed, and the admin is told so rather than that the team was alerted.
func TestThreatModeOffWithoutSecurityAddresses(t *testing.T) {
	d := startTestDemoWith(t, func(o *demoOptions) { o.NoSecurityEmails = true })
	admin := d.browser(t)
	admin.signIn("/", "admin")
	b := switchThreatMode(t, admin, "on", "Vishing wave against the helpdesk").status(http.StatusOK)
	if note := b.text(`[data-testid="threat-off-note"]`); !strings.Contains(note, "not mailed") || strings.Contains(note, "alerted") {
		t.Errorf("the page promises what switching off does not do: %q", note)
	}
	switchThreatMode(t, admin, "off", "The wave is over").status(http.StatusOK)
	if threatModeOn(t, d) {
		t.Fatalf("a fresh MFA sign-in could not switch off:\n%s", admin.body)
	}
	const want = "Heightened-threat mode is off. The alert is recorded but not mailed: no security addresses are set (TAPDESK_SECURITY_EMAILS)."
	if f := admin.text(`[data-testid="flash"]`); f != want {
		t.Errorf("flash %q, want %q", f, want)
	}
	if a := storedAlerts(t, d)[tapdesk.AlertThreatModeOff]; len(a) != 1 {
		t.Errorf("stored threat-mode alerts %+v, want one", a)
	}
}
