package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tapdesk/tapdesk/siem"
)

// siemSettingsFrom parses serve's settings from env alone.
func siemSettingsFrom(t *testing.T, env map[string]string) (siemConfig, []string) {
	t.Helper()
	s := serveSettings()
	if _, err := s.load(nil, func(k string) string { return env[k] }); err != nil {
		t.Fatal(err)
	}
	return siemFromSettings(s, "https://login.microsoftonline.com")
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
