package main

import (
	"context"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"

	"github.com/tapdesk/tapdesk"
	"github.com/tapdesk/tapdesk/entra"
	"github.com/tapdesk/tapdesk/entra/fakegraph"
	"github.com/tapdesk/tapdesk/internal/pgtest"
	"github.com/tapdesk/tapdesk/outside"
	"github.com/tapdesk/tapdesk/store"
)

// Passes made outside tapdesk: the sweep reads the fake Graph's directory
// audit log (the real SDK against the fake) and records, audits and lists
// every pass registration no issue of tapdesk explains.

// ninaSeededPass is the sample tenant's pass for Nina, made by Grace Global
// in the admin center half an hour before the tenant loads.
const ninaSeededPass = "cb2e2d5b-5c34-4dd6-9663-ca4355adae3c"

// outsideCursor is how far the outside-pass scan has read Entra's log.
func outsideCursor(t *testing.T, d *testDemo) time.Time {
	t.Helper()
	at, ok, err := d.app.db.OutsidePassCursor(context.Background())
	if err != nil || !ok {
		t.Fatalf("no outside-pass cursor: %v", err)
	}
	return at
}

// outsideEvents are the audit events of act, for the user upn ("" all).
func outsideEvents(t *testing.T, d *testDemo, act tapdesk.Activity, upn string) []tapdesk.Event {
	t.Helper()
	evs, err := d.app.db.Events(context.Background(), store.EventFilter{Activity: string(act), Target: upn})
	if err != nil {
		t.Fatal(err)
	}
	return evs
}

// outsideRows are the rows of the auditor's "Made outside tapdesk" list.
func outsideRows(t *testing.T, d *testDemo) []*goquery.Selection {
	t.Helper()
	auditor := d.browser(t)
	auditor.signIn("/", "auditor").status(http.StatusOK)
	if auditor.doc().Find(`[data-testid="section-outside-passes"] h2`).Text() != "Made outside tapdesk" {
		t.Fatalf("the auditor's dashboard has no \"Made outside tapdesk\" section:\n%s", auditor.body)
	}
	var rows []*goquery.Selection
	auditor.doc().Find(`[data-testid="outside-pass"]`).Each(func(_ int, s *goquery.Selection) { rows = append(rows, s) })
	return rows
}

// sweepJob is the latest run of the sweep's job task on d.
func sweepJob(t *testing.T, d *testDemo, task string) (items int, failed, ran bool) {
	t.Helper()
	for _, r := range d.app.metrics.LastSweeps() {
		if r.Task == task {
			return r.Items, r.Failed, true
		}
	}
	return 0, false, false
}

func quietSweeps(o *demoOptions) { o.SweepInterval = time.Hour } // the tests run the sweep themselves

