package main

import (
	"cmp"
	"context"
	"strconv"
	"strings"
	"time"

	"golang.org/x/oauth2/clientcredentials"

	"github.com/tapdesk/tapdesk"
	"github.com/tapdesk/tapdesk/entra"
	"github.com/tapdesk/tapdesk/handlers"
	"github.com/tapdesk/tapdesk/metrics"
	"github.com/tapdesk/tapdesk/siem"
	"github.com/tapdesk/tapdesk/store"
)

// siemConfig is the SIEM stream: its sinks (none: no stream) and tuning.
type siemConfig struct {
	Sinks   []siem.Sink
	Options siem.Options
}

// defaultMonitorScope is the Entra scope of Azure Monitor's Logs
// Ingestion API (Microsoft Sentinel) in the global cloud.
const defaultMonitorScope = "https://monitor.azure.com//.default"

// siemSettings declares the SIEM stream's settings.
func siemSettings(s *settings) {
	s.section("SIEM streaming")
	s.str("siem-webhook-url", "", "https URL audit events are POSTed to in batches as they are written (empty: no webhook); Splunk HEC: https://HOST:8088/services/collector/event, Sentinel: https://DCE/dataCollectionRules/DCR-ID/streams/Custom-Tapdesk_CL?api-version=2023-01-01 (see docs/SIEM.md)")
	s.str("siem-webhook-format", siem.FormatJSONLines, "the batch's body: jsonl (one JSON object a line), json-array (Sentinel's Logs Ingestion API) or splunk-event (Splunk HEC's /services/collector/event envelope)")
	s.str("siem-webhook-auth-header", "Authorization", "the header siem-webhook-auth is sent in")
	s.secret("siem-webhook-auth", "the auth header's value sent with each batch, e.g. \"Splunk <HEC token>\" or \"Bearer <token>\"", false)
	s.str("siem-webhook-ca-file", "", "PEM file of a CA the webhook's certificate is trusted through, besides the system's (a private CA)")
	s.str("siem-webhook-entra-client-id", "", "for Sentinel: application (client) id of an app registration allowed to publish to the data collection rule; tapdesk then fetches an Entra token for each batch (instead of siem-webhook-auth)")
	s.secret("siem-webhook-entra-client-secret", "client secret of that app registration", false)
	s.str("siem-webhook-entra-tenant-id", "", "directory (tenant) id of that app registration (default: graph-tenant-id)")
	s.str("siem-webhook-entra-scope", defaultMonitorScope, "the scope the Entra token is asked for (Azure Monitor's; https://monitor.azure.us//.default in US Government)")
	s.str("siem-syslog-addr", "", "host:port of a syslog receiver taking RFC 5424 over TLS (RFC 5425, usually port 6514) (empty: no syslog)")
	s.str("siem-syslog-ca-file", "", "PEM file of a CA the syslog receiver's certificate is trusted through, besides the system's")
	s.str("siem-syslog-client-cert", "", "PEM file of a client certificate for receivers that ask for one (with siem-syslog-client-key)")
	s.str("siem-syslog-client-key", "", "PEM file of the client certificate's private key")
	s.str("siem-batch-size", strconv.Itoa(siem.DefaultBatch), "the most events sent in one batch (also at most 512 KiB of JSON)")
	s.str("siem-retry-max", tapdesk.ShortDuration(siem.DefaultMaxBackoff), "the longest wait between attempts while a SIEM is down (waits double from 1s, with jitter); events are never dropped")
}

