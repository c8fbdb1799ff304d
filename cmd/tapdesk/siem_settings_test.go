package main

import (
	"context"
	"encoding/json"
	"encoding/pem"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tapdesk/tapdesk/siem"
)

// siemSettingsFrom parses serve's settings from env alone.
func siemSettingsFrom(t *testing.T, env map[string]string) (siemConfig, []string) {
	return siemSettingsWith(t, env, "https://login.microsoftonline.com")
}

func siemSettingsWith(t *testing.T, env map[string]string, authority string) (siemConfig, []string) {
	t.Helper()
	s := serveSettings()
	if _, err := s.load(nil, func(k string) string { return env[k] }); err != nil {
		t.Fatal(err)
	}
	return siemFromSettings(s, authority)
}

// The SIEM settings: none set streams nothing; each sink is built from its
// settings, the auth value read from its _FILE secret; and every mistake
// is named by its variable, all at once.
func TestSIEMSettings(t *testing.T) {
	t.Run("off by default", func(t *testing.T) {
		cfg, problems := siemSettingsFrom(t, nil)
		if len(cfg.Sinks) != 0 || len(problems) != 0 {
			t.Errorf("defaults gave sinks %v, problems %v", cfg.Sinks, problems)
		}
		if cfg.Options.Batch != siem.DefaultBatch || cfg.Options.MaxBackoff != siem.DefaultMaxBackoff {
			t.Errorf("default options %+v", cfg.Options)
		}
	})
	t.Run("both sinks", func(t *testing.T) {
		token := filepath.Join(t.TempDir(), "hec-token")
		if err := os.WriteFile(token, []byte("Splunk 1234-abcd\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		cfg, problems := siemSettingsFrom(t, map[string]string{
			"TAPDESK_SIEM_WEBHOOK_URL": "https://splunk.example.com:8088/services/collector/event", "TAPDESK_SIEM_WEBHOOK_FORMAT": "splunk-event",
			"TAPDESK_SIEM_WEBHOOK_AUTH_FILE": token, "TAPDESK_SIEM_SYSLOG_ADDR": "siem.example.com:6514",
			"TAPDESK_SIEM_BATCH_SIZE": "50", "TAPDESK_SIEM_RETRY_MAX": "2m"})
		if len(problems) != 0 || len(cfg.Sinks) != 2 {
			t.Fatalf("sinks %v, problems %v", cfg.Sinks, problems)
		}
		if cfg.Sinks[0].Target() != "https://splunk.example.com:8088/services/collector/event" || cfg.Sinks[1].Target() != "syslog+tls://siem.example.com:6514" {
			t.Errorf("targets %s, %s", cfg.Sinks[0].Target(), cfg.Sinks[1].Target())
		}
		if cfg.Options.Batch != 50 || cfg.Options.MaxBackoff.String() != "2m0s" {
			t.Errorf("options %+v", cfg.Options)
		}
		s := serveSettings()
		s.load(nil, func(k string) string { return map[string]string{"TAPDESK_SIEM_WEBHOOK_AUTH_FILE": token}[k] })
		if got := s.get("siem-webhook-auth"); got != "Splunk 1234-abcd" {
			t.Errorf("auth read from its file = %q", got)
		}
		if d := s.describe()["TAPDESK_SIEM_WEBHOOK_AUTH"]; d != "(set)" {
			t.Errorf("the start-up event would record the token as %q", d)
		}
	})
	t.Run("mistakes", func(t *testing.T) {
		_, problems := siemSettingsFrom(t, map[string]string{
			"TAPDESK_SIEM_WEBHOOK_URL": "http://splunk.example.com/services/collector", "TAPDESK_SIEM_SYSLOG_ADDR": "siem.example.com",
			"TAPDESK_SIEM_BATCH_SIZE": "0", "TAPDESK_SIEM_RETRY_MAX": "soon"})
		all := strings.Join(problems, "\n")
		for _, v := range []string{"TAPDESK_SIEM_WEBHOOK_URL: must be an https URL", "TAPDESK_SIEM_SYSLOG_ADDR: must be host:port",
			"TAPDESK_SIEM_BATCH_SIZE", "TAPDESK_SIEM_RETRY_MAX"} {
			if !strings.Contains(all, v) {
				t.Errorf("no problem names %q:\n%s", v, all)
			}
		}
		_, problems = siemSettingsFrom(t, map[string]string{"TAPDESK_SIEM_WEBHOOK_URL": "https://dce.example/x",
			"TAPDESK_SIEM_WEBHOOK_FORMAT": "xml", "TAPDESK_SIEM_WEBHOOK_ENTRA_CLIENT_ID": "app"})
		all = strings.Join(problems, "\n")
		for _, v := range []string{"TAPDESK_SIEM_WEBHOOK_ENTRA_CLIENT_SECRET", `format "xml"`} {
			if !strings.Contains(all, v) {
				t.Errorf("no problem names %q:\n%s", v, all)
			}
		}
	})
}