// The sample tenant's pass for Nina, made by an administrator in the admin
// center, is found, audited with who made it and when, and listed for the
// auditor, once: not again at the next sweep, nor after a restart on the
// same database.
func TestOutsidePassFoundOnceAcrossRestarts(t *testing.T) {
	pgtest.Backends(t, func(t *testing.T) {
		dsn := filepath.Join(t.TempDir(), "tapdesk.db")
		if pgtest.OnPostgres(t) {
			dsn = pgtest.URL(t)
		}
		onDB := func(o *demoOptions) { quietSweeps(o); o.DBPath = dsn }
		t.Run("found", func(t *testing.T) {
			d := startTestDemoWith(t, onDB)
			evs := outsideEvents(t, d, tapdesk.ActOutsidePassFound, "")
			if len(evs) != 1 {
				t.Fatalf("%d findings, want Nina's pass alone: %+v", len(evs), evs)
			}
			ev := evs[0]
			created, err := time.Parse(time.RFC3339, ev.Details["created_at"])
			if ev.Category != tapdesk.CatSecurity || ev.Actor != tapdesk.SystemActor || ev.TargetUPN != "nina.newhire@contoso.example" ||
				ev.TargetID != d.userID(t, "nina.newhire@contoso.example") || ev.TAPMethodID != ninaSeededPass ||
				!strings.Contains(ev.Details["created_by"], "grace.global@contoso.example") || ev.Details["created_by_kind"] != "user" ||
				ev.Details["via_tapdesk_app"] != "false" || err != nil || time.Since(created) > 31*time.Minute || time.Since(created) < 29*time.Minute ||
				!strings.Contains(ev.Reason, "outside tapdesk") {
				t.Errorf("finding %+v", ev)
			}
			rows := outsideRows(t, d)
			if len(rows) != 1 || !strings.Contains(rows[0].Text(), "nina.newhire@contoso.example") ||
				!strings.Contains(rows[0].Find(`[data-testid="outside-pass-by"]`).Text(), "Grace Global") ||
				rows[0].Find("time").AttrOr("datetime", "") != ev.Details["created_at"] {
				t.Fatalf("dashboard rows: %d", len(rows))
			}
			d.app.sweepOnce(context.Background(), nil)
			if n, failed, _ := sweepJob(t, d, "outside_passes"); n != 0 || failed {
				t.Errorf("the second sweep found %d (failed %v), want nothing new", n, failed)
			}
			if n := len(outsideEvents(t, d, tapdesk.ActOutsidePassFound, "")); n != 1 {
				t.Errorf("%d findings after a second sweep, want 1", n)
			}
			if d.fake.Tenant().CurrentTAP(d.userID(t, "nina.newhire@contoso.example")) == nil {
				t.Error("the pass was deleted with TAPDESK_OUTSIDE_PASS_DELETE off")
			}
		})
		t.Run("after a restart", func(t *testing.T) {
			d := startTestDemoWith(t, onDB) // a new fake Graph with the same audit log entry
			if _, failed, ran := sweepJob(t, d, "outside_passes"); !ran || failed {
				t.Fatalf("the job ran %v, failed %v", ran, failed)
			}
			if n := len(outsideEvents(t, d, tapdesk.ActOutsidePassFound, "")); n != 1 {
				t.Errorf("%d findings after a restart, want 1", n)
			}
			if rows := outsideRows(t, d); len(rows) != 1 {
				t.Errorf("%d rows after a restart, want 1", len(rows))
			}
		})
	})
}

// A pass issued through tapdesk (filed, approved, revealed) is tapdesk's
// own. A pass made with tapdesk's own app registration but no request is
// exactly the attack of someone holding tapdesk's credentials: found,
// named as such on the dashboard and counted.
func TestOutsidePassTapdeskOwnAndStolenCredentials(t *testing.T) {
	d := startTestDemoWith(t, quietSweeps)

	agent := d.browser(t)
	agent.signIn("/", "agent")
	issuedFor(t, d, agent, "marco.rossi@contoso.example", "Lost phone, new starter kit")

	// Someone with tapdesk's client secret calls Graph directly.
	thief := tapdeskAppClient(t, d)
	omar := d.userID(t, "omar.haddad@contoso.example")
	stolen, err := thief.CreateTAP(context.Background(), omar, tapdesk.TAPSpec{LifetimeMinutes: 60, UsableOnce: true}, nil)
	if err != nil {
		t.Fatal(err)
	}

	d.app.sweepOnce(context.Background(), nil)
	if evs := outsideEvents(t, d, tapdesk.ActOutsidePassFound, "marco.rossi@contoso.example"); len(evs) != 0 {
		t.Errorf("the pass tapdesk issued was flagged: %+v", evs)
	}
	evs := outsideEvents(t, d, tapdesk.ActOutsidePassFound, "omar.haddad@contoso.example")
	if len(evs) != 1 || evs[0].Details["via_tapdesk_app"] != "true" || evs[0].Details["created_by_kind"] != "app" ||
		evs[0].Details["created_by_id"] != fakegraph.SampleClientID || evs[0].TAPMethodID != stolen.MethodID ||
		!strings.Contains(evs[0].Reason, "tapdesk's own app registration") {
		t.Fatalf("findings for Omar: %+v", evs)
	}
	if n := len(outsideEvents(t, d, tapdesk.ActOutsidePassFound, "")); n != 2 {
		t.Errorf("%d findings, want Nina's and Omar's", n)
	}
	var omarRow *goquery.Selection
	for _, r := range outsideRows(t, d) {
		if strings.Contains(r.Text(), "omar.haddad@contoso.example") {
			omarRow = r
		}
	}
	if omarRow == nil || omarRow.Find(`[data-testid="outside-pass-tapdesk-app"]`).Length() != 1 {
		t.Error("the dashboard does not name the pass made with tapdesk's own app")
	}
	if got := metricValue(t, d, "tapdesk_outside_passes_found_total", "initiator", "tapdesk_app"); got != 1 {
		t.Errorf("tapdesk_outside_passes_found_total{initiator=tapdesk_app} = %v, want 1", got)
	}
}