// siemFromSettings builds the sinks the settings ask for. authorityHost is
// the Entra token authority (the Graph cloud's, or authority-host).
func siemFromSettings(s *settings, authorityHost string) (siemConfig, []string) {
	var cfg siemConfig
	var problems []string
	if u := s.get("siem-webhook-url"); u != "" {
		wc := siem.WebhookConfig{URL: u, Format: strings.TrimSpace(s.get("siem-webhook-format")),
			AuthHeader: s.get("siem-webhook-auth-header"), AuthValue: s.get("siem-webhook-auth"), CAFile: s.get("siem-webhook-ca-file")}
		if id := s.get("siem-webhook-entra-client-id"); id != "" {
			tenant := cmp.Or(s.get("siem-webhook-entra-tenant-id"), s.get("graph-tenant-id"))
			if s.get("siem-webhook-entra-client-secret") == "" {
				problems = append(problems, "TAPDESK_SIEM_WEBHOOK_ENTRA_CLIENT_SECRET (or _FILE) is not set: the secret of the app registration TAPDESK_SIEM_WEBHOOK_ENTRA_CLIENT_ID names")
			}
			if wc.AuthValue != "" {
				problems = append(problems, "TAPDESK_SIEM_WEBHOOK_AUTH and TAPDESK_SIEM_WEBHOOK_ENTRA_CLIENT_ID are both set: use one")
			}
			cc := clientcredentials.Config{ClientID: id, ClientSecret: s.get("siem-webhook-entra-client-secret"),
				TokenURL: strings.TrimRight(authorityHost, "/") + "/" + tenant + "/oauth2/v2.0/token",
				Scopes:   []string{s.get("siem-webhook-entra-scope")}}
			wc.Token = cc.TokenSource(context.Background())
		}
		if w, err := siem.NewWebhook(wc); err != nil {
			problems = append(problems, "TAPDESK_SIEM_WEBHOOK_URL: "+err.Error())
		} else {
			cfg.Sinks = append(cfg.Sinks, w)
		}
	}
	if addr := s.get("siem-syslog-addr"); addr != "" {
		sl, err := siem.NewSyslog(siem.SyslogConfig{Addr: addr, CAFile: s.get("siem-syslog-ca-file"),
			CertFile: s.get("siem-syslog-client-cert"), KeyFile: s.get("siem-syslog-client-key")})
		if err != nil {
			problems = append(problems, "TAPDESK_SIEM_SYSLOG_ADDR: "+err.Error())
		} else {
			cfg.Sinks = append(cfg.Sinks, sl)
		}
	}
	if n, err := strconv.Atoi(s.get("siem-batch-size")); err != nil || n < 1 || n > 10000 {
		problems = append(problems, "TAPDESK_SIEM_BATCH_SIZE: must be a number from 1 to 10000")
	} else {
		cfg.Options.Batch = n
	}
	if d, err := time.ParseDuration(s.get("siem-retry-max")); err != nil || d < time.Second {
		problems = append(problems, "TAPDESK_SIEM_RETRY_MAX: must be a duration of 1s or more, like 5m")
	} else {
		cfg.Options.MaxBackoff = d
	}
	return cfg, problems
}

// siemAuthorityHost is the Entra token authority the settings name.
func siemAuthorityHost(s *settings) string {
	if h := s.get("authority-host"); h != "" {
		return h
	}
	if c, err := entra.Cloud(s.get("graph-cloud")); err == nil {
		return c.AuthorityHost
	}
	return entra.DefaultAuthorityHost
}

// newSIEM wires the stream, if any sink is configured: its metrics, and a
// kick on every audit commit so events go out as they are written.
func newSIEM(cfg appConfig, db *store.DB, m *metrics.Metrics) *siem.Streamer {
	if len(cfg.SIEM.Sinks) == 0 {
		return nil
	}
	names := make([]string, len(cfg.SIEM.Sinks))
	for i, s := range cfg.SIEM.Sinks {
		names[i] = s.Name()
	}
	opts := cfg.SIEM.Options
	opts.Now, opts.Logger = cfg.Now, cfg.Logger
	opts.Metrics = m.NewSIEM(names, func(ctx context.Context, sink string) (metrics.SIEMLag, error) {
		behind, oldest, err := db.SIEMLag(ctx, sink)
		return metrics.SIEMLag{Behind: behind, Oldest: oldest}, err
	}, cfg.Now)
	st := siem.NewStreamer(db, cfg.SIEM.Sinks, opts)
	prev := db.AuditCommitted
	db.AuditCommitted = func(c tapdesk.Category, n int) {
		if prev != nil {
			prev(c, n)
		}
		st.Kick()
	}
	for _, s := range cfg.SIEM.Sinks {
		cfg.Logger.Info("siem: streaming audit events", "sink", s.Name(), "target", s.Target())
	}
	return st
}

// siemReadyChecks list each sink on /readyz. They never fail: a SIEM
// outage must not take the portal out of its load balancer, and the
// events wait in the trail until it is back.
func siemReadyChecks(st *siem.Streamer) []handlers.ReadyCheck {
	if st == nil {
		return nil
	}
	var checks []handlers.ReadyCheck
	for i, s := range st.Sinks() {
		checks = append(checks, handlers.ReadyCheck{Name: "siem " + s.Name(), Check: func(context.Context) (string, error) {
			return s.Target() + ": " + st.Status(i), nil
		}})
	}
	return checks
}

// startSIEM runs the stream on ctx; the function it returns waits for it
// to stop (ctx ended) and give up its leases.
func (a *app) startSIEM(ctx context.Context) func() {
	if a.siem == nil {
		return func() {}
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		a.siem.Run(ctx)
	}()
	return func() { <-done }
}
