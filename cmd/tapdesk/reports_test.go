package main

import (
	"context"
	"encoding/csv"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"

	"github.com/tapdesk/tapdesk"
	"github.com/tapdesk/tapdesk/internal/pgtest"
)

// seedReportTrail appends a known trail in the first half of October 2026,
// before anything the demo records: three requests filed by two agents,
// one issued in an hour (privileged, filed on a Saturday), one denied with
// a reason a spreadsheet would run as a formula, one cancelled.
func seedReportTrail(t *testing.T, d *testDemo) {
	t.Helper()
	ctx := context.Background()
	agent := tapdesk.Actor{TenantID: "t", ObjectID: "seed-agent", UPN: "seed.agent@contoso.example", Name: "Seed Agent"}
	agent2 := tapdesk.Actor{TenantID: "t", ObjectID: "seed-agent2", UPN: "seed.agent2@contoso.example", Name: "Seed Agent Two"}
	appr := tapdesk.Actor{TenantID: "t", ObjectID: "seed-appr", UPN: "seed.appr@contoso.example", Name: "Seed Approver"}
	appr2 := tapdesk.Actor{TenantID: "t", ObjectID: "seed-appr2", UPN: "seed.appr2@contoso.example", Name: "Seed Approver Two"}
	at := func(day, hour, min int) time.Time { return time.Date(2026, 10, day, hour, min, 0, 0, time.UTC) }
	add := func(ev tapdesk.Event) {
		t.Helper()
		ev.TargetID, ev.TargetUPN = "target-"+ev.RequestID, ev.RequestID+"@contoso.example"
		if err := d.app.db.AppendEvent(ctx, ev); err != nil {
			t.Fatal(err)
		}
	}
	file := func(id string, when time.Time, by tapdesk.Actor, approvals, roles string) {
		add(tapdesk.Event{Time: when, Activity: tapdesk.ActRequestFiled, Category: tapdesk.CatRequest, Actor: by, RequestID: id,
			Details: map[string]string{"approvals_required": approvals, "lifetime_minutes": "60", "usable_once": "true", "target_roles": roles}})
	}
	// Saturday 3 October 2026, 23:00: out of the default hours.
	file("rep-1", at(3, 23, 0), agent, "2", "Global Administrator")
	add(tapdesk.Event{Time: at(3, 23, 10), Activity: tapdesk.ActApprove, Category: tapdesk.CatApproval, Actor: appr, RequestID: "rep-1"})
	add(tapdesk.Event{Time: at(3, 23, 30), Activity: tapdesk.ActApprove, Category: tapdesk.CatApproval, Actor: appr2, RequestID: "rep-1"})
	add(tapdesk.Event{Time: at(4, 0, 0), Activity: tapdesk.ActIssueAttempt, Category: tapdesk.CatMethod, Actor: agent, RequestID: "rep-1", TAPMethodID: "m-1"})
	file("rep-2", at(6, 10, 0), agent, "1", "")
	add(tapdesk.Event{Time: at(6, 10, 5), Activity: tapdesk.ActDeny, Category: tapdesk.CatApproval, Actor: appr, RequestID: "rep-2",
		Reason: "=HYPERLINK(\"http://x\") caller unsure"})
	file("rep-3", at(7, 11, 0), agent2, "1", "")
	add(tapdesk.Event{Time: at(7, 11, 1), Activity: tapdesk.ActRequestCancel, Category: tapdesk.CatRequest, Actor: agent2, RequestID: "rep-3"})
}

const reportWindow = "from=2026-10-01T00%3A00&to=2026-10-15T00%3A00"

// tableCells is a chart's table as rows of cell texts, the header first.
func tableCells(doc *goquery.Document, id string) [][]string {
	var out [][]string
	doc.Find(`[data-testid="table-` + id + `"] tr`).Each(func(_ int, tr *goquery.Selection) {
		var row []string
		tr.Find("th, td").Each(func(_ int, c *goquery.Selection) { row = append(row, strings.TrimSpace(c.Text())) })
		out = append(out, row)
	})
	return out
}

