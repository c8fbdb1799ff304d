package main

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/tapdesk/tapdesk"
)

// On a tenant where no pass was made outside tapdesk, nothing raises an
// alert: /alerts and the auditor's dashboard say so in words, and the
// dashboard's "Made outside tapdesk" list says it has nothing, where the
// sample tenant's pass for Nina would otherwise fill both.
func TestAlertsAndOutsidePassesEmpty(t *testing.T) {
	d := startTestDemoWith(t, func(o *demoOptions) { quietSweeps(o); withoutOutsidePass(o) })
	d.app.sweepOnce(context.Background(), nil) // the alerts read what the first sweep wrote
	if n := len(outsideEvents(t, d, tapdesk.ActOutsidePassFound, "")); n != 0 {
		t.Fatalf("%d passes found outside tapdesk, want none", n)
	}
	if _, failed, ran := sweepJob(t, d, "outside_passes"); !ran || failed {
		t.Fatalf("the outside-pass job ran %v, failed %v: an empty list would prove nothing", ran, failed)
	}

	auditor := d.browser(t)
	auditor.signIn("/alerts", "auditor").status(http.StatusOK)
	if got := auditor.text(`main [data-testid="alerts-empty"]`); got != "No alert has been raised." {
		t.Errorf("/alerts says %q, want \"No alert has been raised.\"\n%s", got, auditor.body)
	}
	if n := auditor.doc().Find(`[data-testid="alert"]`).Length(); n != 0 {
		t.Errorf("/alerts lists %d alerts", n)
	}

	auditor.get("/").status(http.StatusOK)
	doc := auditor.doc()
	if got := strings.TrimSpace(doc.Find(`[data-testid="section-alerts"] [data-testid="alerts-empty"]`).Text()); !strings.HasPrefix(got, "No alert has been raised.") {
		t.Errorf("the dashboard's alerts say %q", got)
	}
	outsideEmpty := strings.TrimSpace(doc.Find(`[data-testid="section-outside-passes"] [data-testid="outside-passes-empty"]`).Text())
	if outsideEmpty != "No Temporary Access Pass has been made outside tapdesk that Entra's directory audit log shows." {
		t.Errorf("the dashboard's outside passes say %q\n%s", outsideEmpty, auditor.body)
	}
	if n := doc.Find(`[data-testid="outside-pass"]`).Length(); n != 0 {
		t.Errorf("the dashboard lists %d outside passes", n)
	}
}
