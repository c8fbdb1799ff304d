package main

import (
	"context"
	"database/sql"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/tapdesk/tapdesk"
	"github.com/tapdesk/tapdesk/entra/fakegraph"
	"github.com/tapdesk/tapdesk/store"
)

// switchThreatMode posts the admin's switch from the admin page.
func switchThreatMode(t *testing.T, admin *browser, mode, reason string) *browser {
	t.Helper()
	admin.get("/admin/threat-mode").status(http.StatusOK)
	return admin.post("/admin/threat-mode", url.Values{"_csrf": {csrfOf(admin)}, "mode": {mode}, "reason": {reason}})
}

// TestThreatMode (issue 13): an admin switches heightened-threat mode on
// with a reason (audited; nobody else can), a banner says so on every page,
// and each rule it changes holds at filing, at approval and at issue, also
// for requests filed before the switch.
func TestThreatMode(t *testing.T) {
	d := startTestDemo(t)
	pol := fakegraph.DefaultPolicy()
	pol.MinimumLifetimeInMinutes, pol.MaximumLifetimeInMinutes = 30, 480
	d.fake.Tenant().SetPolicy(pol)
	agent := d.browser(t)
	agent.signIn("/", "agent")

	// Filed before the switch: an ordinary request still pending, and a
	// privileged one approved by two.
	before := fileRequestFor(t, agent, "nina.newhire@contoso.example", "Filed before the threat switch")
	privileged := fileRequestFor(t, agent, "grace.global@contoso.example", "Global admin filed before the switch")
	for _, p := range []string{"approver", "approver2"} {
		a := d.browser(t)
		a.signIn(privileged, p).submit(`form[action$="/approve"]`, nil).status(http.StatusOK)
	}
	if s := stateOf(t, d, privileged); s != tapdesk.StateApproved {
		t.Fatalf("privileged request %s before the switch", s)
	}

	t.Run("only an admin can switch", func(t *testing.T) {
		for _, p := range []string{"agent", "approver", "auditor"} {
			b := d.browser(t)
			b.signIn("/", p)
			b.get("/admin/threat-mode").status(http.StatusForbidden)
			b.post("/admin/threat-mode", url.Values{"_csrf": {csrfOf(b)}, "mode": {"on"}, "reason": {"I am not an admin at all"}}).
				status(http.StatusForbidden)
		}
		if m, _ := d.app.db.ThreatMode(context.Background()); m.On {
			t.Fatal("a non-admin switched the mode on")
		}
	})

	admin := d.browser(t)
	admin.signIn("/", "admin")
	t.Run("a reason is required", func(t *testing.T) {
		switchThreatMode(t, admin.with(t), "on", "").status(http.StatusUnprocessableEntity).contains("Say why")
		if m, _ := d.app.db.ThreatMode(context.Background()); m.On {
			t.Fatal("switched on without a reason")
		}
	})
	const reason = "Vishing wave against the helpdesk reported by SOC"
	switchThreatMode(t, admin, "on", reason).status(http.StatusOK)
	if admin.path() != "/admin/threat-mode" || !strings.Contains(admin.text(`[data-testid="threat-state"]`), "On") {
		t.Fatalf("after switching on: %s\n%s", admin.path(), admin.text(`[data-testid="threat-state"]`))
	}
	evs, err := d.app.db.Events(context.Background(), store.EventFilter{Activity: string(tapdesk.ActThreatModeChanged)})
	if err != nil || len(evs) != 1 || evs[0].Reason != reason || evs[0].Category != tapdesk.CatSecurity ||
		evs[0].Actor.Name != "Ada Admin" || evs[0].Details["threat_mode"] != "on" {
		t.Fatalf("the switch's audit event: %+v, %v", evs, err)
	}

	t.Run("a banner on every page, for every role", func(t *testing.T) {
		for _, c := range []struct{ persona, path string }{
			{"agent", "/"}, {"agent", "/users"}, {"agent", before}, {"approver", "/"}, {"approver", before},
			{"auditor", "/"}, {"auditor", "/audit"}, {"admin", "/"}, {"admin", "/admin/threat-mode"},
		} {
			b := d.browser(t)
			b.signIn(c.path, c.persona)
			// The time is drawn, not its template's source ("@When(...)").
			if got := b.text(`[data-testid="threat-banner"]`); !strings.Contains(got, "Heightened-threat mode since ") || strings.Contains(got, "@") ||
				!b.doc().Find(`[data-testid="threat-banner"] time[datetime]`).Is("time") {
				t.Errorf("%s on %s: banner %q", c.persona, c.path, got)
			}
		}
		b := d.browser(t)
		b.signIn("/", "agent")
		b.get("/no-such-page").status(http.StatusNotFound)
		if b.doc().Find(`[data-testid="threat-banner"]`).Length() == 0 {
			t.Error("no banner on an error page")
		}
	})

	t.Run("a request filed before the switch cannot be approved on one approval", func(t *testing.T) {
		a := d.browser(t)
		a.signIn(before, "approver").submit(`form[action$="/approve"]`, nil).status(http.StatusConflict).
			contains("filed before heightened-threat mode")
		if s := stateOf(t, d, before); s != tapdesk.StatePending {
			t.Fatalf("state %s", s)
		}
		mustAudit(t, d, "Refuse decision", "failure", "filed before heightened-threat mode")
	})

	t.Run("a privileged request approved before the switch is refused at issue", func(t *testing.T) {
		creates := d.fake.CountRequests(createTAP)
		a := agent.with(t)
		a.get(privileged).submit(`form[action$="/reveal"]`, nil).status(http.StatusForbidden).contains("Heightened-threat mode is on")
		if n := d.fake.CountRequests(createTAP); n != creates {
			t.Fatalf("Graph was asked to create a pass (%d calls)", n-creates)
		}
		mustAudit(t, d, "Refuse reveal", "failure", "Heightened-threat mode is on")
	})

	t.Run("a privileged target is refused at filing", func(t *testing.T) {
		a := agent.with(t)
		a.get("/requests/new?user=" + url.QueryEscape("casey.checker@contoso.example")).status(http.StatusForbidden).
			contains("gives them no pass")
		a.post("/requests", url.Values{"_csrf": {csrfOf(a)}, "user": {"casey.checker@contoso.example"},
			"ticket_ref": {"INC-14"}, "justification": {"Approver locked out during the wave"},
			"verification": {"callback"}, "verification_note": {"Called back the number on file"}, "lifetime": {"30"}}).
			status(http.StatusForbidden).contains("gives them no pass")
		mustAudit(t, d, "Refuse request", "failure", "Heightened-threat mode is on")
	})

	t.Run("a new request needs two approvers and is one-time at the shortest lifetime", func(t *testing.T) {
		a := agent.with(t)
		a.get("/requests/new?user=" + url.QueryEscape("marco.rossi@contoso.example")).status(http.StatusOK)
		if got := a.text(`[data-testid="threat-form"]`); !strings.Contains(got, "30 minutes, one-time use") {
			t.Fatalf("the form says %q", got)
		}
		// Whatever is posted: the longest lifetime, not one-time.
		a.submit(`form[action="/requests"]`, url.Values{
			"ticket_ref": {"INC-13"}, "justification": {"Locked out during the vishing wave"},
			"verification": {"callback"}, "verification_note": {"Called back the number on file"},
			"lifetime": {"480"}, "usable_once": {""},
		}).status(http.StatusOK)
		req := a.path()
		r := storedRequest(t, d, strings.TrimPrefix(req, "/requests/"))
		if r.ApprovalsRequired != 2 || r.LifetimeMinutes != 30 || !r.UsableOnce {
			t.Fatalf("filed with %d approvals, %d minutes, once %v", r.ApprovalsRequired, r.LifetimeMinutes, r.UsableOnce)
		}
		av := d.browser(t)
		av.signIn(req, "approver").submit(`form[action$="/approve"]`, nil).status(http.StatusOK)
		if s := stateOf(t, d, req); s != tapdesk.StatePending {
			t.Fatalf("one approval of an ordinary target under the mode: %s", s)
		}
		approveAs(t, d, req, "approver2")
		a.get(req).submit(`form[action$="/reveal"]`, nil).status(http.StatusOK)
		tap := d.fake.Tenant().CurrentTAP(d.userID(t, "marco.rossi@contoso.example"))
		if tap == nil || tap.LifetimeInMinutes != 30 || !tap.IsUsableOnce {
			t.Fatalf("the pass in Entra: %+v", tap)
		}
	})

	t.Run("at issue the pass is clamped to the policy as read with the target", func(t *testing.T) {
		a := agent.with(t)
		req := fileRequestFor(t, a, "sofia.garcia@contoso.example", "Locked out during the wave, called back")
		d.browser(t).signIn(req, "approver").submit(`form[action$="/approve"]`, nil).status(http.StatusOK)
		approveAs(t, d, req, "approver2")
		// Filed at the shortest lifetime of the policy then (30); the
		// tenant's shortest is now 15, and the mode issues the shortest.
		lowered := fakegraph.DefaultPolicy()
		lowered.MinimumLifetimeInMinutes, lowered.MaximumLifetimeInMinutes = 15, 480
		d.fake.Tenant().SetPolicy(lowered)
		defer d.fake.Tenant().SetPolicy(pol)
		a.get(req).submit(`form[action$="/reveal"]`, nil).status(http.StatusOK)
		tap := d.fake.Tenant().CurrentTAP(d.userID(t, "sofia.garcia@contoso.example"))
		if tap == nil || tap.LifetimeInMinutes != 15 || !tap.IsUsableOnce {
			t.Fatalf("the pass in Entra: %+v", tap)
		}
	})

	t.Run("switching off is audited too", func(t *testing.T) {
		switchThreatMode(t, admin.with(t), "off", "SOC says the wave is over").status(http.StatusOK)
		b := d.browser(t)
		b.signIn("/", "agent")
		if b.doc().Find(`[data-testid="threat-banner"]`).Length() != 0 {
			t.Error("banner still shown after switching off")
		}
		mustAudit(t, d, string(tapdesk.ActThreatModeChanged), "success", "SOC says the wave is over")
	})
}

