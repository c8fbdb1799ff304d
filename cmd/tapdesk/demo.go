package main

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/tapdesk/tapdesk"
	"github.com/tapdesk/tapdesk/entra"
	"github.com/tapdesk/tapdesk/entra/fakegraph"
	"github.com/tapdesk/tapdesk/evidence"
	"github.com/tapdesk/tapdesk/mail"
	"github.com/tapdesk/tapdesk/signin"
	"github.com/tapdesk/tapdesk/signin/demoidp"
	"github.com/tapdesk/tapdesk/store"
	"github.com/tapdesk/tapdesk/views"
)

// demoAuditKey keys the demo's audit chain. It is fixed and public so that
// `tapdesk audit verify` works on a kept demo database; serve never uses it.
const demoAuditKey = "tapdesk-demo-audit-key-not-a-secret"

// demoSecurityEmail is alerted when a demo request is disputed.
const demoSecurityEmail = "security@contoso.example"

// demoOptions are the few knobs of `tapdesk demo`.
type demoOptions struct {
	Addr   string
	DBPath string // a SQLite file or a postgres:// URL; empty: a fresh file in a temp folder
	// SessionKey seals sessions (empty: a random one). Two demos on one
	// database given the same key honour each other's sessions.
	SessionKey   string
	Logger       *slog.Logger
	MailInterval time.Duration
	// DecisionTTL is how long a request waits for a decision (default 24h);
	// SweepInterval how often expiry and escalation run (default 1m).
	DecisionTTL   time.Duration
	SweepInterval time.Duration
	// ShutdownGrace as TAPDESK_SHUTDOWN_GRACE (0: serve's default).
	ShutdownGrace time.Duration
	// ApproverMaxAge is how recent an approver's sign-in must be (default
	// 15m, as in production).
	ApproverMaxAge time.Duration
	Personas       []demoidp.Persona // default demoidp.DefaultPersonas()
	// RoleGroups maps groups of the sample tenant to roles, as
	// TAPDESK_ROLE_GROUPS does for serve.
	RoleGroups map[string]tapdesk.Role
	// ManagerNoticesOff turns manager notices off (TAPDESK_NOTIFY_MANAGER=false).
	ManagerNoticesOff bool
	// NoSecurityEmails leaves TAPDESK_SECURITY_EMAILS empty (fix-flash:
	// alerts then are recorded, not mailed).
	NoSecurityEmails bool
	// ThreatMode forces heightened-threat mode on (TAPDESK_THREAT_MODE).
	ThreatMode bool
	// TrustedProxies and RateLimits as TAPDESK_TRUSTED_PROXIES and
	// TAPDESK_RATE_LIMITS set them for serve (nil: none trusted, and
	// production's limits).
	TrustedProxies []*net.IPNet
	RateLimits     tapdesk.RateLimits
	// RateMaxAddressKeys bounds the address buckets (0: production's).
	RateMaxAddressKeys int
	// ClientIPHeader as TAPDESK_CLIENT_IP_HEADER (empty: X-Forwarded-For).
	ClientIPHeader string
	// ReadTimeout and WriteTimeout bound each request as serve's settings
	// do (0: serve's defaults).
	ReadTimeout  time.Duration
	WriteTimeout time.Duration
	// Tenant is the fake Graph's directory (nil: the built-in sample
	// tenant). The benchmark gives one with many more users.
	Tenant *fakegraph.Tenant
	// Now is the clock of the portal and the demo identity provider
	// (default time.Now); tests move it to age sign-ins and sessions.
	Now tapdesk.Clock
	// WorkingHours as TAPDESK_WORKING_HOURS (zero: its default).
	WorkingHours tapdesk.WorkingHours
	// AlertThresholds as serve's alert settings (zero fields: defaults).
	AlertThresholds tapdesk.AlertThresholds
	// MetricsAddr is where /metrics is served ("" or "off": nowhere).
	MetricsAddr string
	// ReadyCacheOK and ReadyCacheFailed are how long /readyz keeps its
	// answers (0: production's); tests keep them longer than they run.
	ReadyCacheOK, ReadyCacheFailed time.Duration
	// OutsidePassDelete as TAPDESK_OUTSIDE_PASS_DELETE (off, as serve's default).
	OutsidePassDelete bool
	// SIEM streams the demo's audit trail as serve's siem-* settings do
	// (none: it does not).
	SIEM siemConfig
	// Checkpoints are where signed checkpoints go and how often (the
	// demo signs with its public demo key when Signer is nil).
	Checkpoints evidence.PublisherConfig
}

// demoEnv is the whole product on loopback: the portal, a fake Graph over
// HTTPS, a real OIDC provider, and an SMTP capture server. The real code
// paths run: msgraph-sdk-go speaks HTTP to the fake, go-oidc verifies
// signed tokens, mail goes over SMTP.
type demoEnv struct {
	app     *app
	ln      net.Listener
	fake    *fakegraph.Server
	capture *mail.Capture
	idp     *demoidp.Provider
	baseURL string
	dbPath  string
	// metricsURL is the scrape URL ("" when metrics are off).
	metricsURL string
	cleanups   []func()
}