// tapdeskAppClient is a Graph client with tapdesk's own app credentials
// (someone holding its client secret, or tapdesk itself).
func tapdeskAppClient(t *testing.T, d *testDemo) *entra.Client {
	t.Helper()
	tenant := d.fake.Tenant()
	c, err := entra.New(entra.Config{TenantID: tenant.ID, ClientID: tenant.ClientID, ClientSecret: tenant.ClientSecret,
		GraphBaseURL: d.fake.URL(), AuthorityHost: d.fake.URL(),
		HTTPClient: &http.Client{Transport: entra.NewTransport(d.fake.ClientTLSConfig())}})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// An issue whose create Graph refused made no pass: a pass made with
// tapdesk's app for the same user minutes later is not explained by it.
func TestOutsidePassAfterFailedIssueFlagged(t *testing.T) {
	d := startTestDemoWith(t, quietSweeps)
	agent := d.browser(t)
	agent.signIn("/", "agent")
	reqPath := fileRequestFor(t, agent, "marco.rossi@contoso.example", "Lost phone, new starter kit")
	link := approveLink.FindString(waitMail(t, d.capture, "avery.approver", "Approval needed").Text)
	approver := d.browser(t)
	approver.signIn(link, "approver")
	approver.submit(`form[action$="/approve"]`, nil).status(http.StatusOK)
	d.fake.SetFault("POST /v1.0/users/*/authentication/temporaryAccessPassMethods", fakegraph.Fault{Status: 400,
		Code: "badRequest", Message: "Converged UserCredentialPolicy does not allow creating or updating this authentication method. AuthMethodType [TemporaryAccessPass].", Times: 1})
	agent.get(reqPath).submit(`form[action$="/reveal"]`, nil)
	if evs := outsideEvents(t, d, tapdesk.ActIssueStart, "marco.rossi@contoso.example"); len(evs) != 1 {
		t.Fatalf("%d issues begun for Marco, want 1", len(evs))
	}
	if evs := outsideEvents(t, d, tapdesk.ActIssueAttempt, "marco.rossi@contoso.example"); len(evs) != 1 || evs[0].Result != tapdesk.ResultFailure {
		t.Fatalf("issue attempts for Marco: %+v", evs)
	}

	marco := d.userID(t, "marco.rossi@contoso.example")
	stolen, err := tapdeskAppClient(t, d).CreateTAP(context.Background(), marco, tapdesk.TAPSpec{LifetimeMinutes: 60, UsableOnce: true}, nil)
	if err != nil {
		t.Fatal(err)
	}
	d.app.sweepOnce(context.Background(), nil)
	if _, failed, _ := sweepJob(t, d, "outside_passes"); failed {
		t.Fatal("the job failed")
	}
	evs := outsideEvents(t, d, tapdesk.ActOutsidePassFound, "marco.rossi@contoso.example")
	if len(evs) != 1 || evs[0].Details["via_tapdesk_app"] != "true" || evs[0].TAPMethodID != stolen.MethodID {
		t.Fatalf("findings for Marco after a failed issue: %+v", evs)
	}
}

// Bulk onboarding: the audit log's activity covers every method an
// administrator registers, so the window can hold more pages than one read
// walks. The scan reads it in slices, halving one that holds too much,
// finds the pass in the last slice, and moves the cursor; the failure
// gauge stays 0.
func TestOutsidePassFoundPastBulkRegistrations(t *testing.T) {
	d := startTestDemoWith(t, quietSweeps)
	ctx := context.Background()
	before := outsideCursor(t, d)
	// Two pages a slice, so 450 entries (over two pages of 200) in the
	// window are too many for one read.
	d.app.outside = outside.New(tapdeskAppClient(t, d), d.app.db, outside.Options{Metrics: d.app.metrics, AuditPages: 2})
	grace := d.userID(t, "grace.global@contoso.example")
	targets := []string{"priya.patel@contoso.example", "chen.wei@contoso.example", "fatima.zahra@contoso.example", "sofia.garcia@contoso.example"}
	start := time.Now().Add(-50 * time.Minute)
	for i := range 450 {
		if err := d.fake.Tenant().AdminRegisterPhone(d.userID(t, targets[i%len(targets)]), grace, start.Add(time.Duration(i)*6*time.Second)); err != nil {
			t.Fatal(err)
		}
	}
	lukas := d.userID(t, "lukas.becker@contoso.example")
	if _, err := d.fake.Tenant().AdminCreateTAP(lukas, grace, 60, time.Now()); err != nil {
		t.Fatal(err)
	}
	d.fake.ClearRequests()
	d.app.sweepOnce(ctx, nil)
	if n, failed, _ := sweepJob(t, d, "outside_passes"); n != 1 || failed {
		t.Fatalf("the sweep found %d (failed %v), want Lukas's pass", n, failed)
	}
	if evs := outsideEvents(t, d, tapdesk.ActOutsidePassFound, "lukas.becker@contoso.example"); len(evs) != 1 {
		t.Errorf("%d findings for Lukas, want 1", len(evs))
	}
	if after := outsideCursor(t, d); !after.After(before) {
		t.Errorf("the cursor did not move past %v (%v)", before, after)
	}
	slices := 0
	for _, r := range d.fake.Requests() {
		if r.Path == "/v1.0/auditLogs/directoryAudits" && strings.Contains(r.Query.Get("$filter"), "activityDateTime lt ") {
			slices++
		}
	}
	if slices < 3 {
		t.Errorf("%d reads of a time slice, want the whole window, then its halves", slices)
	}
	if got := gaugeValue(t, d, "tapdesk_outside_pass_scan_failures"); got != 0 {
		t.Errorf("tapdesk_outside_pass_scan_failures = %v, want 0", got)
	}
}

// gaugeValue reads one unlabelled gauge from d's registry.
func gaugeValue(t *testing.T, d *testDemo, name string) float64 {
	t.Helper()
	fams, err := d.app.metrics.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range fams {
		if f.GetName() == name && len(f.GetMetric()) == 1 {
			return f.GetMetric()[0].GetGauge().GetValue()
		}
	}
	t.Fatalf("no gauge %s", name)
	return 0
}

// metricValue reads one counter series from d's registry.
func metricValue(t *testing.T, d *testDemo, name, label, value string) float64 {
	t.Helper()
	fams, err := d.app.metrics.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range fams {
		if f.GetName() != name {
			continue
		}
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == label && l.GetValue() == value {
					return m.GetCounter().GetValue()
				}
			}
			if label == "" {
				return m.GetCounter().GetValue()
			}
		}
	}
	t.Fatalf("no series %s{%s=%q}", name, label, value)
	return 0
}