// TestThreatModeForcedBySetting: TAPDESK_THREAT_MODE switches the mode on
// at start (audited), the banner and admin page say the setting holds it,
// and the portal cannot switch it off.
func TestThreatModeForcedBySetting(t *testing.T) {
	d := startTestDemoWith(t, func(o *demoOptions) { o.ThreatMode = true })
	admin := d.browser(t)
	admin.signIn("/admin/threat-mode", "admin").status(http.StatusOK)
	if got := admin.text(`[data-testid="threat-banner"]`); !strings.Contains(got, tapdesk.ThreatModeSetting) {
		t.Errorf("banner %q does not name the setting", got)
	}
	if admin.doc().Find(`[data-testid="threat-forced"]`).Length() == 0 || admin.doc().Find(`[data-testid="threat-switch"]`).Length() != 0 {
		t.Error("the admin page offers to switch a forced mode off")
	}
	// Removing the setting alone leaves the stored mode on: the page says
	// so, and what switching off takes then.
	if got := admin.text(`[data-testid="threat-forced"]`); !strings.Contains(got, "cannot be switched off here") ||
		!strings.Contains(got, "restart") || !strings.Contains(got, "stays on until an administrator switches it off") {
		t.Errorf("the forced note %q does not say how the mode goes off", got)
	}
	admin.post("/admin/threat-mode", url.Values{"_csrf": {csrfOf(admin)}, "mode": {"off"}, "reason": {"Trying to switch it off anyway"}}).
		status(http.StatusConflict).contains(tapdesk.ThreatModeSetting)
	if m, err := d.app.db.ThreatMode(context.Background()); err != nil || !m.On {
		t.Fatalf("stored mode %+v, %v", m, err)
	}
	mustAudit(t, d, string(tapdesk.ActThreatModeChanged), "success", tapdesk.ThreatModeSetting)
}