// The reports page through the real router: an auditor sees each chart's
// numbers from the seeded trail, drawn accessibly, with links to the audit
// events behind them and CSVs holding the table's cells; an agent is
// refused; an empty period and a bad time each say so.
func TestReportsPage(t *testing.T) {
	pgtest.Backends(t, func(t *testing.T) {
		d := startTestDemo(t)
		seedReportTrail(t, d)

		agent := d.browser(t)
		agent.signIn("/", "agent")
		agent.get("/reports").status(http.StatusForbidden)
		agent.get("/reports/outcomes.csv").status(http.StatusForbidden)
		if agent.get("/").status(http.StatusOK); strings.Contains(agent.body, `data-testid="nav-reports"`) {
			t.Error("an agent's nav links the reports")
		}

		a := d.browser(t)
		a.signIn("/", "auditor").contains(`data-testid="nav-reports"`)
		a.get("/reports?" + reportWindow).status(http.StatusOK)
		doc := a.doc()
		want := map[string][][]string{
			"issued-per-week": {{"Week", "Passes issued"}, {"Week of 28 Sep 2026", "1"}, {"Week of 5 Oct 2026", "0"}, {"Week of 12 Oct 2026", "0"}},
			"outcomes": {{"Outcome", "Requests"}, {"Issued", "1"}, {"Denied", "1"}, {"Expired", "0"}, {"Cancelled", "1"}, {"Disputed", "0"},
				{"Failed", "0"}, {"Revoked", "0"}, {"Pending", "0"}, {"Approved, not yet issued", "0"}},
			"times": {{"Span", "Requests", "Median (minutes)", "90th percentile (minutes)"},
				{"Filing to decision", "2", "5.0", "30.0"}, {"Filing to issue", "1", "60.0", "60.0"}},
			"denials":   {{"Reason", "Denials"}, {`=HYPERLINK("http://x") caller unsure`, "1"}},
			"agents":    {{"Agent", "Requests"}, {"Seed Agent (seed.agent@contoso.example)", "2"}, {"Seed Agent Two (seed.agent2@contoso.example)", "1"}},
			"approvers": {{"Approver", "Decisions"}, {"Seed Approver (seed.appr@contoso.example)", "2"}, {"Seed Approver Two (seed.appr2@contoso.example)", "1"}},
			"privileged": {{"Filed", "Request", "Target", "Agent", "Outcome", "Why privileged"},
				{"2026-10-03 23:00 UTC", "rep-1", "rep-1@contoso.example", "Seed Agent (seed.agent@contoso.example)", "issued", "directory roles: Global Administrator"}},
			"out-of-hours": {{"Filed", "Request", "Target", "Agent", "Outcome"},
				{"2026-10-03 23:00 UTC", "rep-1", "rep-1@contoso.example", "Seed Agent (seed.agent@contoso.example)", "issued"}},
		}
		for id, rows := range want {
			t.Run(id, func(t *testing.T) {
				a := a.with(t)
				if got := tableCells(doc, id); !slices.EqualFunc(got, rows, slices.Equal) {
					t.Errorf("table %s:\n got %q\nwant %q", id, got, rows)
				}
				svg := doc.Find(`[data-testid="svg-` + id + `"]`)
				if svg.AttrOr("role", "") != "img" || svg.Find("title").Text() == "" || svg.Find("desc").Text() == "" {
					t.Errorf("chart %s is not an image with a title and a description", id)
				}
				for _, l := range strings.Fields(svg.AttrOr("aria-labelledby", "")) {
					if doc.Find("#"+l).Length() != 1 {
						t.Errorf("chart %s is labelled by %q, which is not one element", id, l)
					}
				}
				if doc.Find(`[data-testid="chart-`+id+`"] details table`).Length() != 1 {
					t.Errorf("chart %s's numbers are not in a table in a <details>", id)
				}
				href, ok := doc.Find(`[data-testid="csv-` + id + `"]`).Attr("href")
				if !ok {
					t.Fatalf("chart %s has no CSV", id)
				}
				a.get(href).status(http.StatusOK)
				if ct := a.last.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/csv") {
					t.Errorf("CSV content type %q", ct)
				}
				body, bom := strings.CutPrefix(a.body, "\ufeff")
				if !bom {
					t.Error("the CSV has no byte-order mark (Excel would not read it as UTF-8)")
				}
				got, err := csv.NewReader(strings.NewReader(body)).ReadAll()
				if err != nil {
					t.Fatal(err)
				}
				wantCSV := slices.Clone(rows)
				if id == "denials" {
					// Formula injection neutralised, as in the audit export.
					wantCSV = [][]string{rows[0], {`'=HYPERLINK("http://x") caller unsure`, "1"}}
				}
				if !slices.EqualFunc(got, wantCSV, slices.Equal) {
					t.Errorf("CSV %s:\n got %q\nwant %q", id, got, wantCSV)
				}
			})
		}

		// The audit list behind a chart holds exactly the events it counts.
		for id, count := range map[string]string{"issued-per-week": "1 event matches.", "denials": "1 event matches.", "outcomes": "3 events match."} {
			href, _ := doc.Find(`[data-testid="audit-link-` + id + `"]`).First().Attr("href")
			u, err := url.Parse(href)
			if err != nil || u.Path != "/audit" || u.Query().Get("activity") == "" || u.Query().Get("from") != "2026-10-01T00:00" || u.Query().Get("to") != "2026-10-15T00:00" {
				t.Errorf("chart %s links %q", id, href)
				continue
			}
			if got := a.get(href).status(http.StatusOK).text(`[data-testid="audit-count"]`); got != count {
				t.Errorf("the audit list behind %s: %q, want %q", id, got, count)
			}
		}

		// A row names an actor: it links to their events behind the count.
		for id, count := range map[string]string{"agents": "2 events match.", "approvers": "2 events match."} {
			href, ok := doc.Find(`[data-testid="table-` + id + `"] tbody tr`).First().Find("a").Attr("href")
			if !ok || !strings.Contains(href, "actor=seed.a") {
				t.Errorf("the first %s row links %q", id, href)
				continue
			}
			if got := a.get(href).status(http.StatusOK).text(`[data-testid="audit-count"]`); got != count {
				t.Errorf("the audit list behind the first %s row: %q, want %q", id, got, count)
			}
		}

		t.Run("an empty period says so", func(t *testing.T) {
			a := a.with(t)
			a.get("/reports?from=2025-01-01T00%3A00&to=2025-01-08T00%3A00").status(http.StatusOK)
			if a.doc().Find(`[data-testid="reports-empty"]`).Length() != 1 || a.doc().Find(`svg`).Length() != 0 {
				t.Errorf("an empty period does not say so:\n%s", a.body)
			}
		})
		t.Run("a bad time gets a sentence and stays as typed", func(t *testing.T) {
			a := a.with(t)
			a.get("/reports?from=yesterday").status(http.StatusUnprocessableEntity)
			if got := a.text(`[data-testid="period-error"]`); !strings.Contains(got, `"yesterday"`) {
				t.Errorf("sentence %q", got)
			}
			if v := a.doc().Find(`[data-testid="period-from"]`).AttrOr("value", ""); v != "yesterday" {
				t.Errorf("the field holds %q", v)
			}
			a.get("/reports/outcomes.csv?to=soon").status(http.StatusUnprocessableEntity)
		})
		t.Run("an unknown chart is not found", func(t *testing.T) {
			a.with(t).get("/reports/secrets.csv").status(http.StatusNotFound)
			a.with(t).get("/reports/outcomes").status(http.StatusNotFound)
		})
		t.Run("a CSV export is audited", func(t *testing.T) {
			a := a.with(t)
			a.get("/audit?activity=" + url.QueryEscape(string(tapdesk.ActExport))).status(http.StatusOK)
			if !strings.Contains(a.body, "outcomes") {
				t.Errorf("no export event names the report:\n%s", a.text(`[data-testid="audit"]`))
			}
		})
	})
}

