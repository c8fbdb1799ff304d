package main

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/tapdesk/tapdesk"
	"github.com/tapdesk/tapdesk/store"
)

// A request nobody decides is escalated half-way through its decision
// window and expired at the end, each step audited and mailed.
func TestUndecidedRequestEscalatesThenExpires(t *testing.T) {
	d := startTestDemoWith(t, func(o *demoOptions) {
		o.DecisionTTL = 3 * time.Second
		o.SweepInterval = 100 * time.Millisecond
	})
	agent := d.browser(t)
	agent.signIn("/", "agent")
	reqPath := fileRequestFor(t, agent, "nina.newhire@contoso.example", "Locked out, lost phone")
	id := strings.TrimPrefix(reqPath, "/requests/")

	waitMail(t, d.capture, "", "Approval needed")
	reminder := waitMail(t, d.capture, "", "Reminder: Approval needed")
	if !approveLink.Match(reminder.Raw) {
		t.Errorf("the reminder carries no approval link")
	}
	waitMail(t, d.capture, "alex.agent", "Request expired")

	agent.get(reqPath).status(http.StatusOK)
	if got := strings.TrimSpace(agent.doc().Find(`[data-testid="state"]`).Text()); got != tapdesk.StateExpired.Label() {
		t.Errorf("request page says %q, want %q", got, tapdesk.StateExpired.Label())
	}
	for _, act := range []tapdesk.Activity{tapdesk.ActRequestEscalate, tapdesk.ActRequestExpired} {
		evs, err := d.app.db.Events(context.Background(), store.EventFilter{RequestID: id, Activity: string(act)})
		if err != nil {
			t.Fatal(err)
		}
		if len(evs) != 1 || evs[0].Actor != tapdesk.SystemActor || evs[0].CorrelationID == "" {
			t.Errorf("%s: %+v", act, evs)
		}
	}
}