// TestThreatModeSwitchedOffInTheDatabase performs an insider's shortcut:
// with write access to the database, switch heightened-threat mode off in
// its row, skipping the fresh MFA sign-in, the audit event and the alert.
// The row no longer decides alone: tapdesk holds the mode on while the
// audit trail's last signed switch says on, says so on every page, keeps
// every guard, records the tampering and alerts on it; an admin's switch
// off through the portal then records what the row says.
func TestThreatModeSwitchedOffInTheDatabase(t *testing.T) {
	d, admin, _ := threatOnThenTampered(t, `UPDATE threat_mode SET switched_on = 0 WHERE id = 1`)

	agent := d.browser(t)
	agent.signIn("/", "agent")
	// The next write through tapdesk has the mode read again (until then
	// the mode read before the row changed, on, stands).
	fileRequestFor(t, agent, "marco.rossi@contoso.example", "Locked out during the vishing wave")
	agent.get("/")
	if got := agent.text(`[data-testid="threat-banner"]`); !strings.Contains(got, "Heightened-threat mode since") || !strings.Contains(got, "held on") {
		t.Fatalf("after the row was switched off: banner %q", got)
	}
	agent.get("/requests/new?user=" + url.QueryEscape("casey.checker@contoso.example")).status(http.StatusForbidden).
		contains("gives them no pass")

	ctx := context.Background()
	d.app.sweepOnce(ctx, nil)
	mustAudit(t, d, string(tapdesk.ActTamperDetected), "failure", "the stored heightened-threat mode says off")
	l, err := d.app.db.Alerts(ctx, tapdesk.AlertAuditFailure, 0, 10)
	if err != nil || len(l) == 0 {
		t.Fatalf("no audit_failure alert for the switched row (%v)", err)
	}
	d.app.sweepOnce(ctx, nil) // the finding lasts: recorded once
	if evs, err := d.app.db.Events(ctx, store.EventFilter{Activity: string(tapdesk.ActTamperDetected)}); err != nil || len(evs) != 1 {
		t.Errorf("%d tamper events after two sweeps (%v), want 1", len(evs), err)
	}

	switchThreatMode(t, admin, "off", "SOC says the wave is over").status(http.StatusOK)
	if threatModeOn(t, d) || len(threatSwitches(t, d, "off")) != 1 {
		t.Fatalf("switching off the held mode: on %v, %d switches off", threatModeOn(t, d), len(threatSwitches(t, d, "off")))
	}
}

