package main

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/tapdesk/tapdesk/store"
)

// TestRequestSurvivesSMTPDown: with the mail server gone, filing still
// works; the mail waits in the outbox and its failed attempt is audited.
func TestRequestSurvivesSMTPDown(t *testing.T) {
	d := startTestDemo(t)
	d.capture.Close()
	agent := d.browser(t)
	agent.signIn("/", "agent")
	req := fileRequestFor(t, agent, "nina.newhire@contoso.example", "Filed while the mail relay is down")
	agent.get(req).status(http.StatusOK)
	if got := agent.text(`[data-testid="state"]`); got != "Pending" {
		t.Fatalf("state %q", got)
	}
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		evs, err := d.app.db.Events(context.Background(), store.EventFilter{Activity: "Send mail failed"})
		if err != nil {
			t.Fatal(err)
		}
		if len(evs) > 0 {
			pending, _, err := d.app.db.OutboxCounts(context.Background())
			if err != nil || pending == 0 {
				t.Fatalf("the failed mail left the outbox (pending %d, %v)", pending, err)
			}
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatal("no failed mail attempt was audited")
}
