package main

import (
	"net/http"
	"strings"
	"testing"
)

// The dashboard's lists (read as request summaries) show each request's
// filing time link, user, ticket, agent and state, and the approver's list
// holds only what they may still decide.
func TestDashboardLists(t *testing.T) {
	d := startTestDemo(t)
	agent, approver, auditor := d.browser(t), d.browser(t), d.browser(t)
	agent.signIn("/", "agent")
	approver.signIn("/", "approver")
	auditor.signIn("/", "auditor")
	req := fileRequestFor(t, agent, "nina.newhire@contoso.example", "New starter, first day, no methods yet")

	row := func(b *browser, table string) string {
		t.Helper()
		b.get("/").status(http.StatusOK)
		return b.doc().Find(`table[data-testid="` + table + `"] a[href="` + req + `"]`).Closest("tr").Text()
	}
	for _, c := range []struct {
		who   *browser
		table string
	}{{agent, "mine"}, {approver, "awaiting"}, {auditor, "recent"}} {
		got := row(c.who, c.table)
		for _, want := range []string{"nina.newhire@contoso.example", "INC-4711", "Alex Agent", "Pending", "UTC"} {
			if !strings.Contains(got, want) {
				t.Errorf("%s row lacks %q: %q", c.table, want, got)
			}
		}
	}
	approver.get(req).submit(`form[action$="/approve"]`, nil).status(http.StatusOK)
	if got := row(approver, "awaiting"); got != "" {
		t.Errorf("a request the approver decided is still awaiting them: %q", got)
	}
}