// threatOnThenTampered starts a demo whose admin switches heightened-threat
// mode on through the portal, then runs tamper on its database directly,
// as someone with write access to it would. raw stays open for the test.
func threatOnThenTampered(t *testing.T, tamper string) (*testDemo, *browser, *sql.DB) {
	t.Helper()
	d := startTestDemo(t)
	admin := d.browser(t)
	admin.signIn("/", "admin")
	switchThreatMode(t, admin, "on", "Vishing wave against the helpdesk").status(http.StatusOK)
	raw := openRaw(t, d.dbPath)
	write(t, raw, tamper)
	return d, admin, raw
}

// TestThreatModeRowDeleted: the mode's row deleted in the database holds
// the mode on (pages keep working, with the banner saying why), the sweep
// records it as tampering, and the admin's switch puts the row back.
func TestThreatModeRowDeleted(t *testing.T) {
	d, admin, raw := threatOnThenTampered(t, `DELETE FROM threat_mode`)

	agent := d.browser(t)
	agent.signIn("/", "agent")
	fileRequestFor(t, agent, "marco.rossi@contoso.example", "Locked out during the vishing wave")
	agent.get("/").status(http.StatusOK)
	if got := agent.text(`[data-testid="threat-banner"]`); !strings.Contains(got, "held on") {
		t.Fatalf("after the row was deleted: banner %q", got)
	}
	admin.get("/admin/threat-mode").status(http.StatusOK)
	if got := admin.text(`[data-testid="threat-state"]`); !strings.Contains(got, "On") || !strings.Contains(got, "Vishing wave against the helpdesk") {
		t.Errorf("the admin's page while held: %q", got)
	}
	d.app.sweepOnce(context.Background(), nil)
	mustAudit(t, d, string(tapdesk.ActTamperDetected), "failure", "missing from the database")

	switchThreatMode(t, admin, "off", "SOC says the wave is over").status(http.StatusOK)
	if threatModeOn(t, d) {
		t.Fatal("still on after the admin switched it off")
	}
	var n int
	if err := raw.QueryRow(`SELECT COUNT(*) FROM threat_mode WHERE switched_on = 0`).Scan(&n); err != nil || n != 1 {
		t.Fatalf("the row put back: %d rows off (%v)", n, err)
	}
}

