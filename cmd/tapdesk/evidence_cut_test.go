package main

import (
	"context"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tapdesk/tapdesk"
	"github.com/tapdesk/tapdesk/evidence"
	"github.com/tapdesk/tapdesk/store"
)

// Someone with database access cuts the trail's end (the request's issue
// and reveal events with it) after a checkpoint was published over them.
// Neither the CLI nor a freshly started server (which never saw the cut
// events) signs a pack naming that checkpoint without the events: both
// refuse, and the refusal is audited as tampering.
func TestPackRefusedOverACutTrail(t *testing.T) {
	d := startTestDemo(t)
	ctx := context.Background()
	agent := d.browser(t)
	agent.signIn("/", "agent")
	req, _ := issuedFor(t, d, agent, "nina.newhire@contoso.example", "New starter, first day, no methods yet")
	id := strings.TrimPrefix(req, "/requests/")
	if _, err := d.app.evidence.PublishNow(ctx, "test"); err != nil {
		t.Fatal(err)
	}
	issued, err := d.app.db.Events(ctx, store.EventFilter{RequestID: id, Activity: string(tapdesk.ActIssueStart)})
	if err != nil || len(issued) != 1 {
		t.Fatalf("issue events %+v: %v", issued, err)
	}
	raw := attacker(t, d)
	write(t, raw, `DELETE FROM audit_events WHERE seq >= ?`, issued[0].Seq)

	refusals := func() []tapdesk.Event {
		t.Helper()
		evs, err := d.app.db.Events(ctx, store.EventFilter{RequestID: id, Activity: string(tapdesk.ActTamperDetected)})
		if err != nil {
			t.Fatal(err)
		}
		var out []tapdesk.Event
		for _, e := range evs {
			if strings.Contains(e.Reason, "evidence pack refused") {
				out = append(out, e)
			}
		}
		return out
	}

	t.Run("the CLI", func(t *testing.T) {
		f := filepath.Join(t.TempDir(), "p.json")
		env := map[string]string{"TAPDESK_AUDIT_KEY": demoAuditKey, "TAPDESK_AUDIT_SIGNING_KEY": evidence.PrivateKeyPEM(demoSigningKey())}
		_, stderr, err := runCLI(t, env, "audit", "evidence", id, "--db", d.dbPath, "--out", f)
		if err == nil {
			// A pack was written: check-evidence must at least refuse it.
			out, _, cerr := runCLI(t, nil, "audit", "check-evidence", f, "--public-key", demoPublicKeyFile(t))
			t.Fatalf("the CLI signed a pack over the cut trail (%s); check-evidence said (%v):\n%s", stderr, cerr, out)
		}
		if !strings.Contains(err.Error(), "does not check out") {
			t.Errorf("the CLI's refusal: %v", err)
		}
		if _, serr := os.Stat(f); !os.IsNotExist(serr) {
			t.Errorf("the CLI wrote a pack file though it refused (%v)", serr)
		}
		if n := len(refusals()); n != 1 {
			t.Errorf("%d refusals audited as tampering, want 1", n)
		}
	})

	t.Run("a restarted server", func(t *testing.T) {
		fresh := startTestDemoWith(t, func(o *demoOptions) { o.DBPath = d.dbPath })
		b := fresh.browser(t)
		b.signIn("/", "agent")
		b.get(req + "/evidence").status(http.StatusConflict)
		if !strings.Contains(b.body, "will not sign evidence from it") {
			t.Errorf("the refusal has no sentence:\n%s", b.body)
		}
		if strings.HasPrefix(strings.TrimSpace(b.body), "{") {
			t.Error("the refusal looks like a pack")
		}
		if n := len(refusals()); n != 2 {
			t.Logf("%+v\n%s", refusals(), fresh.logs.String())
			t.Errorf("%d refusals audited as tampering, want 2 (the CLI's and the server's)", n)
		}
	})
}

// Someone with database access cuts the trail after its last checkpoint:
// the request's events are all there, before the checkpoint, but the
// events after it are gone, its publication event with them. A pack over
// that trail would present a trail that does not verify as good evidence:
// neither the CLI nor a restarted server signs one; the web answers 409
// with a sentence, and each refusal is audited as tampering.
func TestPackRefusedOverATrailCutAfterItsCheckpoint(t *testing.T) {
	d := startTestDemo(t)
	ctx := context.Background()
	agent := d.browser(t)
	agent.signIn("/", "agent")
	req := approvedRequest(t, d, agent)
	id := strings.TrimPrefix(req, "/requests/")
	agent.get(req).status(http.StatusOK)
	agent.submit(`form[action$="/reveal"]`, nil).status(http.StatusOK)
	cp, err := d.app.evidence.PublishNow(ctx, "test")
	if err != nil {
		t.Fatal(err)
	}
	// Events after the checkpoint: its publication, and someone signing in.
	b := d.browser(t)
	b.signIn("/", "auditor")
	raw := attacker(t, d)
	write(t, raw, `DELETE FROM audit_events WHERE seq > ?`, cp.Seq)

	refusals := func() int {
		t.Helper()
		evs, err := d.app.db.Events(ctx, store.EventFilter{RequestID: id, Activity: string(tapdesk.ActTamperDetected)})
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, e := range evs {
			if strings.Contains(e.Reason, "evidence pack refused") && strings.Contains(e.Reason, "cut off the end") {
				n++
			}
		}
		return n
	}

	t.Run("the CLI", func(t *testing.T) {
		f := filepath.Join(t.TempDir(), "p.json")
		env := map[string]string{"TAPDESK_AUDIT_KEY": demoAuditKey, "TAPDESK_AUDIT_SIGNING_KEY": evidence.PrivateKeyPEM(demoSigningKey())}
		_, stderr, err := runCLI(t, env, "audit", "evidence", id, "--db", d.dbPath, "--out", f)
		if err == nil {
			t.Fatalf("the CLI signed a pack over a trail cut after its checkpoint (%s)", stderr)
		}
		if !strings.Contains(err.Error(), "does not check out") || !strings.Contains(err.Error(), "cut off the end") {
			t.Errorf("the CLI's refusal does not say what happened: %v", err)
		}
		if _, serr := os.Stat(f); !os.IsNotExist(serr) {
			t.Errorf("the CLI wrote a pack file though it refused (%v)", serr)
		}
		if n := refusals(); n != 1 {
			t.Errorf("%d refusals audited as tampering, want 1", n)
		}
	})

	t.Run("a restarted server", func(t *testing.T) {
		fresh := startTestDemoWith(t, func(o *demoOptions) { o.DBPath = d.dbPath })
		b := fresh.browser(t)
		b.signIn("/", "agent")
		b.get(req + "/evidence").status(http.StatusConflict)
		if !strings.Contains(b.body, "will not sign evidence from it") {
			t.Errorf("the refusal has no sentence:\n%s", b.body)
		}
		if strings.HasPrefix(strings.TrimSpace(b.body), "{") {
			t.Error("the refusal looks like a pack")
		}
		if n := refusals(); n != 2 {
			t.Errorf("%d refusals audited as tampering, want 2 (the CLI's and the server's)", n)
		}
	})
}