func startDemo(ctx context.Context, o demoOptions) (_ *demoEnv, err error) {
	d := &demoEnv{} // not the result: "return nil, err" must not nil it before the cleanup
	defer func() {
		if err != nil {
			d.close()
		}
	}()
	log := o.Logger
	if d.ln, err = listen(o.Addr); err != nil {
		return nil, err
	}
	d.cleanups = append(d.cleanups, func() { d.ln.Close() }) // serving closes it too; twice is harmless
	if err := demoOnLoopback(o.Addr, d.ln.Addr()); err != nil {
		return nil, err
	}
	d.baseURL = "http://" + d.ln.Addr().String()

	d.dbPath = o.DBPath
	if d.dbPath == "" {
		dir, err := os.MkdirTemp("", "tapdesk-demo-")
		if err != nil {
			return nil, err
		}
		d.dbPath = filepath.Join(dir, "tapdesk.db")
	}

	metricsLn, err := listenMetrics(o.MetricsAddr)
	if err != nil {
		return nil, err
	}
	if metricsLn != nil {
		d.cleanups = append(d.cleanups, func() { metricsLn.Close() })
		d.metricsURL = "http://" + metricsLn.Addr().String() + "/metrics"
	}
	m := newMetrics()

	tenant := o.Tenant
	if tenant == nil {
		tenant = fakegraph.SampleTenant()
	}
	if d.fake, err = fakegraph.NewServer(tenant, fakegraph.WithLogger(log.With("component", "fakegraph"))); err != nil {
		return nil, err
	}
	d.cleanups = append(d.cleanups, d.fake.Close)
	// serve's transport, trusting the fake's certificate.
	graphClient := &http.Client{Transport: entra.NewTransport(d.fake.ClientTLSConfig())}
	dir, err := entra.New(entra.Config{
		TenantID: tenant.ID, ClientID: tenant.ClientID, ClientSecret: tenant.ClientSecret,
		GraphBaseURL: d.fake.URL(), AuthorityHost: d.fake.URL(), HTTPClient: graphClient, Logger: log,
		SignInClientID: fakegraph.SampleSignInClientID, RoleGroups: o.RoleGroups, Metrics: m,
	})
	if err != nil {
		return nil, err
	}

	if d.capture, err = mail.StartCapture(); err != nil {
		return nil, err
	}
	d.cleanups = append(d.cleanups, func() { d.capture.Close() })
	sender, err := mail.NewSMTPSender(mail.SMTPConfig{Host: d.capture.Host(), Port: d.capture.Port(),
		From: "tapdesk demo <tapdesk@contoso.example>", TLS: "none"})
	if err != nil {
		return nil, err
	}

	personas := o.Personas
	if personas == nil {
		personas = demoidp.DefaultPersonas()
	}
	issuer := d.baseURL + "/demo/idp"
	var idpOpts []demoidp.Option
	if o.Now != nil {
		idpOpts = append(idpOpts, demoidp.WithClock(o.Now))
	}
	if d.idp, err = demoidp.New(issuer, personas, idpOpts...); err != nil {
		return nil, err
	}
	clientSecret := randomHex(16)
	// The sign-in app's client id is the one whose service principal in the
	// sample tenant holds the Tap.* app roles.
	d.idp.RegisterClient(fakegraph.SampleSignInClientID, clientSecret, d.baseURL+"/auth/callback")
	d.idp.RegisterPostLogoutRedirect(fakegraph.SampleSignInClientID, d.baseURL)

	var approvers []string
	for _, p := range personas {
		for _, r := range p.Roles {
			if r == "Tap.Approver" {
				approvers = append(approvers, p.Email)
			}
		}
	}
	cfg := appConfig{
		BaseURL: d.baseURL, DBPath: d.dbPath, Demo: true, SecureCookies: false,
		OIDC: signin.Config{Issuer: issuer, TenantID: tenant.ID, ClientID: fakegraph.SampleSignInClientID, ClientSecret: clientSecret,
			RedirectURL: d.baseURL + "/auth/callback", GroupRoles: o.RoleGroups, PostLogoutRedirectURL: d.baseURL, Now: o.Now},
		ApproverEmails: approvers, DecisionTTL: cmp.Or(o.DecisionTTL, 24*time.Hour), LinkTTL: 24 * time.Hour,
		SweepInterval: o.SweepInterval, ShutdownGrace: o.ShutdownGrace,
		ReadyCacheOK: o.ReadyCacheOK, ReadyCacheFailed: o.ReadyCacheFailed,
		ApproverMaxAge: cmp.Or(o.ApproverMaxAge, 15*time.Minute), ApproverMFA: true,
		NotifyUser: true, NotifyManager: !o.ManagerNoticesOff, SecurityEmails: demoSecurityEmails(o), ThreatMode: o.ThreatMode,
		// Issuing and sessions keep production's limits, so the demo shows them.
		RevealMaxAge: 15 * time.Minute, RevealMFA: true, Now: o.Now, WorkingHours: o.WorkingHours, AlertThresholds: o.AlertThresholds,
		TrustedProxies: o.TrustedProxies, ClientIPHeader: o.ClientIPHeader, RateLimits: o.RateLimits,
		RateMaxAddressKeys: o.RateMaxAddressKeys,
		SessionKey:         cmp.Or(o.SessionKey, randomHex(32)), AuditKey: demoAuditKey, MailInterval: o.MailInterval, Logger: log,
		ReadTimeout: o.ReadTimeout, WriteTimeout: o.WriteTimeout, Metrics: m, OutsidePassDelete: o.OutsidePassDelete,
		Settings: map[string]string{"mode": "demo", "base_url": d.baseURL, "db": store.DisplayDSN(d.dbPath)},
		SIEM:     o.SIEM,
		Evidence: demoEvidence(o.Checkpoints),
	}
	if d.app, err = newApp(ctx, cfg, dir, sender); err != nil {
		return nil, err
	}
	d.app.metricsLn = metricsLn
	d.app.handler.DemoRoutes(d.app.echo, d.idp.Handler(), d.mailbox)
	return d, nil
}