// TestThreatModeUnreadable: while the mode cannot be read (here its table
// is gone), pages keep working and their banner says so, never that the
// mode is off; filing and approving refuse with a sentence (503) until it
// can be read, and cancelling still works. The dashboard showing that
// banner is not kept: once the mode reads again, with nothing written in
// between, the banner goes.
func TestThreatModeUnreadable(t *testing.T) {
	d := startTestDemo(t)
	agent := d.browser(t)
	agent.signIn("/", "agent")
	first := fileRequestFor(t, agent, "marco.rossi@contoso.example", "Locked out after a phone swap")
	second := fileRequestFor(t, agent, "nina.newhire@contoso.example", "New starter, first day, no methods yet")
	third := fileRequestFor(t, agent, "sofia.garcia@contoso.example", "Phone lost on a trip")
	fourth := fileRequestFor(t, agent, "chen.wei@contoso.example", "Authenticator reset after a new phone")
	approver := d.browser(t)
	approver.signIn(fourth, "approver").submit(`form[action$="/approve"]`, nil).status(http.StatusOK)
	approver.get(third)
	// The same agent in another tab, with a request form open.
	tab := d.browser(t)
	tab.signIn("/", "agent")
	tab.get("/users?q=omar").status(http.StatusOK)
	card, _ := tab.doc().Find(`[data-testid="results"] li a`).Attr("href")
	newHref, ok := tab.get(card).doc().Find(`[data-testid="new-request"]`).Attr("href")
	if !ok {
		t.Fatalf("no request form offered:\n%s", tab.body)
	}
	tab.get(newHref).status(http.StatusOK)

	raw := openRaw(t, d.dbPath)
	write(t, raw, `ALTER TABLE threat_mode RENAME TO threat_mode_moved`)

	// A write through tapdesk, so the mode is read again rather than kept.
	agent.get(first).submit(`form[action$="/cancel"]`, nil).status(http.StatusOK)
	for range 2 { // the second load would be the kept page, were it kept
		agent.get("/").status(http.StatusOK)
		if got := agent.text(`[data-testid="threat-unread"]`); got != tapdesk.ThreatModeUnreadSentence {
			t.Fatalf("banner while the mode is unreadable: %q\n%s", got, agent.body)
		}
		if agent.doc().Find(`[data-testid="threat-banner"]`).Length() != 0 {
			t.Fatal("the banner says the mode is on; nobody knows")
		}
	}

	before := requestCount(t, raw)
	tab.submit(`form[action="/requests"]`, url.Values{
		"ticket_ref": {"INC-4712"}, "justification": {"Locked out, new phone"},
		"verification": {"callback"}, "verification_note": {"Called back +1 555 0100 from HR record"},
		"lifetime": {"60"}, "usable_once": {"on"},
	}).status(http.StatusServiceUnavailable)
	if !strings.Contains(tab.body, tapdesk.ThreatModeUnreadSentence) {
		t.Errorf("the filing's refusal does not say why:\n%s", tab.body)
	}
	if n := requestCount(t, raw); n != before {
		t.Fatalf("%d requests after a refused filing, %d before", n, before)
	}
	tab.get(newHref).status(http.StatusServiceUnavailable)
	approver.submit(`form[action$="/approve"]`, nil).status(http.StatusServiceUnavailable)
	if !strings.Contains(approver.body, tapdesk.ThreatModeUnreadSentence) {
		t.Errorf("the approval's refusal does not say why:\n%s", approver.body)
	}
	var approved int
	if err := raw.QueryRow(`SELECT COUNT(*) FROM approvals`).Scan(&approved); err != nil || approved != 1 {
		t.Fatalf("%d approvals, want the one made before the mode was unreadable (%v)", approved, err)
	}
	// Issuing refuses too: no pass asked of Graph, the request not spent.
	creates := d.fake.CountRequests(createTAP)
	agent.get(fourth).submit(`form[action$="/reveal"]`, nil).status(http.StatusServiceUnavailable)
	if !strings.Contains(agent.body, tapdesk.ThreatModeUnreadSentence) || agent.doc().Find(`[data-testid="pass"]`).Length() != 0 {
		t.Fatalf("the issue's refusal:\n%s", agent.body)
	}
	if n := d.fake.CountRequests(createTAP); n != creates {
		t.Fatalf("Graph was asked to create %d pass(es) while the mode was unreadable", n-creates)
	}
	var claimed bool
	if err := raw.QueryRow(`SELECT issue_claimed_at IS NOT NULL FROM requests WHERE id = ?`, strings.TrimPrefix(fourth, "/requests/")).Scan(&claimed); err != nil || claimed {
		t.Fatalf("the refused request is claimed: %v %v", claimed, err)
	}
	agent.get(second).submit(`form[action$="/cancel"]`, nil).status(http.StatusOK)
	agent.get("/").status(http.StatusOK) // the lists after the cancel

	// Readable again, nothing written since: the dashboard is the same
	// lists, and its banner must not be the one kept from before.
	write(t, raw, `ALTER TABLE threat_mode_moved RENAME TO threat_mode`)
	agent.get("/").status(http.StatusOK)
	if n := agent.doc().Find(`[data-testid="threat-unread"], [data-testid="threat-banner"]`).Length(); n != 0 {
		t.Fatalf("a banner after the mode reads again (off):\n%s", agent.body)
	}
	if !strings.Contains(d.logs.String(), "heightened-threat mode unreadable") {
		t.Error("the database's error was not logged")
	}
	// And the approved request issues now.
	agent.get(fourth).submit(`form[action$="/reveal"]`, nil).status(http.StatusOK)
	if agent.doc().Find(`[data-testid="pass"]`).Length() != 1 {
		t.Fatalf("no pass once the mode reads again:\n%s", agent.body)
	}
}

