package main

import (
	"context"
	"errors"

	"net"
	"net/http"
	"net/url"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tapdesk/tapdesk"
	"github.com/tapdesk/tapdesk/entra/fakegraph"
	"github.com/tapdesk/tapdesk/internal/freeport"
	"github.com/tapdesk/tapdesk/store"
)

// approvedChildRequest files a request for upn as agent and has approver
// approve it; it returns the request's id.
func approvedChildRequest(t *testing.T, agent, approver *crashBrowser, upn string) string {
	t.Helper()
	if err := agent.do(http.MethodGet, "/requests/new?user="+url.QueryEscape(upn), nil); err != nil {
		t.Fatal(err)
	}
	if err := agent.submit(`form[action="/requests"]`, url.Values{
		"ticket_ref": {"INC-STOP"}, "justification": {"Shutdown test"},
		"verification": {"callback"}, "verification_note": {"Called back the number on file"},
		"lifetime": {"60"}, "usable_once": {"on"},
	}); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(agent.url.Path, "/requests/") || agent.status != http.StatusOK {
		t.Fatalf("filing landed on %s (%d)", agent.url, agent.status)
	}
	id := strings.TrimPrefix(agent.url.Path, "/requests/")
	if err := approver.do(http.MethodGet, "/requests/"+id, nil); err != nil {
		t.Fatal(err)
	}
	if err := approver.submit(`form[action$="/approve"]`, nil); err != nil {
		t.Fatal(err)
	}
	if err := agent.do(http.MethodGet, "/requests/"+id, nil); err != nil {
		t.Fatal(err)
	}
	if agent.find(`form[action$="/reveal"]`).Length() == 0 {
		t.Fatalf("request %s offers no reveal after approval:\n%s", id, agent.body)
	}
	return id
}

// startRevealThenTerm starts the reveal of the request for upn the
// agent's page shows, waits until Graph has created the pass (and holds
// its answer back: the fault), and sends the child SIGTERM. It returns the
// reveal's outcome and the child's exit.
func startRevealThenTerm(t *testing.T, r *crashRig, agent *crashBrowser, upn string) (revealed chan error, exited chan struct{}, cmdState func() string) {
	t.Helper()
	revealed = make(chan error, 1)
	u, _ := r.fake.Tenant().LookupUser(upn)
	tapID := func() string {
		if tap := r.fake.Tenant().CurrentTAP(u.ID); tap != nil {
			return tap.ID
		}
		return ""
	}
	before := tapID() // the sample tenant may hold one already
	go func() { revealed <- agent.submit(`form[action$="/reveal"]`, nil) }()
	for now := tapID(); now == "" || now == before; now = tapID() {
		select {
		case err := <-revealed:
			t.Fatalf("the reveal ended before Graph saw the create: %v", err)
		case <-time.After(10 * time.Millisecond):
		}
	}
	r.mu.Lock()
	cmd := r.cmd
	exited = r.exited
	r.cmd = nil // this test stops it, not the rig's cleanup
	r.mu.Unlock()
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	return revealed, exited, func() string { return cmd.ProcessState.String() }
}

