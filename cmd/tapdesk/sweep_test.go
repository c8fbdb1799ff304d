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
	// The portal's clock moves only when the test moves it, so the half-way
	// point and the end come when the test says, not when a (possibly
	// stalled) machine gets there.
	const ttl = 10 * time.Minute
	clock := &testClock{now: time.Now()}
	d := startTestDemoWith(t, func(o *demoOptions) {
		o.Now = clock.Now
		o.DecisionTTL = ttl
		o.SweepInterval = 100 * time.Millisecond
	})
	agent := d.browser(t)
	agent.signIn("/", "agent")
	reqPath := fileRequestFor(t, agent, "nina.newhire@contoso.example", "Locked out, lost phone")
	id := strings.TrimPrefix(reqPath, "/requests/")

	waitMail(t, d.capture, "", "Approval needed")
	clock.advance(ttl / 2)
	reminder := waitMail(t, d.capture, "", "Reminder: Approval needed")
	if !approveLink.Match(reminder.Raw) {
		t.Errorf("the reminder carries no approval link")
	}
	clock.advance(ttl / 2)
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

// Closing the loop: once the user registers a passwordless method, tapdesk
// deletes the pass in Entra and records why.
func TestStrongMethodClosesTheLoop(t *testing.T) {
	d := startTestDemoWith(t, func(o *demoOptions) { o.SweepInterval = 100 * time.Millisecond })
	nina := d.userID(t, "nina.newhire@contoso.example")
	agent := d.browser(t)
	agent.signIn("/", "agent")
	reqPath, _ := issuedFor(t, d, agent, "nina.newhire@contoso.example", "New starter, first day")
	tap := d.fake.Tenant().CurrentTAP(nina)
	if tap == nil {
		t.Fatal("no pass in the fake after reveal")
	}

	// A few sweeps pass with only the pass: nothing happens.
	time.Sleep(300 * time.Millisecond)
	if d.fake.Tenant().CurrentTAP(nina) == nil {
		t.Fatal("the pass was removed before any strong method appeared")
	}
	if _, err := d.fake.Tenant().AddMethod(nina, "fido2"); err != nil {
		t.Fatal(err)
	}
	// The sweep deletes the pass in Entra first and records the revocation
	// after: wait for the record, then check both.
	id := strings.TrimPrefix(reqPath, "/requests/")
	deadline := time.Now().Add(30 * time.Second)
	for storedRequest(t, d, id).State != tapdesk.StateRevoked && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	if d.fake.Tenant().CurrentTAP(nina) != nil {
		t.Fatal("the pass is still in Entra after the user registered a passkey")
	}
	agent.get(reqPath).status(http.StatusOK)
	if got := strings.TrimSpace(agent.text(`[data-testid="state"]`)); got != tapdesk.StateRevoked.Label() {
		t.Errorf("request is %q after the loop closed", got)
	}
	evs, err := d.app.db.Events(context.Background(), store.EventFilter{RequestID: id, Activity: string(tapdesk.ActLoopRemoved)})
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != 1 || evs[0].TAPMethodID != tap.ID || evs[0].Details["strong_method_kind"] != "fido2" || evs[0].Actor != tapdesk.SystemActor {
		t.Fatalf("loop event %+v", evs)
	}
}
