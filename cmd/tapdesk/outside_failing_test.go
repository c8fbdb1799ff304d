package main

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/tapdesk/tapdesk"
	"github.com/tapdesk/tapdesk/entra/fakegraph"
	"github.com/tapdesk/tapdesk/internal/pgtest"
	"github.com/tapdesk/tapdesk/store"
)

// readyLine is the line of /readyz's text answer that names dependency.
func readyLine(t *testing.T, d *testDemo, dependency string) (status int, line, body string) {
	t.Helper()
	status, body = readyz(t, d, "")
	for _, l := range strings.Split(body, "\n") {
		if strings.HasPrefix(l, dependency+": ") {
			return status, l, body
		}
	}
	t.Fatalf("/readyz has no %q line:\n%s", dependency, body)
	return
}

// scanFailingAlerts are the alerts raised for the outside-pass job failing.
func scanFailingAlerts(t *testing.T, d *testDemo) []tapdesk.Alert {
	t.Helper()
	as, err := d.app.db.Alerts(context.Background(), tapdesk.AlertOutsideScanFailing, 0, 10)
	if err != nil {
		t.Fatal(err)
	}
	return as
}

// Entra's directory audit log cannot be read (the Graph app lacks
// AuditLog.Read.All: the fake answers Graph's own 403). For a few sweeps
// that is a note on /readyz; at tapdesk.OutsideScanFailingRuns in a row
// the /readyz line is degraded and names the permission while the instance
// stays ready, one audit event records it, and one alert is raised, mailed
// to the security team and listed on /alerts, however many more sweeps
// fail. Once the permission is back, the line is fine again, and a new
// failing streak raises a new alert.
func TestOutsideScanFailingDegradesAndAlertsOnce(t *testing.T) {
	pgtest.Backends(t, func(t *testing.T) {
		d := startTestDemoWith(t, func(o *demoOptions) {
			quietSweeps(o)
			o.ReadyCacheOK, o.ReadyCacheFailed = time.Millisecond, time.Millisecond
		})
		ctx := context.Background()
		if status, line, body := readyLine(t, d, "entra audit log"); status != http.StatusOK || !strings.HasPrefix(line, "entra audit log: ok (read at ") {
			t.Fatalf("before: %d %q\n%s", status, line, body)
		}

		d.fake.Tenant().RevokePermission("AuditLog.Read.All")
		for i := 1; i < tapdesk.OutsideScanFailingRuns; i++ {
			d.app.sweepOnce(ctx, nil)
		}
		status, line, body := readyLine(t, d, "entra audit log")
		if status != http.StatusOK || !strings.HasPrefix(line, "entra audit log: ok (the last 4 runs could not read it") ||
			!strings.Contains(line, "AuditLog.Read.All") {
			t.Errorf("after %d failed sweeps: %d %q\n%s", tapdesk.OutsideScanFailingRuns-1, status, line, body)
		}
		if evs := outsideEvents(t, d, tapdesk.ActOutsideScanFailing, ""); len(evs) != 0 {
			t.Errorf("recorded as failing after %d sweeps: %+v", tapdesk.OutsideScanFailingRuns-1, evs)
		}

		d.app.sweepOnce(ctx, nil)
		status, line, body = readyLine(t, d, "entra audit log")
		want := "entra audit log: degraded: not read in 5 sweeps since "
		if status != http.StatusOK || !strings.HasPrefix(body, "ready\n") || !strings.HasPrefix(line, want) ||
			!strings.Contains(line, "Graph refused it (403 Authorization_RequestDenied): grant the Graph app the application permission AuditLog.Read.All (admin consent).") {
			t.Errorf("failing: %d %q, want 200, ready, and a line starting %q naming the permission\n%s", status, line, want, body)
		}
		_, js := readyz(t, d, "application/json")
		var r struct {
			Ready  bool
			Checks []struct {
				Name     string
				OK       bool
				Degraded bool
			}
		}
		if err := json.Unmarshal([]byte(js), &r); err != nil || !r.Ready {
			t.Fatalf("JSON %v: %s", err, js)
		}
		for _, c := range r.Checks {
			if c.Name == "entra audit log" && (c.OK || !c.Degraded) {
				t.Errorf("JSON line %+v, want degraded", c)
			}
		}
		if !strings.Contains(d.logs.String(), "passes made outside tapdesk are not being looked for") {
			t.Error("the log does not say passes made outside go unseen")
		}

		// More failed sweeps change nothing: one event, one alert, one mail.
		d.app.sweepOnce(ctx, nil)
		d.app.sweepOnce(ctx, nil)
		evs := outsideEvents(t, d, tapdesk.ActOutsideScanFailing, "")
		if len(evs) != 1 || evs[0].Result != tapdesk.ResultFailure || evs[0].Actor != tapdesk.SystemActor ||
			!strings.Contains(evs[0].Reason, "Passes made outside tapdesk are not being looked for") || !strings.Contains(evs[0].Reason, "AuditLog.Read.All") ||
			evs[0].Details["graph_status"] != "403" || evs[0].Details["read_up_to"] == "" {
			t.Fatalf("failing events: %+v", evs)
		}
		alerts := scanFailingAlerts(t, d)
		if len(alerts) != 1 || !strings.Contains(alerts[0].Summary, "AuditLog.Read.All") {
			t.Fatalf("alerts: %+v", alerts)
		}
		raised, err := d.app.db.Events(ctx, store.EventFilter{Activity: string(tapdesk.ActAlertRaised)})
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, ev := range raised {
			if ev.Details["rule"] == string(tapdesk.AlertOutsideScanFailing) {
				n++
			}
		}
		if n != 1 {
			t.Errorf("%d alert events for the failing scan, want 1", n)
		}
		m := waitMail(t, d.capture, demoSecurityEmail, "tapdesk alert: "+tapdesk.AlertOutsideScanFailing.Title())
		if !strings.Contains(m.Text, "AuditLog.Read.All") {
			t.Errorf("the alert mail does not name the permission:\n%s", m.Text)
		}
		auditor := d.browser(t)
		auditor.signIn("/alerts", "auditor").status(http.StatusOK)
		if rows := auditor.doc().Find(`[data-testid="alert"][data-rule="outside_scan_failing"]`); rows.Length() != 1 ||
			!strings.Contains(rows.Text(), "AuditLog.Read.All") {
			t.Errorf("/alerts lists %d failing-scan alerts:\n%s", rows.Length(), auditor.body)
		}

		// The permission is granted again: the line is fine, the gauge 0.
		d.fake.Tenant().SetPermissions(fakegraph.DefaultPermissions...)
		d.app.sweepOnce(ctx, nil)
		if status, line, body := readyLine(t, d, "entra audit log"); status != http.StatusOK || !strings.HasPrefix(line, "entra audit log: ok (read at ") {
			t.Errorf("after the permission is back: %d %q\n%s", status, line, body)
		}
		if got := gaugeValue(t, d, "tapdesk_outside_pass_scan_failures"); got != 0 {
			t.Errorf("tapdesk_outside_pass_scan_failures = %v, want 0", got)
		}

		// A new streak, after the log was read again, is a new alert.
		d.fake.Tenant().RevokePermission("AuditLog.Read.All")
		for range tapdesk.OutsideScanFailingRuns {
			d.app.sweepOnce(ctx, nil)
		}
		if n := len(outsideEvents(t, d, tapdesk.ActOutsideScanFailing, "")); n != 2 {
			t.Errorf("%d failing events after a second streak, want 2", n)
		}
		if n := len(scanFailingAlerts(t, d)); n != 2 {
			t.Errorf("%d alerts after a second streak, want 2", n)
		}
	})
}