// More registrations than one page of the directory audit log holds: the
// job follows @odata.nextLink to the end.
func TestOutsidePassPagingFollowed(t *testing.T) {
	d := startTestDemoWith(t, quietSweeps)
	grace := d.userID(t, "grace.global@contoso.example")
	targets := []string{"priya.patel@contoso.example", "chen.wei@contoso.example", "fatima.zahra@contoso.example", "sofia.garcia@contoso.example"}
	const made = 230 // more than a page of 200
	for i := range made {
		if _, err := d.fake.Tenant().AdminCreateTAP(d.userID(t, targets[i%len(targets)]), grace, 60, time.Now()); err != nil {
			t.Fatal(err)
		}
	}
	d.fake.ClearRequests()
	d.app.sweepOnce(context.Background(), nil)
	if n, failed, _ := sweepJob(t, d, "outside_passes"); n != made || failed {
		t.Fatalf("the sweep found %d (failed %v), want %d", n, failed, made)
	}
	pages := 0
	for _, r := range d.fake.Requests() {
		if r.Path == "/v1.0/auditLogs/directoryAudits" {
			pages++
			if pages > 1 && r.Query.Get("$skiptoken") == "" {
				t.Errorf("page %d came without the nextLink's $skiptoken: %v", pages, r.Query)
			}
		}
	}
	if pages != 2 {
		t.Errorf("%d pages read, want 2", pages)
	}
}

