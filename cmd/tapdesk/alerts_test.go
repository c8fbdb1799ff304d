package main

import (
	"context"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tapdesk/tapdesk"
	"github.com/tapdesk/tapdesk/internal/pgtest"
	"github.com/tapdesk/tapdesk/store"
)

// notToday are working hours on a weekday other than today's, so
// everything the test files is out of hours.
func notToday(t *testing.T) tapdesk.WorkingHours {
	t.Helper()
	day := time.Now().UTC().Add(72 * time.Hour).Weekday().String()[:3]
	h, err := tapdesk.ParseWorkingHours(day + " 08:00-18:00 UTC")
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func alertDemo(t *testing.T, dbPath string, hours tapdesk.WorkingHours) *testDemo {
	return startTestDemoWith(t, func(o *demoOptions) {
		o.DBPath, o.SweepInterval, o.MetricsAddr = dbPath, 100*time.Millisecond, "127.0.0.1:0"
		o.WorkingHours = hours
		o.AlertThresholds = tapdesk.AlertThresholds{FilingsPerHour: 2, PairDecisionsPerWeek: 2}
	})
}

func storedAlerts(t *testing.T, d *testDemo) map[tapdesk.AlertRule][]tapdesk.Alert {
	t.Helper()
	list, err := d.app.db.Alerts(context.Background(), "", 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	out := map[tapdesk.AlertRule][]tapdesk.Alert{}
	for _, a := range list {
		out[a.Rule] = append(out[a.Rule], a)
	}
	return out
}

// Each alert rule fires once through the real demo: what people do in the
// portal (filings, approvals, a dispute, heightened-threat mode switched
// off) and what other parts write to the trail (an outside pass, a failed
// verify). Each alert is stored, audited, mailed to the security address
// (the dispute's own mail stands for its alert), counted by rule, listed
// for auditors and hidden from agents; it does not fire again on later
// sweeps or after a restart.
func TestAlertRulesFireOnce(t *testing.T) {
	pgtest.Backends(t, func(t *testing.T) {
		dbPath := filepath.Join(t.TempDir(), "tapdesk.db")
		if pgtest.OnPostgres(t) {
			dbPath = pgtest.URL(t)
		}
		hours := notToday(t)
		var raised map[tapdesk.AlertRule][]tapdesk.Alert
		t.Run("raised", func(t *testing.T) {
			d := alertDemo(t, dbPath, hours)
			ctx := context.Background()
			agent := d.browser(t)
			agent.signIn("/", "agent")
			// Alex files four requests (above 2 an hour), one of them for
			// a privileged target, all out of hours; Sam files one.
			nina := fileWithExtras(t, agent, d, "nina.newhire@contoso.example", "Caller says she lost her phone", nil)
			marco := fileRequestFor(t, agent, "marco.rossi@contoso.example", "New phone, old one broken")
			chen := fileRequestFor(t, agent, "chen.wei@contoso.example", "Locked out after a reset")
			fileRequestFor(t, agent, "grace.global@contoso.example", "Locked out at night")
			sam := d.browser(t)
			sam.signIn("/", "agent2")
			fileRequestFor(t, sam, "omar.haddad@contoso.example", "Lost phone on the train")
			// Avery decides three of Alex's requests (above 2 a week).
			for _, r := range []string{nina, marco, chen} {
				approveAs(t, d, r, "approver")
			}
			// Nina says it was not her.
			link := disputeLink.FindString(waitMail(t, d.capture, "nina.newhire@contoso.example", requestedSubject).Text)
			d.browser(t).get(link).submit(`form[action^="/dispute/"]`, nil).status(http.StatusOK)
			// The pass made outside tapdesk is the sample tenant's own
			// (Nina's, made by Grace Global in the admin center), found by
			// the outside-pass job; a failed verify is written here.
			for _, ev := range []tapdesk.Event{
				{Activity: tapdesk.ActAuditVerified, Category: tapdesk.CatAudit, Result: tapdesk.ResultFailure,
					Actor: tapdesk.Actor{UPN: "audrey.auditor@contoso.example", Name: "Audrey Auditor"}, Reason: "event 12 does not check out"},
				// The outside-pass job after five sweeps without the audit
				// log (TestOutsideScanFailingDegradesAndAlertsOnce makes it).
				{Activity: tapdesk.ActOutsideScanFailing, Category: tapdesk.CatSecurity, Result: tapdesk.ResultFailure, Actor: tapdesk.SystemActor,
					Reason:  tapdesk.OutsideScanFailing(5, time.Now(), "Graph refused it (403 Authorization_RequestDenied): grant the Graph app the application permission AuditLog.Read.All (admin consent)."),
					Details: map[string]string{"read_up_to": "2026-11-29T08:00:00Z"}},
			} {
				if err := d.app.db.AppendEvent(ctx, ev); err != nil {
					t.Fatal(err)
				}
			}
			// Ada switches heightened-threat mode on and off again.
			admin := d.browser(t)
			admin.signIn("/", "admin")
			switchThreatMode(t, admin, "on", "Vishing wave against the helpdesk").status(http.StatusOK)
			switchThreatMode(t, admin, "off", "False alarm, the SOC says").status(http.StatusOK)

			want := map[tapdesk.AlertRule][]string{
				tapdesk.AlertFilingBurst:          {"Alex Agent (alex.agent@contoso.example) filed 3 requests within one hour", d.baseURL + "/audit?"},
				tapdesk.AlertPairDecisions:        {"Avery Approver (avery.approver@contoso.example) decided 3 requests filed by Alex Agent", d.baseURL + "/audit?"},
				tapdesk.AlertPrivilegedOutOfHours: {"privileged target grace.global@contoso.example", "outside the working hours", d.baseURL + "/requests/"},
				tapdesk.AlertOutsidePass:          {"nina.newhire@contoso.example", "Grace Global", "created outside tapdesk", d.baseURL + "/audit?before="},
				tapdesk.AlertAuditFailure:         {"event 12 does not check out", "Audrey Auditor", d.baseURL + "/audit?before="},
				tapdesk.AlertThreatModeOff:        {"Ada Admin (ada.admin@contoso.example) switched heightened-threat mode off", "False alarm", d.baseURL + "/audit?before="},
				tapdesk.AlertOutsideScanFailing:   {"not being looked for", "AuditLog.Read.All", d.baseURL + "/audit?before="},
			}
			for rule, words := range want {
				m := waitMail(t, d.capture, demoSecurityEmail, "tapdesk alert: "+rule.Title())
				for _, w := range append(words, d.baseURL+"/alerts") {
					if !strings.Contains(m.Text, w) {
						t.Errorf("%s mail lacks %q:\n%s", rule, w, m.Text)
					}
				}
			}
			deadline := time.Now().Add(30 * time.Second)
			for len(storedAlerts(t, d)[tapdesk.AlertDispute]) == 0 && time.Now().Before(deadline) {
				time.Sleep(50 * time.Millisecond)
			}
			// Later sweeps find nothing new.
			time.Sleep(600 * time.Millisecond)
			raised = storedAlerts(t, d)
			for _, rule := range tapdesk.AlertRules() {
				if len(raised[rule]) != 1 {
					t.Errorf("%s: %d alerts, want 1: %+v", rule, len(raised[rule]), raised[rule])
				}
			}
			if len(raised) != len(tapdesk.AlertRules()) {
				t.Errorf("alerts of %d rules, want %d: %+v", len(raised), len(tapdesk.AlertRules()), raised)
			}
			for _, a := range raised[tapdesk.AlertFilingBurst] {
				if a.Subject != "alex.agent@contoso.example" {
					t.Errorf("the burst is Sam's too or not Alex's: %+v", a)
				}
			}
			if n, _ := d.app.db.CountEvents(ctx, store.EventFilter{Activity: string(tapdesk.ActAlertRaised)}, 100); n != len(tapdesk.AlertRules()) {
				t.Errorf("%d %q events, want %d", n, tapdesk.ActAlertRaised, len(tapdesk.AlertRules()))
			}
			// The dispute's own mail is the security team's one mail about it.
			if a := raised[tapdesk.AlertDispute]; len(a) == 1 && a[0].Mail != tapdesk.AlertMailByDispute {
				t.Errorf("dispute alert mail %q", a[0].Mail)
			}
			if n := len(mailsTo(d.capture, demoSecurityEmail, "Disputed")); n != 1 {
				t.Errorf("%d dispute mails to security, want 1", n)
			}
			if n := len(mailsTo(d.capture, demoSecurityEmail, "tapdesk alert: ")); n != len(want) {
				t.Errorf("%d alert mails to security, want %d", n, len(want))
			}

			_, families := scrape(t, d.metricsURL)
			for _, rule := range tapdesk.AlertRules() {
				if v, ok := sample(families, "tapdesk_alerts_raised_total", map[string]string{"rule": string(rule)}); !ok || v != 1 {
					t.Errorf("tapdesk_alerts_raised_total{rule=%q} = %v (found %v), want 1", rule, v, ok)
				}
			}

			t.Run("auditors see them", func(t *testing.T) {
				auditor := d.browser(t)
				auditor.signIn("/", "auditor")
				if n := auditor.doc().Find(`[data-testid="section-alerts"] [data-testid="alert"]`).Length(); n != tapdesk.DashboardAlerts {
					t.Errorf("the dashboard lists %d alerts, want the latest %d", n, tapdesk.DashboardAlerts)
				}
				auditor.get("/alerts").status(http.StatusOK)
				rows := auditor.doc().Find(`[data-testid="alerts"] [data-testid="alert"]`)
				if rows.Length() != len(tapdesk.AlertRules()) {
					t.Errorf("/alerts lists %d alerts, want %d", rows.Length(), len(tapdesk.AlertRules()))
				}
				if !strings.Contains(rows.Text(), "grace.global@contoso.example") || !strings.Contains(rows.Text(), tapdesk.AlertPrivilegedOutOfHours.Title()) {
					t.Errorf("/alerts does not say what happened:\n%s", rows.Text())
				}
				auditor.get("/alerts?rule=outside_pass").status(http.StatusOK)
				if n := auditor.doc().Find(`[data-testid="alert"]`).Length(); n != 1 {
					t.Errorf("filtered by rule: %d alerts, want 1", n)
				}
				href, _ := auditor.doc().Find(`[data-rule="privileged_out_of_hours"] [data-testid="alert-evidence"]`).Attr("href")
				auditor.get(href).status(http.StatusOK).contains("grace.global@contoso.example")
				auditor.get("/alerts?rule=nonsense").status(http.StatusUnprocessableEntity).contains(`data-testid="alerts-error"`)
				auditor.get("/alerts?before=x").status(http.StatusOK).contains(`data-testid="alerts-error"`)
			})
			t.Run("agents do not", func(t *testing.T) {
				agent := agent.with(t)
				agent.get("/").status(http.StatusOK)
				if agent.doc().Find(`[data-testid="section-alerts"]`).Length() != 0 {
					t.Error("the agent's dashboard shows alerts")
				}
				agent.get("/alerts").status(http.StatusForbidden)
			})
		})
		t.Run("not again after a restart", func(t *testing.T) {
			d := alertDemo(t, dbPath, hours)
			time.Sleep(400 * time.Millisecond)
			after := storedAlerts(t, d)
			for _, rule := range tapdesk.AlertRules() {
				if len(after[rule]) != len(raised[rule]) {
					t.Errorf("%s: %d alerts after the restart, %d before", rule, len(after[rule]), len(raised[rule]))
				}
			}
			_, families := scrape(t, d.metricsURL)
			for _, rule := range tapdesk.AlertRules() {
				if v, _ := sample(families, "tapdesk_alerts_raised_total", map[string]string{"rule": string(rule)}); v != 0 {
					t.Errorf("after the restart tapdesk_alerts_raised_total{rule=%q} = %v, want 0", rule, v)
				}
			}
		})
	})
}

// Below the thresholds, and in working hours, nothing is raised.
func TestAlertsBelowThresholdsStayQuiet(t *testing.T) {
	d := startTestDemoWith(t, func(o *demoOptions) {
		o.SweepInterval = 100 * time.Millisecond
		o.WorkingHours, _ = tapdesk.ParseWorkingHours("Mon-Sun 00:00-23:59 UTC")
		o.AlertThresholds = tapdesk.AlertThresholds{FilingsPerHour: 3, PairDecisionsPerWeek: 2}
	})
	agent := d.browser(t)
	agent.signIn("/", "agent")
	// Three filings by Alex (not above 3), one for a privileged target, in hours.
	var filed []string
	for _, upn := range []string{"nina.newhire@contoso.example", "marco.rossi@contoso.example", "grace.global@contoso.example"} {
		filed = append(filed, fileRequestFor(t, agent, upn, "Locked out after a reset"))
	}
	// Avery decides two of Alex's requests (not above 2) and one of Sam's.
	approveAs(t, d, filed[0], "approver")
	approveAs(t, d, filed[1], "approver")
	sam := d.browser(t)
	sam.signIn("/", "agent2")
	approveAs(t, d, fileRequestFor(t, sam, "chen.wei@contoso.example", "Locked out after a reset"), "approver")
	waitMail(t, d.capture, "alex.agent", "Request approved")
	time.Sleep(600 * time.Millisecond)
	// The sample tenant holds one pass made outside tapdesk (Nina's): its
	// alert is the only one.
	got := storedAlerts(t, d)
	if o := got[tapdesk.AlertOutsidePass]; len(o) == 1 && o[0].Subject == "nina.newhire@contoso.example" {
		delete(got, tapdesk.AlertOutsidePass)
	}
	if len(got) != 0 {
		t.Errorf("alerts below the thresholds: %+v", got)
	}
	auditor := d.browser(t)
	auditor.signIn("/", "auditor")
	if n := auditor.doc().Find(`[data-testid="section-alerts"] [data-testid="alert"]`).Length(); n != 1 {
		t.Errorf("the dashboard lists %d alerts, want the sample tenant's outside pass only", n)
	}
	if n := len(mailsTo(d.capture, demoSecurityEmail, "tapdesk alert: ")); n != 1 {
		t.Errorf("%d alert mails, want the sample tenant's outside pass only", n)
	}
}
