package main

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tapdesk/tapdesk"
	"github.com/tapdesk/tapdesk/evidence"
	"github.com/tapdesk/tapdesk/store"
)

// An issued request's evidence pack: downloaded by its agent and by an
// auditor (no one else), signed over a checkpoint published for it, free
// of the pass, and checked offline by check-evidence, which refuses it
// once tampered with and names what. The CLI writes the same pack.
func TestEvidencePack(t *testing.T) {
	d := startTestDemo(t)
	ctx := context.Background()
	agent := d.browser(t)
	agent.signIn("/", "agent")
	req, pass := issuedFor(t, d, agent, "nina.newhire@contoso.example", "New starter, first day, no methods yet")
	id := strings.TrimPrefix(req, "/requests/")

	agent.get(req).status(http.StatusOK)
	href, ok := agent.doc().Find(`[data-testid="evidence-link"]`).Attr("href")
	if !ok || href != req+"/evidence" {
		t.Fatalf("the agent's request page links the pack at %q (%v)", href, ok)
	}
	agent.get(href).status(http.StatusOK)
	if cd := agent.last.Header.Get("Content-Disposition"); cd != `attachment; filename="tapdesk-evidence-`+id+`.json"` {
		t.Errorf("Content-Disposition %q", cd)
	}
	if cc := agent.last.Header.Get("Cache-Control"); cc != "no-store" {
		t.Errorf("Cache-Control %q, want no-store", cc)
	}
	pack := agent.body
	if strings.Contains(pack, pass) {
		t.Fatal("the pass is in the evidence pack")
	}
	var p evidence.Pack
	if err := json.Unmarshal([]byte(pack), &p); err != nil {
		t.Fatal(err)
	}
	sealed, err := d.app.db.SealedEvents(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	// Mail sent since, and the export itself, came after the pack.
	for len(sealed) > 0 && len(p.Events) > 0 && sealed[len(sealed)-1].Seq > p.Events[len(p.Events)-1].Seq {
		sealed = sealed[:len(sealed)-1]
	}
	if len(p.Events) != len(sealed) || len(sealed) < 4 {
		t.Fatalf("the pack holds %d events, the trail %d of the request", len(p.Events), len(sealed))
	}
	for i, e := range p.Events {
		if e.Seq != sealed[i].Seq || e.MAC != sealed[i].MAC {
			t.Errorf("pack event %d is %d:%s, the trail's %d:%s", i, e.Seq, e.MAC, sealed[i].Seq, sealed[i].MAC)
		}
	}
	if p.Manifest.Checkpoint.Seq < sealed[len(sealed)-1].Seq {
		t.Errorf("checkpoint at %d, before the last event %d", p.Manifest.Checkpoint.Seq, sealed[len(sealed)-1].Seq)
	}
	published := func() int {
		evs, err := d.app.db.Events(ctx, store.EventFilter{Activity: string(tapdesk.ActCheckpointPublished)})
		if err != nil {
			t.Fatal(err)
		}
		return len(evs)
	}
	if n := published(); n != 1 {
		t.Errorf("%d checkpoints published for the pack, want 1 (none existed after its events)", n)
	}
	if evs, _ := d.app.db.Events(ctx, store.EventFilter{RequestID: id, Activity: string(tapdesk.ActEvidenceExported)}); len(evs) != 1 || evs[0].Actor.UPN != "alex.agent@contoso.example" {
		t.Errorf("the export is not audited once, by the agent: %+v", evs)
	}

	dir := t.TempDir()
	packFile := filepath.Join(dir, "pack.json")
	if err := os.WriteFile(packFile, []byte(pack), 0o600); err != nil {
		t.Fatal(err)
	}
	key := demoPublicKeyFile(t)
	out, _, err := runCLI(t, nil, "audit", "check-evidence", packFile, "--public-key", key)
	if err != nil || !strings.Contains(out, "The evidence pack checks out: request "+id) {
		t.Fatalf("check-evidence on the pack as downloaded: %v\n%s", err, out)
	}

	t.Run("tampered packs are refused", func(t *testing.T) {
		for name, c := range map[string]struct {
			change func(*evidence.Pack)
			want   string
		}{
			"an edited justification": {func(p *evidence.Pack) { p.Request.Justification = "Routine" }, "The request " + id + " was changed"},
			"a removed event": {func(p *evidence.Pack) { p.Events = append(p.Events[:1], p.Events[2:]...) },
				"is missing from the pack"},
			"an edited reason": {func(p *evidence.Pack) { p.Events[len(p.Events)-1].Reason = "nothing to see" }, "was changed after the pack was signed"},
			"a changed seq":    {func(p *evidence.Pack) { p.Events[0].Seq += 100000 }, "is not among the signed events"},
		} {
			t.Run(name, func(t *testing.T) {
				var q evidence.Pack
				if err := json.Unmarshal([]byte(pack), &q); err != nil {
					t.Fatal(err)
				}
				c.change(&q)
				b, _ := json.MarshalIndent(q, "", "  ")
				bad := filepath.Join(t.TempDir(), "pack.json")
				if err := os.WriteFile(bad, b, 0o600); err != nil {
					t.Fatal(err)
				}
				out, _, err := runCLI(t, nil, "audit", "check-evidence", bad, "--public-key", key)
				if exitCode(err) != 1 || !strings.Contains(out, "does NOT check out") || !strings.Contains(out, c.want) {
					t.Fatalf("code %d, want 1 saying %q:\n%s", exitCode(err), c.want, out)
				}
			})
		}
	})

	t.Run("who may download it", func(t *testing.T) {
		for persona, want := range map[string]int{
			"auditor":   http.StatusOK,
			"agent2":    http.StatusNotFound,  // may not see the request at all
			"approver":  http.StatusForbidden, // decided it, but the pack is not theirs to hand out
			"approver2": http.StatusForbidden, // not on it
			"admin":     http.StatusOK,        // the demo's admin is an auditor too
		} {
			t.Run(persona, func(t *testing.T) {
				b := d.browser(t)
				b.signIn("/", persona)
				b.get(href).status(want)
				if want == http.StatusOK {
					if strings.Contains(b.body, pass) {
						t.Fatal("the pass is in the auditor's pack")
					}
					b.get(req).status(http.StatusOK)
					if b.doc().Find(`[data-testid="evidence-link"]`).Length() != 1 {
						t.Error("the auditor's request page has no evidence link")
					}
					return
				}
				if b.get(req); b.last.StatusCode == http.StatusOK && b.doc().Find(`[data-testid="evidence-link"]`).Length() != 0 {
					t.Error("the request page links a pack this person may not download")
				}
			})
		}
	})
	// Each export is an event of the request, so the next pack needs a
	// checkpoint after it; one published since is reused. The mail about
	// the issue is the request's too: it goes out first, or its events
	// could land after the checkpoint and the CLI would rightly publish.
	outboxDrained(t, d)
	if _, err := d.app.evidence.PublishNow(ctx, "test"); err != nil {
		t.Fatal(err)
	}
	before := published()

	t.Run("from the CLI", func(t *testing.T) {
		env := map[string]string{"TAPDESK_AUDIT_KEY": demoAuditKey, "TAPDESK_AUDIT_SIGNING_KEY": evidence.PrivateKeyPEM(demoSigningKey())}
		keyOut, _, err := runCLI(t, env, "audit", "public-key")
		if err != nil || keyOut != evidence.PublicKeyPEM(demoSigningKey().Public().(ed25519.PublicKey)) {
			t.Fatalf("public-key: %v\n%s", err, keyOut)
		}
		outFile := filepath.Join(t.TempDir(), "cli-pack.json")
		if _, stderr, err := runCLI(t, env, "audit", "evidence", id, "--db", d.dbPath, "--out", outFile); err != nil {
			t.Fatalf("audit evidence: %v\n%s", err, stderr)
		}
		b, err := os.ReadFile(outFile)
		if err != nil || strings.Contains(string(b), pass) {
			t.Fatalf("CLI pack: %v (or the pass is in it)", err)
		}
		out, _, err := runCLI(t, nil, "audit", "check-evidence", outFile, "--public-key", keyOut)
		if err != nil || !strings.Contains(out, "checks out") {
			t.Fatalf("check-evidence on the CLI's pack (key given as PEM): %v\n%s", err, out)
		}
		if n := published(); n != before {
			t.Errorf("the CLI's pack published a checkpoint (%d, was %d), though one after the events exists", n, before)
		}
		if _, _, err := runCLI(t, env, "audit", "evidence", "01NOSUCHREQUEST00000000000", "--db", d.dbPath); err == nil || !strings.Contains(err.Error(), "no request") {
			t.Errorf("an unknown request: %v", err)
		}
	})
}