// Sentinel as the guide sets it up: tapdesk gets an Entra token by client
// credentials (tenant from the Graph setting, Azure Monitor's scope) and
// posts a JSON array with it as a bearer token to the DCR's stream, over
// TLS trusted through the CA file; 204 acknowledges.
func TestSIEMSentinelShape(t *testing.T) {
	tokens := 0
	authority := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.ParseForm()
		if r.URL.Path != "/tenant-1/oauth2/v2.0/token" || r.PostForm.Get("grant_type") != "client_credentials" ||
			r.PostForm.Get("scope") != defaultMonitorScope {
			t.Errorf("token request %s %v", r.URL.Path, r.PostForm)
		}
		id, secret, ok := r.BasicAuth()
		if !ok {
			id, secret = r.PostForm.Get("client_id"), r.PostForm.Get("client_secret")
		}
		if id != "sentinel-app" || secret != "s3cret" {
			t.Errorf("token request as %q", id)
		}
		tokens++
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"access_token":"entra-token-1","token_type":"Bearer","expires_in":3600}`)
	}))
	defer authority.Close()
	var got []map[string]any
	ingest := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/dataCollectionRules/dcr-abc/streams/Custom-Tapdesk" || r.URL.Query().Get("api-version") != "2023-01-01" ||
			r.Header.Get("Authorization") != "Bearer entra-token-1" || r.Header.Get("Content-Type") != "application/json" {
			t.Errorf("ingestion request %s %s %q", r.URL.Path, r.Header.Get("Content-Type"), r.Header.Get("Authorization"))
		}
		if err := json.NewDecoder(r.Body).Decode(&got); err != nil {
			t.Errorf("body is not a JSON array: %v", err)
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	defer ingest.Close()
	dir := t.TempDir()
	ca := filepath.Join(dir, "ca.pem")
	os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ingest.Certificate().Raw}), 0o600)
	secret := filepath.Join(dir, "secret")
	os.WriteFile(secret, []byte("s3cret\n"), 0o600)

	cfg, problems := siemSettingsWith(t, map[string]string{"TAPDESK_GRAPH_TENANT_ID": "tenant-1",
		"TAPDESK_SIEM_WEBHOOK_URL":    ingest.URL + "/dataCollectionRules/dcr-abc/streams/Custom-Tapdesk?api-version=2023-01-01",
		"TAPDESK_SIEM_WEBHOOK_FORMAT": "json-array", "TAPDESK_SIEM_WEBHOOK_CA_FILE": ca,
		"TAPDESK_SIEM_WEBHOOK_ENTRA_CLIENT_ID": "sentinel-app", "TAPDESK_SIEM_WEBHOOK_ENTRA_CLIENT_SECRET_FILE": secret}, authority.URL)
	if len(problems) > 0 || len(cfg.Sinks) != 1 {
		t.Fatalf("sinks %v, problems %v", cfg.Sinks, problems)
	}
	events := []siem.Event{{Seq: 7, JSON: []byte(`{"seq":7,"activityDisplayName":"Sign in"}`)}, {Seq: 8, JSON: []byte(`{"seq":8}`)}}
	for range 2 {
		if err := cfg.Sinks[0].Send(context.Background(), events); err != nil {
			t.Fatal(err)
		}
	}
	if len(got) != 2 || got[0]["seq"] != 7.0 || got[1]["seq"] != 8.0 {
		t.Errorf("Sentinel received %v", got)
	}
	if tokens != 1 {
		t.Errorf("%d tokens fetched for two batches, want 1 (kept until it expires)", tokens)
	}
}
