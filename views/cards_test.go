package views

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"

	"github.com/tapdesk/tapdesk"
)

// The phone labels of the card tables are in app.css, one rule per column
// of each set: a heading renamed or a column added in a view without its
// rule would leave a phone card with a wrong label or none.
func TestCardLabelsInCSS(t *testing.T) {
	raw, err := os.ReadFile("../static/app.css")
	if err != nil {
		t.Fatal(err)
	}
	css := string(raw)
	for _, set := range cardColumnSets {
		if !strings.Contains(css, "table."+set.class+":not(.scroll) td") {
			t.Errorf("app.css does not make room for %s's labels (padding of table.%s:not(.scroll) td)", set.class, set.class)
		}
		for i, c := range set.cols {
			rule := fmt.Sprintf("table.%s td:nth-child(%d)::before { content: %q; }", set.class, i+1, c.label())
			if !strings.Contains(css, rule) {
				t.Errorf("app.css lacks %s", rule)
			}
		}
		if extra := fmt.Sprintf("table.%s td:nth-child(%d)::before", set.class, len(set.cols)+1); strings.Contains(css, extra) {
			t.Errorf("app.css labels a column %s does not have: %s", set.class, extra)
		}
	}
}

// Every row of a card table has one cell per column, in the columns'
// order, and no cell carries its own label: app.css labels cells by their
// place in the row.
func TestCardTableRowsFitTheirColumns(t *testing.T) {
	now := time.Date(2026, 11, 23, 14, 8, 0, 0, time.UTC)
	r := &tapdesk.Request{ID: "r1", TargetName: "Nina Newhire", TargetUPN: "nina@contoso.example", TicketRef: "INC-1",
		Requester: tapdesk.Actor{Name: "Alex Agent"}, State: tapdesk.StateApproved, CreatedAt: now.Add(-time.Hour), ExpiresAt: now.Add(time.Hour)}
	row := NewRequestRow(r, func() time.Time { return now })
	row.Decision, row.DecidedAt, row.DecidedISO = "Approved", UTC(now), now.Format(ISOMinute)
	p := Page{User: tapdesk.Principal{Name: "Alex", Roles: []tapdesk.Role{tapdesk.RoleRequester, tapdesk.RoleApprover, tapdesk.RoleAuditor, tapdesk.RoleAdmin}}}
	var b strings.Builder
	d := Dashboard{Ready: []RequestRow{row}, Waiting: []RequestRow{row}, Awaiting: []RequestRow{row}, Decided: []RequestRow{row},
		History: History{Rows: []RequestRow{row}, Query: tapdesk.HistoryQuery{Page: 1}}}
	o := &Oversight{Activity: []ActivityRow{{Href: "/audit", Time: "now", Activity: "sign_in", Actor: "A", Failed: true, Reason: "r"}},
		Recent: []RequestRow{row}, Outside: []OutsidePassRow{{Target: "t", TargetSub: "s", By: "b", ViaTapdeskApp: true, When: "w", WhenISO: "x"}},
		Alerts: AlertList{Alerts: []tapdesk.Alert{{Rule: tapdesk.AlertRules()[0], Subject: "s", At: now, Summary: "x", Evidence: "/audit"}}}}
	dep := &Deployment{Jobs: []JobRow{{Label: "Expiry", LastRun: "now", Failed: true}, {Label: "Mail", Never: true}}}
	ctx := WithNow(context.Background(), now)
	if err := DashboardPage(p, DashboardLists(p, d), o, dep).Render(ctx, &b); err != nil {
		t.Fatal(err)
	}
	doc, err := goquery.NewDocumentFromReader(strings.NewReader(b.String()))
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	doc.Find("table.cards").Each(func(_ int, tbl *goquery.Selection) {
		id := tbl.AttrOr("data-testid", "?")
		var set *cardColumns
		for i := range cardColumnSets {
			if tbl.HasClass(cardColumnSets[i].class) {
				set = &cardColumnSets[i]
			}
		}
		if set == nil {
			t.Errorf("table %s has no column set's class: %s", id, tbl.AttrOr("class", ""))
			return
		}
		seen[set.class] = true
		tbl.Find("thead th").Each(func(i int, th *goquery.Selection) {
			if i >= len(set.cols) || th.Text() != set.cols[i].Head {
				t.Errorf("table %s: heading %d is %q", id, i+1, th.Text())
			}
		})
		tbl.Find("tbody tr").Each(func(_ int, tr *goquery.Selection) {
			if n := tr.Children().Filter("td").Length(); n != len(set.cols) || tr.Children().Length() != n {
				t.Errorf("table %s: a row has %d cells (of %d children), want %d", id, n, tr.Children().Length(), len(set.cols))
			}
		})
		if n := tbl.Find("[data-label]").Length(); n > 0 {
			t.Errorf("table %s: %d cells carry their own data-label", id, n)
		}
	})
	for _, set := range cardColumnSets {
		if !seen[set.class] {
			t.Errorf("no table of %s on the dashboard rendered here", set.class)
		}
	}
}