// With TAPDESK_OUTSIDE_PASS_DELETE on, an outside pass is deleted in Entra
// and the deletion audited; one already gone is no error.
func TestOutsidePassDeletedWhenSet(t *testing.T) {
	d := startTestDemoWith(t, func(o *demoOptions) { quietSweeps(o); o.OutsidePassDelete = true })
	nina := d.userID(t, "nina.newhire@contoso.example")
	if d.fake.Tenant().CurrentTAP(nina) != nil {
		t.Fatal("Nina's outside pass is still in Entra")
	}
	if d.fake.CountRequests("DELETE /v1.0/users/*/authentication/temporaryAccessPassMethods/"+ninaSeededPass) != 1 {
		t.Error("the pass was not deleted through Graph")
	}
	del := outsideEvents(t, d, tapdesk.ActOutsidePassDeleted, "nina.newhire@contoso.example")
	if len(del) != 1 || del[0].TAPMethodID != ninaSeededPass || del[0].Category != tapdesk.CatSecurity || del[0].Actor != tapdesk.SystemActor {
		t.Fatalf("deletion events %+v", del)
	}
	rows := outsideRows(t, d)
	if len(rows) != 1 || !strings.Contains(rows[0].Text(), "Deleted by tapdesk") {
		t.Fatalf("dashboard rows: %d", len(rows))
	}

	// A pass that is gone before tapdesk comes to delete it.
	lukas := d.userID(t, "lukas.becker@contoso.example")
	if _, err := d.fake.Tenant().AdminCreateTAP(lukas, d.userID(t, "grace.global@contoso.example"), 60, time.Now()); err != nil {
		t.Fatal(err)
	}
	if err := d.fake.Tenant().UpdateUser(lukas, func(u *fakegraph.User) { u.TAP = nil }); err != nil {
		t.Fatal(err)
	}
	d.app.sweepOnce(context.Background(), nil)
	if n, failed, _ := sweepJob(t, d, "outside_passes"); n != 1 || failed {
		t.Errorf("the sweep found %d (failed %v), want Lukas's pass", n, failed)
	}
	if evs := outsideEvents(t, d, tapdesk.ActOutsidePassDeleted, "lukas.becker@contoso.example"); len(evs) != 0 {
		t.Errorf("a pass already gone was audited as deleted: %+v", evs)
	}
	found := false
	for _, r := range outsideRows(t, d) {
		found = found || strings.Contains(r.Text(), "lukas.becker@contoso.example") && strings.Contains(r.Text(), "Gone before tapdesk deleted it")
	}
	if !found {
		t.Error("the dashboard does not say Lukas's pass was gone")
	}
}

// Graph down: the run fails, nothing is lost, and the cursor stays, so the
// next run reads the same span and finds what was made meanwhile, once.
func TestOutsidePassGraphDownKeepsCursor(t *testing.T) {
	d := startTestDemoWith(t, quietSweeps)
	ctx := context.Background()
	before := outsideCursor(t, d)
	lukas := d.userID(t, "lukas.becker@contoso.example")
	if _, err := d.fake.Tenant().AdminCreateTAP(lukas, d.userID(t, "grace.global@contoso.example"), 60, time.Now()); err != nil {
		t.Fatal(err)
	}
	d.fake.SetFault("GET /v1.0/auditLogs/directoryAudits", fakegraph.Fault{Status: http.StatusServiceUnavailable, RetryAfter: "0"})
	d.app.sweepOnce(ctx, nil)
	if _, failed, _ := sweepJob(t, d, "outside_passes"); !failed {
		t.Error("the job did not fail with Graph down")
	}
	if after := outsideCursor(t, d); !after.Equal(before) {
		t.Errorf("the cursor moved from %v to %v while Graph was down", before, after)
	}
	if evs := outsideEvents(t, d, tapdesk.ActOutsidePassFound, "lukas.becker@contoso.example"); len(evs) != 0 {
		t.Fatalf("found with Graph down: %+v", evs)
	}
	d.app.sweepOnce(ctx, nil)
	if got := gaugeValue(t, d, "tapdesk_outside_pass_scan_failures"); got != 2 {
		t.Errorf("tapdesk_outside_pass_scan_failures = %v after two failed runs, want 2", got)
	}
	d.fake.ClearFaults()
	for range 2 {
		d.app.sweepOnce(ctx, nil)
	}
	if evs := outsideEvents(t, d, tapdesk.ActOutsidePassFound, "lukas.becker@contoso.example"); len(evs) != 1 {
		t.Errorf("%d findings for Lukas once Graph is back, want 1", len(evs))
	}
	if after := outsideCursor(t, d); !after.After(before) {
		t.Errorf("the cursor did not move once Graph was back (%v)", after)
	}
	if got := gaugeValue(t, d, "tapdesk_outside_pass_scan_failures"); got != 0 {
		t.Errorf("tapdesk_outside_pass_scan_failures = %v once Graph is back, want 0", got)
	}
}