// TestThreatModeUnreadableWhileForced: with TAPDESK_THREAT_MODE forcing
// the mode on, a stored mode that cannot be read changes nothing: the mode
// is on whatever the row holds, so the banner says forced and steps act
// under the forced mode (two approvers) instead of refusing as if nobody
// knew it. Before, the banner said forced while every step refused with
// "could not be read".
func TestThreatModeUnreadableWhileForced(t *testing.T) {
	d := startTestDemoWith(t, func(o *demoOptions) { o.ThreatMode = true })
	agent := d.browser(t)
	agent.signIn("/", "agent")
	first := fileRequestFor(t, agent, "marco.rossi@contoso.example", "Locked out after a phone swap")
	second := fileRequestFor(t, agent, "nina.newhire@contoso.example", "New starter, first day, no methods yet")
	raw := openRaw(t, d.dbPath)
	write(t, raw, `ALTER TABLE threat_mode RENAME TO threat_mode_moved`)
	// A write through tapdesk, so the mode is read again rather than kept.
	agent.get(first).submit(`form[action$="/cancel"]`, nil).status(http.StatusOK)

	agent.get("/").status(http.StatusOK)
	if got := agent.text(`[data-testid="threat-banner"]`); !strings.Contains(got, tapdesk.ThreatModeSetting) {
		t.Fatalf("banner %q does not say the setting holds the mode on\n%s", got, agent.body)
	}
	if agent.doc().Find(`[data-testid="threat-unread"]`).Length() != 0 {
		t.Fatal("the page says the mode could not be read; the setting holds it on")
	}
	third := fileRequestFor(t, agent, "sofia.garcia@contoso.example", "Phone lost on a trip")
	var required int
	if err := raw.QueryRow(`SELECT approvals_required FROM requests WHERE id = ?`, strings.TrimPrefix(third, "/requests/")).Scan(&required); err != nil || required != tapdesk.ThreatApprovals {
		t.Fatalf("filed under the forced mode needing %d approvers (%v), want %d", required, err, tapdesk.ThreatApprovals)
	}
	for _, who := range []string{"approver", "approver2"} {
		b := d.browser(t)
		b.signIn(second, who).submit(`form[action$="/approve"]`, nil).status(http.StatusOK)
	}
	var approved int
	if err := raw.QueryRow(`SELECT COUNT(*) FROM approvals WHERE request_id = ?`, strings.TrimPrefix(second, "/requests/")).Scan(&approved); err != nil || approved != 2 {
		t.Fatalf("%d approvals of the request (%v), want 2", approved, err)
	}
	agent.get(second).submit(`form[action$="/reveal"]`, nil).status(http.StatusOK)
	if agent.doc().Find(`[data-testid="pass"]`).Length() != 1 {
		t.Fatalf("no pass under the forced mode:\n%s", agent.body)
	}
	if !strings.Contains(d.logs.String(), "heightened-threat mode unreadable") {
		t.Error("the database's error was not logged")
	}
	// The admin's page says what the banner cannot: the stored mode is
	// not known.
	admin := d.browser(t)
	admin.signIn("/admin/threat-mode", "admin").status(http.StatusOK)
	if got := admin.text(`[data-testid="threat-stored-unread"]`); got != tapdesk.ThreatModeStoredUnreadSentence {
		t.Errorf("admin page while the stored mode is unreadable: %q\n%s", got, admin.body)
	}
	write(t, raw, `ALTER TABLE threat_mode_moved RENAME TO threat_mode`)
	agent.get(third).submit(`form[action$="/cancel"]`, nil).status(http.StatusOK) // a write: the mode is read again
	admin.get("/admin/threat-mode").status(http.StatusOK)
	if admin.doc().Find(`[data-testid="threat-stored-unread"]`).Length() != 0 || admin.doc().Find(`[data-testid="threat-forced"]`).Length() != 1 {
		t.Errorf("admin page once the stored mode reads again:\n%s", admin.body)
	}
}

func requestCount(t *testing.T, raw *sql.DB) int {
	t.Helper()
	var n int
	if err := raw.QueryRow(`SELECT COUNT(*) FROM requests`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}