// Reports read up to a year of the trail per request: an auditor's session
// (or a stolen one) asking for them over and over is paced like audit
// exports. The page and its CSVs share one limit; past it, 429 with
// Retry-After and a page that says what was done and when to try again.
// A period longer than tapdesk.ReportMaxSpan is refused with a sentence
// before anything is read, on the page and on a CSV.
func TestReportsRateLimitedAndSpanCapped(t *testing.T) {
	d := startTestDemoWith(t, func(o *demoOptions) {
		limits, err := tapdesk.ParseRateLimits("report.person=4/10m", tapdesk.DefaultRateLimits())
		if err != nil {
			t.Fatal(err)
		}
		o.RateLimits = limits
	})
	a := d.browser(t)
	a.signIn("/", "auditor").status(http.StatusOK)

	const twoYears = "from=2024-01-01T00%3A00&to=2026-01-01T00%3A00"
	a.get("/reports?" + twoYears).status(http.StatusUnprocessableEntity)
	if got := a.text(`[data-testid="period-error"]`); got != tapdesk.ReportSpanRefusal {
		t.Errorf("an over-long period says %q, want %q", got, tapdesk.ReportSpanRefusal)
	}
	if a.doc().Find(`svg`).Length() != 0 {
		t.Error("an over-long period still draws charts")
	}
	a.get("/reports/outcomes.csv?" + twoYears).status(http.StatusUnprocessableEntity).titleIs("Check the period")
	if !strings.Contains(a.body, tapdesk.ReportSpanRefusal) {
		t.Errorf("the CSV refusal does not say why:\n%s", a.body)
	}

	// Two more within the limit of four, then both the page and a CSV are
	// refused.
	a.get("/reports").status(http.StatusOK)
	a.get("/reports/outcomes.csv").status(http.StatusOK)
	for _, path := range []string{"/reports", "/reports/outcomes.csv?" + reportWindow} {
		a.get(path).status(http.StatusTooManyRequests).titleIs("Wait a moment")
		if !strings.Contains(a.body, "You have asked for 4 reports or report CSVs in the last 10 minutes. Try again at ") {
			t.Errorf("%s: the refusal does not say what was done:\n%s", path, a.body)
		}
		if s, err := strconv.Atoi(a.last.Header.Get("Retry-After")); err != nil || s < 1 || s > 150 {
			t.Errorf("%s: Retry-After %q, want 1..150 seconds", path, a.last.Header.Get("Retry-After"))
		}
	}
	evs := rateEvents(t, d)
	if len(evs) != 1 || evs[0].Details["limit"] != "report.person=4/10m" || evs[0].Actor.UPN != "audrey.auditor@contoso.example" {
		t.Errorf("refusal events: %+v", evs)
	}
}
