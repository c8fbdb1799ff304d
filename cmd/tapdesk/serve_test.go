package main

import (
	"context"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tapdesk/tapdesk/migrations"
)

func envFrom(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestServeNamesEveryMissingSetting(t *testing.T) {
	err := run(context.Background(), []string{"serve"}, envFrom(nil), io.Discard, io.Discard)
	if err == nil {
		t.Fatal("serve started with no configuration")
	}
	for _, name := range []string{"TAPDESK_BASE_URL", "TAPDESK_OIDC_ISSUER", "TAPDESK_OIDC_CLIENT_ID", "TAPDESK_OIDC_CLIENT_SECRET",
		"TAPDESK_GRAPH_TENANT_ID", "TAPDESK_GRAPH_CLIENT_ID", "TAPDESK_GRAPH_CLIENT_SECRET", "TAPDESK_SMTP_HOST", "TAPDESK_SMTP_FROM",
		"TAPDESK_APPROVER_EMAILS", "TAPDESK_SESSION_KEY", "TAPDESK_AUDIT_KEY"} {
		if !strings.Contains(err.Error(), name) {
			t.Errorf("the refusal does not name %s:\n%v", name, err)
		}
	}
	if strings.Contains(err.Error(), "TAPDESK_SMTP_PASSWORD ") {
		t.Error("an optional setting is reported missing")
	}
}

func validServeEnv(t *testing.T) map[string]string {
	dir := t.TempDir()
	secret := filepath.Join(dir, "graph-secret")
	if err := os.WriteFile(secret, []byte("graph-secret-from-a-file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return map[string]string{
		"TAPDESK_ADDR": "127.0.0.1:0", "TAPDESK_DB": filepath.Join(dir, "tapdesk.db"),
		"TAPDESK_BASE_URL":       "https://tapdesk.contoso.example",
		"TAPDESK_OIDC_ISSUER":    "https://login.microsoftonline.com/5f1d3c2a-7b4e-4c1a-9e8f-0a1b2c3d4e5f/v2.0",
		"TAPDESK_OIDC_CLIENT_ID": "client", "TAPDESK_OIDC_CLIENT_SECRET": "oidc-secret",
		"TAPDESK_GRAPH_TENANT_ID": "5f1d3c2a-7b4e-4c1a-9e8f-0a1b2c3d4e5f", "TAPDESK_GRAPH_CLIENT_ID": "graph-client",
		"TAPDESK_GRAPH_CLIENT_SECRET_FILE": secret,
		"TAPDESK_SMTP_HOST":                "smtp.contoso.example", "TAPDESK_SMTP_FROM": "tapdesk@contoso.example",
		"TAPDESK_APPROVER_EMAILS": "avery.approver@contoso.example, blake.backup@contoso.example",
		"TAPDESK_SESSION_KEY":     strings.Repeat("s", 32), "TAPDESK_AUDIT_KEY": strings.Repeat("a", 32),
	}
}

func TestServeRefusesMalformedSettings(t *testing.T) {
	env := validServeEnv(t)
	env["TAPDESK_BASE_URL"] = "http://tapdesk.contoso.example"
	env["TAPDESK_SESSION_KEY"] = "short"
	env["TAPDESK_ROLE_GROUPS"] = "abc=Tap.Boss"
	env["TAPDESK_DECISION_TTL"] = "a day"
	env["TAPDESK_SMTP_PORT"] = "99999"
	env["TAPDESK_NOTIFY_MANAGER"] = "sometimes"
	env["TAPDESK_GRAPH_CERTIFICATE"] = "/nonexistent/graph.pem"
	env["TAPDESK_AUDIT_KEY_FILE"] = "/nonexistent/audit-key"
	delete(env, "TAPDESK_AUDIT_KEY")
	err := run(context.Background(), []string{"serve"}, envFrom(env), io.Discard, io.Discard)
	if err == nil {
		t.Fatal("serve started with malformed settings")
	}
	for _, want := range []string{"TAPDESK_BASE_URL: must be an https URL", "TAPDESK_SESSION_KEY: must be at least 32",
		"TAPDESK_ROLE_GROUPS", "TAPDESK_DECISION_TTL", "TAPDESK_SMTP_PORT", "TAPDESK_AUDIT_KEY_FILE: cannot read",
		"TAPDESK_GRAPH_CERTIFICATE: cannot read", "TAPDESK_NOTIFY_MANAGER: must be true or false"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("refusal lacks %q:\n%v", want, err)
		}
	}
}

// TestServeStarts starts production wiring with a complete configuration
// (nothing is contacted until someone signs in) and probes it.
func TestServeStarts(t *testing.T) {
	env := validServeEnv(t)
	// Nothing answers there: readiness must say so without reaching out.
	env["TAPDESK_AUTHORITY_HOST"] = "https://127.0.0.1:1"
	addr, _ := startServe(t, env)
	client := &http.Client{Timeout: 10 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	// Graph's authority and the mail relay are out of reach: not ready,
	// and each is named, while the process is alive.
	res, err := client.Get("http://" + addr + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusServiceUnavailable || !strings.Contains(string(body), "database: ok (schema ") ||
		!strings.Contains(string(body), "graph token: failing: ") || !strings.Contains(string(body), "smtp: failing: ") {
		t.Errorf("GET /readyz: %d\n%s", res.StatusCode, body)
	}
	for path, want := range map[string]int{"/healthz": 200, "/": http.StatusSeeOther, "/demo/mailbox": 404, "/demo/idp/authorize": 404} {
		res, err := client.Get("http://" + addr + path)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != want {
			t.Errorf("GET %s: %d, want %d", path, res.StatusCode, want)
		}
	}
	res, err = client.Get("http://" + addr + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if hsts := res.Header.Get("Strict-Transport-Security"); hsts == "" {
		t.Error("serve sends no HSTS")
	}
}

func TestVersionAndMigrate(t *testing.T) {
	var out strings.Builder
	if err := run(context.Background(), []string{"version"}, envFrom(nil), &out, io.Discard); err != nil || !strings.HasPrefix(out.String(), "tapdesk ") {
		t.Errorf("version: %q %v", out.String(), err)
	}
	out.Reset()
	db := filepath.Join(t.TempDir(), "m.db")
	if err := run(context.Background(), []string{"migrate", "--db", db}, envFrom(nil), &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	// The newest migration's number (numbers may have gaps while branches
	// that each add one are merged).
	names, _ := fs.Glob(migrations.SQLite, "*.sql")
	newest := 0
	for _, name := range names {
		v, _ := strconv.Atoi(strings.SplitN(name, "_", 2)[0])
		newest = max(newest, v)
	}
	if !strings.Contains(out.String(), fmt.Sprintf("schema version %d (this tapdesk knows up to %d)", newest, newest)) {
		t.Errorf("migrate said %q", out.String())
	}
	if err := run(context.Background(), []string{"nonsense"}, envFrom(nil), io.Discard, io.Discard); err == nil {
		t.Error("an unknown command succeeded")
	}
}
