package main

import (
	"context"
	"database/sql"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"

	"github.com/tapdesk/tapdesk"
	"github.com/tapdesk/tapdesk/signin/demoidp"
	"github.com/tapdesk/tapdesk/store"
)

// serveRefuses runs serve with env and returns its error; a serve that
// starts instead is stopped after a while and fails the test.
func serveRefuses(t *testing.T, env map[string]string) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	err := run(ctx, []string{"serve"}, envFrom(env), io.Discard, io.Discard)
	if err == nil {
		t.Fatal("serve started")
	}
	return err
}

// seedTrail writes n events to the database at path under key.
func seedTrail(t *testing.T, path string, n int, key string, old ...string) {
	t.Helper()
	db, err := store.Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.SetAuditKey(key, old...); err != nil {
		t.Fatal(err)
	}
	if err := db.AppendEvents(context.Background(), n, 100, func(i int) tapdesk.Event { return syntheticEvent(i, time.Now()) }); err != nil {
		t.Fatal(err)
	}
}

// The demo's audit key is printed for everyone: serve must not sign a
// production trail with it.
func TestServeRefusesDemoAuditKey(t *testing.T) {
	env := validServeEnv(t)
	env["TAPDESK_AUDIT_KEY"] = demoAuditKey
	if err := serveRefuses(t, env); !strings.Contains(err.Error(), "TAPDESK_AUDIT_KEY: is the public demo key") {
		t.Fatalf("refusal: %v", err)
	}
	env = validServeEnv(t)
	env["TAPDESK_AUDIT_OLD_KEYS"] = strings.Repeat("o", 32) + "," + demoAuditKey
	if err := serveRefuses(t, env); !strings.Contains(err.Error(), "TAPDESK_AUDIT_OLD_KEYS: key 2 is the public demo key") {
		t.Fatalf("refusal: %v", err)
	}
}

// Started with another key than the one that wrote the trail, serve would
// sign new events that verify can never tie to the old ones.
func TestServeRefusesWrongAuditKey(t *testing.T) {
	env := validServeEnv(t)
	seedTrail(t, env["TAPDESK_DB"], 7, strings.Repeat("z", 32))
	err := serveRefuses(t, env)
	want := "the audit key does not match the trail in " + env["TAPDESK_DB"] + ": the newest event (seq 7) was signed with another key"
	if !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "TAPDESK_AUDIT_OLD_KEYS") {
		t.Fatalf("refusal %q, want %q", err, want)
	}
}

// A kept demo database written with another key is refused too.
func TestDemoRefusesWrongAuditKey(t *testing.T) {
	path := filepath.Join(t.TempDir(), "kept.db")
	seedTrail(t, path, 2, strings.Repeat("z", 32))
	d, err := startDemo(context.Background(), demoOptions{Addr: "127.0.0.1:0", DBPath: path, Logger: slog.New(slog.DiscardHandler)})
	if err == nil {
		d.close()
		t.Fatal("the demo started on a trail of another key")
	}
	if !strings.Contains(err.Error(), "the audit key does not match the trail in "+path) {
		t.Fatalf("refusal: %v", err)
	}
}