// demoOnLoopback refuses a demo bound beyond loopback. The demo signs
// people in over plain http with a persona picker anyone may use, and its
// address is also the sign-in redirect and issuer URL, which "0.0.0.0" or
// "[::]" cannot be: a browser elsewhere could neither sign in nor be kept
// off. Loopback (127.0.0.1, [::1], localhost) is the demo's whole world.
func demoOnLoopback(asked string, bound net.Addr) error {
	if tcp, ok := bound.(*net.TCPAddr); ok && tcp.IP.IsLoopback() {
		return nil
	}
	return fmt.Errorf("tapdesk demo listens on this machine's loopback only, and %s is not loopback: "+
		"its sign-in runs over plain http with a persona picker anyone could use, and its address doubles as the sign-in redirect URL. "+
		"Use --addr 127.0.0.1:PORT (or localhost:PORT); to serve other machines, run tapdesk serve behind https", asked)
}

// mailbox lists the captured messages for the demo mailbox page.
func (d *demoEnv) mailbox() []views.MailboxMessage {
	var out []views.MailboxMessage
	for _, m := range d.capture.Messages() {
		out = append(out, views.MailboxMessage{ID: m.ID, From: m.From, To: m.To, Subject: m.Subject, Text: m.Text, Received: m.Received})
	}
	return out
}

// run serves until ctx ends.
func (d *demoEnv) run(ctx context.Context) error {
	defer d.close()
	return d.app.serve(ctx, d.ln)
}

func (d *demoEnv) close() {
	if d.app != nil {
		d.app.close()
	}
	for i := len(d.cleanups) - 1; i >= 0; i-- {
		d.cleanups[i]()
	}
	d.cleanups = nil
}

// printWelcome tells the newcomer where to go and who to be.
func (d *demoEnv) printWelcome(w io.Writer) {
	fmt.Fprintf(w, "\ntapdesk DEMO is running at %s\n\n", d.baseURL)
	fmt.Fprintf(w, "  database:      %s (%s)\n", store.DisplayDSN(d.dbPath), d.app.db.Backend())
	fmt.Fprintf(w, "  fake Graph:    %s/v1.0 (sample tenant contoso.example)\n", d.fake.URL())
	fmt.Fprintf(w, "  demo mailbox:  %s/demo/mailbox (SMTP capture on %s)\n", d.baseURL, d.capture.Addr())
	if d.metricsURL != "" {
		fmt.Fprintf(w, "  metrics:       %s (Prometheus)\n", d.metricsURL)
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Personas (pick one on the demo sign-in page):")
	for _, p := range d.idp.Personas() {
		fmt.Fprintf(w, "  %-10s %-16s %-34s %s\n", p.Key, p.Name, p.UPN, strings.Join(p.Roles, ", "))
	}
	fmt.Fprintln(w, "\nTry: sign in as agent, find \"Nina\", file a request; sign out, open the approval")
	fmt.Fprintln(w, "link from the demo mailbox as approver and approve; sign in as agent again and reveal.")
	fmt.Fprintln(w, "As auditor, see \"Made outside tapdesk\": Nina's pass, made by Grace Global in the admin center.")
	fmt.Fprintln(w, "\nThe audit trail is hash-chained with a public demo key; check it with:")
	fmt.Fprintf(w, "  TAPDESK_AUDIT_KEY=%s go run ./cmd/tapdesk audit verify --db '%s'\n", demoAuditKey, store.DisplayDSN(d.dbPath))
	printDemoEvidenceKey(w)
	fmt.Fprintln(w, "Press Ctrl+C to stop.")
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// demoSecurityEmails is the demo's TAPDESK_SECURITY_EMAILS.
func demoSecurityEmails(o demoOptions) []string {
	if o.NoSecurityEmails {
		return nil
	}
	return []string{demoSecurityEmail}
}
