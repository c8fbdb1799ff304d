package main

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"

	"github.com/tapdesk/tapdesk"
	"github.com/tapdesk/tapdesk/entra/fakegraph"
)

// outOfHoursNow are working hours that leave out today (UTC), so a request
// filed now is out of hours whatever the time of the run.
func outOfHoursNow(t *testing.T) tapdesk.WorkingHours {
	t.Helper()
	today := time.Now().UTC().Weekday()
	var days []string
	for d := time.Sunday; d <= time.Saturday; d++ {
		if d != today {
			days = append(days, d.String()[:3])
		}
	}
	w, err := tapdesk.ParseWorkingHours(strings.Join(days, ",") + " 00:00-24:00 UTC")
	if err != nil {
		t.Fatal(err)
	}
	return w
}

// riskIDs are the risks the page names, by kind.
func riskIDs(doc *goquery.Document) map[string]string {
	out := map[string]string{}
	doc.Find(`[data-testid="risks"] > li`).Each(func(_ int, s *goquery.Selection) {
		out[strings.TrimPrefix(s.AttrOr("data-testid", ""), "risk-")] = strings.Join(strings.Fields(s.Text()), " ")
	})
	return out
}

// The approval page puts the decision first: Approve before Deny, Deny in
// a closed disclosure that asks for the reason; beside the request, the
// target as Entra shows them and each risk named.
func TestApprovalPageDecisionAndRisks(t *testing.T) {
	// Six requests by one agent: more than filing's rate limit lets
	// through, which is not what this test is about.
	limits, err := tapdesk.ParseRateLimits("file=off", tapdesk.DefaultRateLimits())
	if err != nil {
		t.Fatal(err)
	}
	d := startTestDemoWith(t, func(o *demoOptions) {
		o.WorkingHours = outOfHoursNow(t)
		o.RateLimits = limits
	})
	agent := d.browser(t)
	agent.signIn("/", "agent")
	nina := fileRequestFor(t, agent, "nina.newhire@contoso.example", "New starter, phone not set up")
	approver := d.browser(t)
	approver.signIn(nina, "approver")

	t.Run("target summary and risks of a new hire filed out of hours", func(t *testing.T) {
		doc := approver.doc()
		for id, want := range map[string]string{"glance-enabled": "Enabled", "glance-department": "Marketing",
			"glance-job-title": "Marketing Coordinator", "glance-age": "3 days", "glance-pass": "Yes", "glance-methods": "None registered"} {
			if got := approver.text(`[data-testid="` + id + `"]`); !strings.Contains(got, want) {
				t.Errorf("%s: %q, want %q", id, got, want)
			}
		}
		risks := riskIDs(doc)
		for kind, want := range map[tapdesk.RiskKind]string{tapdesk.RiskNewAccount: "Created 3 days ago",
			tapdesk.RiskOutOfHours: "outside the helpdesk's working hours"} {
			if !strings.Contains(risks[string(kind)], want) {
				t.Errorf("risk %s: %q, want %q (all: %v)", kind, risks[string(kind)], want, risks)
			}
		}
		if _, ok := risks[string(tapdesk.RiskPrivileged)]; ok {
			t.Errorf("Nina named privileged: %v", risks)
		}
		if doc.Find(`[data-testid="risk-chips"] a`).Length() != len(risks) {
			t.Errorf("the summary names %d risks, the page %d", doc.Find(`[data-testid="risk-chips"] a`).Length(), len(risks))
		}
	})

	t.Run("Approve comes first, Deny in a closed disclosure", func(t *testing.T) {
		doc := approver.doc()
		order := doc.Find(`[data-testid="approve"], [data-testid="deny"]`)
		if order.Length() != 2 || order.First().AttrOr("data-testid", "") != "approve" {
			t.Fatalf("buttons in document order: %d, first %q", order.Length(), order.First().AttrOr("data-testid", ""))
		}
		// Approve before the target summary and the request's details.
		all := doc.Find(`[data-testid="approve"], [data-testid="target-glance"], [data-testid="verification"]`)
		if all.First().AttrOr("data-testid", "") != "approve" {
			t.Errorf("first of approve, summary, details: %q", all.First().AttrOr("data-testid", ""))
		}
		details := doc.Find(`details[data-testid="deny-details"]`)
		if details.Find(`[data-testid="deny"]`).Length() != 1 || details.Find(`textarea[name="reason"]`).Length() != 1 {
			t.Fatal("Deny and its reason are not inside the disclosure")
		}
		if _, open := details.Attr("open"); open {
			t.Error("the deny disclosure is open before anyone asked")
		}
		if doc.Find(`[data-testid="approve"]`).Closest(".action-bar").Length() != 1 {
			t.Error("Approve is not in the action bar")
		}
	})

	t.Run("a refused denial keeps the reason and opens the disclosure", func(t *testing.T) {
		typed := "Caller could not\u202e name their manager"
		approver.submit(`form[action$="/deny"]`, url.Values{"reason": {typed}}).status(http.StatusUnprocessableEntity)
		details := approver.doc().Find(`details[data-testid="deny-details"]`)
		if _, open := details.Attr("open"); !open {
			t.Error("the refused denial's disclosure is closed")
		}
		if got := details.Find(`textarea[name="reason"]`).Text(); got != typed {
			t.Errorf("reason after refusal %q, want %q", got, typed)
		}
		if details.Find(`[data-testid="deny-error"]`).Length() != 1 {
			t.Error("no sentence saying why the denial was refused")
		}
		if stateOf(t, d, nina) != tapdesk.StatePending {
			t.Error("a refused denial decided the request")
		}
	})

	t.Run("Entra unreachable: the page still stands", func(t *testing.T) {
		// A target nobody viewed yet: what Entra said about Nina is kept
		// for tapdesk.GlanceFactsTTL.
		priya := fileRequestFor(t, agent, "priya.patel@contoso.example", "Lost her phone")
		d.fake.SetFault("GET /v1.0/users/*", fakegraph.Fault{Status: 500})
		defer d.fake.ClearFaults()
		approver.get(nina).status(http.StatusOK)
		if approver.doc().Find(`[data-testid="glance-facts"]`).Length() != 1 {
			t.Error("Nina's facts, read a moment ago, are not shown again while Entra fails")
		}
		approver.get(priya).status(http.StatusOK)
		if got := approver.text(`[data-testid="glance-error"]`); !strings.Contains(got, "Could not read the user's current details from Entra") {
			t.Fatalf("glance error %q", got)
		}
		if approver.doc().Find(`[data-testid="approve"]`).Length() != 1 {
			t.Error("no Approve while Entra is unreachable")
		}
		if _, ok := riskIDs(approver.doc())[string(tapdesk.RiskOutOfHours)]; !ok {
			t.Error("tapdesk's own facts are lost with Entra's")
		}
	})

	t.Run("a privileged target names its role", func(t *testing.T) {
		grace := fileRequestFor(t, agent, "grace.global@contoso.example", "Lost her security key")
		approver.get(grace).status(http.StatusOK)
		if got := riskIDs(approver.doc())[string(tapdesk.RiskPrivileged)]; !strings.Contains(got, "holds the directory role Global Administrator") {
			t.Errorf("privileged risk %q", got)
		}
	})

	t.Run("a tapdesk role holder", func(t *testing.T) {
		sam := fileRequestFor(t, agent, "sam.second@contoso.example", "Phone wiped")
		approver.get(sam).status(http.StatusOK)
		if got := riskIDs(approver.doc())[string(tapdesk.RiskTapdeskRole)]; !strings.Contains(got, "Tap.Requester") {
			t.Errorf("tapdesk role risk %q", got)
		}
	})

	t.Run("a pass issued recently", func(t *testing.T) {
		marco := fileRequestFor(t, agent, "marco.rossi@contoso.example", "Laptop replaced")
		approveAs(t, d, marco, "approver")
		agent.get(marco).submit(`form[action$="/reveal"]`, nil).status(http.StatusOK)
		again := fileRequestFor(t, agent, "marco.rossi@contoso.example", "Laptop replaced again")
		approver.get(again).status(http.StatusOK)
		risk := approver.doc().Find(`[data-testid="risk-recent-pass"]`)
		if !strings.Contains(risk.Text(), "A pass was issued") || risk.Find(`a[href="`+marco+`"]`).Length() != 1 {
			t.Errorf("recent pass risk %q, want a link to %s", risk.Text(), marco)
		}
	})

	t.Run("two open requests for one user link to each other", func(t *testing.T) {
		// Only a database from before the one-open-request rule holds two:
		// copy the open request as such a duplicate.
		id := strings.TrimPrefix(nina, "/requests/")
		dup := id[:20] + "DUPLIC"
		tx, err := d.app.db.SQL().Begin() // one connection: the temporary table lives on it
		if err != nil {
			t.Fatal(err)
		}
		for _, q := range []string{`CREATE TEMP TABLE dup AS SELECT * FROM requests WHERE id = ?`,
			`UPDATE dup SET id = ?, legacy_open_duplicate = ?, ticket_ref = 'INC-OLD'`, `INSERT INTO requests SELECT * FROM dup`, `DROP TABLE dup`} {
			args := []any{id}
			if strings.HasPrefix(q, "UPDATE") {
				args = []any{dup, dup}
			} else if !strings.Contains(q, "?") {
				args = nil
			}
			if _, err := tx.Exec(q, args...); err != nil {
				tx.Rollback()
				t.Fatalf("%s: %v", q, err)
			}
		}
		if err := tx.Commit(); err != nil {
			t.Fatal(err)
		}
		approver.get(nina).status(http.StatusOK)
		risk := approver.doc().Find(`[data-testid="risk-other-open-request"]`)
		if risk.Find(fmt.Sprintf(`a[href="/requests/%s"]`, dup)).Length() != 1 || !strings.Contains(risk.Text(), "INC-OLD") {
			t.Errorf("open request %s not linked from %s: %q", dup, nina, risk.Text())
		}
		approver.get("/requests/" + dup).status(http.StatusOK)
		if approver.doc().Find(`[data-testid="risk-other-open-request"] a[href="`+nina+`"]`).Length() != 1 {
			t.Errorf("%s not linked from the duplicate", nina)
		}
	})
}