// Rotation: events under key A, then serve with key B and A as an old key.
func TestServeAfterKeyRotation(t *testing.T) {
	keyA, keyB := strings.Repeat("a", 32), strings.Repeat("b", 40)
	env := validServeEnv(t)
	db := env["TAPDESK_DB"]
	seedTrail(t, db, 5, keyA)
	env["TAPDESK_AUDIT_KEY"], env["TAPDESK_AUDIT_OLD_KEYS"] = keyB, keyA
	t.Run("starts", func(t *testing.T) { startServe(t, env) })

	both := map[string]string{"TAPDESK_AUDIT_KEY": keyB, "TAPDESK_AUDIT_OLD_KEYS": keyA}
	out, _, err := runCLI(t, both, "audit", "verify", "--db", db)
	if exitCode(err) != 0 || !strings.Contains(out, "holds: 6 events checked") {
		t.Fatalf("verify over both keys: %q %v", out, err)
	}
	raw, err := sql.Open("sqlite", db)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	var newest string
	if err := raw.QueryRow(`SELECT key_id FROM audit_events ORDER BY seq DESC LIMIT 1`).Scan(&newest); err != nil || newest != store.AuditKeyID(keyB) {
		t.Fatalf("the start-up event carries key id %q (%v), want B's %s", newest, err, store.AuditKeyID(keyB))
	}

	// Without A, verify says which key it lacks: not tampering.
	out, _, err = runCLI(t, map[string]string{"TAPDESK_AUDIT_KEY": keyB}, "audit", "verify", "--db", db)
	if exitCode(err) != 1 || !strings.Contains(out, "event 1: unknown key") ||
		!strings.Contains(out, "event 1 was signed with key id "+store.AuditKeyID(keyA)+", which is not configured") || strings.Contains(out, "changed") {
		t.Fatalf("verify without the old key: code %d %q", exitCode(err), out)
	}

	// An event moved to another configured key's id is tampering.
	if _, err := raw.Exec(`UPDATE audit_events SET key_id = ? WHERE seq = 3`, store.AuditKeyID(keyB)); err != nil {
		t.Fatal(err)
	}
	out, _, err = runCLI(t, both, "audit", "verify", "--db", db)
	if exitCode(err) != 1 || !strings.Contains(out, "does NOT check out at event 3: changed") {
		t.Fatalf("key id switched: code %d %q", exitCode(err), out)
	}
}

// A person of another organisation signs in at a provider that vouches for
// them (a multi-tenant app, a guest): tapdesk refuses them, and says so in
// the audit trail.
func TestSignInFromAnotherTenantRefused(t *testing.T) {
	guest := demoidp.Persona{Key: "guest", Name: "Gus Guest", UPN: "gus@fabrikam.example", Email: "gus@fabrikam.example",
		ObjectID: "99999999-9999-4999-8999-000000000001", Roles: []string{"Tap.Requester", "Tap.Approver"},
		TenantID: "0badc0de-0000-4000-8000-000000000000"}
	d := startTestDemoWith(t, func(o *demoOptions) { o.Personas = append(o.Personas, guest) })
	b := d.browser(t).get("/").status(http.StatusOK)
	form := b.doc().Find(`[data-testid="persona-guest"]`).Closest("form")
	vals := url.Values{}
	form.Find("input").Each(func(_ int, s *goquery.Selection) { vals.Set(s.AttrOr("name", ""), s.AttrOr("value", "")) })
	ref, _ := url.Parse(form.AttrOr("action", ""))
	b.post(b.last.Request.URL.ResolveReference(ref).String(), vals).status(http.StatusUnauthorized).
		contains("account of another organisation")
	mustAudit(t, d, string(tapdesk.ActSignInRefused), "failure", "another tenant")
	// Nobody is signed in: the home page sends the browser to sign in again.
	if b.get("/"); !strings.Contains(b.last.Request.URL.Path, "/demo/idp/authorize") {
		t.Fatalf("after the refusal, / is %s", b.last.Request.URL)
	}
}

// Sign-in holds tokens to TAPDESK_GRAPH_TENANT_ID, so it must be the
// tenant's id, and the issuer must not name another tenant.
func TestServeTenantSettings(t *testing.T) {
	env := validServeEnv(t)
	env["TAPDESK_GRAPH_TENANT_ID"] = "contoso.onmicrosoft.com"
	err := run(context.Background(), []string{"serve"}, envFrom(env), io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), `TAPDESK_GRAPH_TENANT_ID: "contoso.onmicrosoft.com" is not a directory (tenant) id`) {
		t.Fatalf("a domain as tenant id: %v", err)
	}
	env = validServeEnv(t)
	env["TAPDESK_OIDC_ISSUER"] = "https://login.microsoftonline.com/0badc0de-0000-4000-8000-000000000000/v2.0"
	err = run(context.Background(), []string{"serve"}, envFrom(env), io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "TAPDESK_OIDC_ISSUER names tenant 0badc0de-0000-4000-8000-000000000000 but TAPDESK_GRAPH_TENANT_ID is") {
		t.Fatalf("issuer of another tenant: %v", err)
	}
}