// refusesConnections waits until the child says it is stopping (it closes
// its listener right after), then until a new connection is refused while
// the child is still running its requests in flight. No count of tries: a
// busy machine may take its time over either.
func refusesConnections(t *testing.T, r *crashRig, exited chan struct{}) {
	t.Helper()
	for !strings.Contains(r.logs.String(), "stopping: no new connections") {
		select {
		case <-exited:
			t.Fatalf("tapdesk exited without saying it was stopping:\n%s", tail(r.logs.String(), 4000))
		case <-time.After(5 * time.Millisecond):
		}
	}
	for {
		conn, err := net.DialTimeout("tcp", r.addr, time.Second)
		if err == nil {
			conn.Close()
		}
		select {
		case <-exited:
			t.Fatal("tapdesk accepted connections until it exited, with a request still in flight")
		default:
		}
		if err != nil {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestGracefulShutdown stops `tapdesk serve` (a child process) with
// SIGTERM while an issue and reveal waits on Graph.
func TestGracefulShutdown(t *testing.T) {
	t.Run("a reveal in flight completes and is recorded; new connections are refused", func(t *testing.T) {
		r := newCrashRig(t)
		r.env = append(r.env, "TAPDESK_SHUTDOWN_GRACE=30s")
		r.start()
		agent, approver := r.browser("agent"), r.browser("approver")
		id := approvedChildRequest(t, agent, approver, "nina.newhire@contoso.example")
		// Graph takes its time over answering the create: SIGTERM lands
		// meanwhile. Longer than the 10 s tapdesk once waited, well within
		// the grace set.
		r.fake.SetFault(createTAP, fakegraph.Fault{HoldAfterWrite: 12 * time.Second})

		revealed, exited, state := startRevealThenTerm(t, r, agent, "nina.newhire@contoso.example")
		refusesConnections(t, r, exited)
		select {
		case err := <-revealed:
			t.Fatalf("the reveal was answered (%v) before new connections were refused: the test did not stop tapdesk mid-reveal\n%s", err, tail(r.logs.String(), 4000))
		default:
		}
		if err := <-revealed; err != nil {
			t.Fatalf("the reveal in flight was cut: %v\n%s", err, tail(r.logs.String(), 3000))
		}
		pass, ok := shownPass(agent.find(`[data-testid="pass"]`))
		if agent.status != http.StatusOK || !ok {
			t.Fatalf("the reveal answered %d without a pass:\n%s", agent.status, agent.body)
		}
		select {
		case <-exited:
		case <-time.After(30 * time.Second):
			t.Fatal("tapdesk did not exit within its grace")
		}
		if s := state(); s != "exit status 0" {
			t.Fatalf("tapdesk stopped with %s:\n%s", s, tail(r.logs.String(), 3000))
		}
		if strings.Contains(r.logs.String(), pass) {
			t.Error("the pass reached the log")
		}

		// Reopened, the database holds the issue and its events.
		ctx := context.Background()
		db, err := store.Open(ctx, r.dbPath)
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		if err := db.SetAuditKey(crashAuditKey); err != nil {
			t.Fatal(err)
		}
		req, err := db.Request(ctx, id)
		if err != nil || req.State != tapdesk.StateIssued {
			t.Fatalf("request %s after shutdown: %+v %v", id, req, err)
		}
		evs, err := db.Events(ctx, store.EventFilter{RequestID: id})
		if err != nil {
			t.Fatal(err)
		}
		seen := map[tapdesk.Activity]bool{}
		for _, ev := range evs {
			seen[ev.Activity] = true
			// Events written in the reveal's transactions carry its request
			// id, which its log line names.
			if ev.Activity != tapdesk.ActReveal {
				continue
			}
			logged := false
			for _, line := range strings.Split(r.logs.String(), "\n") {
				logged = logged || ev.HTTPRequestID != "" && strings.Contains(line, `"route":"/requests/:id/reveal","status":200`) &&
					strings.Contains(line, `"request_id":"`+ev.HTTPRequestID+`"`)
			}
			if !logged {
				t.Errorf("the reveal event's request id %q is not on the reveal's log line", ev.HTTPRequestID)
			}
		}
		for _, a := range []tapdesk.Activity{tapdesk.ActIssueStart, tapdesk.ActReveal} {
			if !seen[a] {
				t.Errorf("no %q event for %s after shutdown: %v", a, id, seen)
			}
		}
		if rep, err := db.VerifyChain(ctx); err != nil || rep.Break != nil {
			t.Fatalf("verify after shutdown: %+v %v", rep.Break, err)
		}
	})

	t.Run("a request outlasting the grace is cut, and tapdesk still exits cleanly", func(t *testing.T) {
		r := newCrashRig(t)
		metricsAddr := freeport.MustAddr(t)
		r.env = append(r.env, "TAPDESK_SHUTDOWN_GRACE=1s", "TAPDESK_METRICS_ADDR="+metricsAddr)
		r.start()
		agent, approver := r.browser("agent"), r.browser("approver")
		approvedChildRequest(t, agent, approver, "marco.rossi@contoso.example")
		r.fake.SetFault(createTAP, fakegraph.Fault{HoldAfterWrite: 20 * time.Second})

		// A scraper's connection open at shutdown: the metrics listener
		// waits for it (briefly) after the grace has passed.
		scraper, err := net.Dial("tcp", metricsAddr)
		if err != nil {
			t.Fatal(err)
		}
		defer scraper.Close()

		revealed, exited, state := startRevealThenTerm(t, r, agent, "marco.rossi@contoso.example")
		select {
		case <-exited:
		case <-time.After(15 * time.Second):
			t.Fatal("tapdesk waited past its grace for a request")
		}
		if s := state(); s != "exit status 0" {
			t.Fatalf("tapdesk stopped with %s:\n%s", s, tail(r.logs.String(), 3000))
		}
		if err := <-revealed; !errors.Is(err, errDown) {
			t.Fatalf("the reveal outlasting the grace was answered: %v (%d) %s\n%s", err, agent.status, agent.url, tail(agent.body, 1500))
		}
		if !strings.Contains(r.logs.String(), "shutdown grace passed") {
			t.Errorf("the cut is not logged:\n%s", tail(r.logs.String(), 3000))
		}
		// The metrics listener stops on its own deadline, not the grace
		// that has passed: no error about it on the normal cut.
		for _, line := range strings.Split(r.logs.String(), "\n") {
			if (strings.Contains(line, "level=ERROR") || strings.Contains(line, `"level":"ERROR"`)) && strings.Contains(line, "metrics") {
				t.Errorf("an error about metrics on a grace cut: %s", line)
			}
		}
	})
}
