package main

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/url"
	"os"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/tapdesk/tapdesk"
	"github.com/tapdesk/tapdesk/entra"
	"github.com/tapdesk/tapdesk/internal/slogjson"
	"github.com/tapdesk/tapdesk/mail"
	"github.com/tapdesk/tapdesk/signin"
	"github.com/tapdesk/tapdesk/store"
)

// serveSettings declares every production setting once: flag, TAPDESK_*
// variable, default, and whether serve refuses to start without it.
func serveSettings() *settings {
	s := newSettings("serve")
	s.section("Server")
	s.str("addr", ":8080", "address to listen on")
	s.required("base-url", "public https URL of the portal, used in email links")
	s.database()
	s.str("log-level", "info", "debug, info, warn or error")
	s.str("log-format", tapdesk.LogFormatJSON, "json (one object a line, for a log collector) or text")
	s.str("shutdown-grace", tapdesk.ShortDuration(tapdesk.DefaultShutdownGrace), "on SIGTERM, how long requests in flight may finish before they are cut")
	s.str("sweep-interval", tapdesk.ShortDuration(tapdesk.DefaultSweepInterval), "how often the background jobs run (expiry, escalation, closing the loop), "+
		tapdesk.ShortDuration(tapdesk.MinSweepInterval)+" to "+tapdesk.ShortDuration(tapdesk.MaxSweepInterval))
	s.str("metrics-addr", "", "address to serve Prometheus /metrics on, apart from the portal, e.g. 127.0.0.1:9464 (empty or off: no metrics listener)")
	s.str("server-timing", "false", "answer each request with a Server-Timing header (tapdesk's time and its Graph time), as the demo does, for measuring; off in production, since it tells every client how long Graph took")
	s.section("Clients, proxies and limits")
	s.str("trusted-proxies", "", "comma-separated address ranges (CIDR) of the reverse proxies whose client-ip-header names the client; from anyone else it is ignored (empty: every client behind a proxy shares its address and rate limits)")
	s.str("client-ip-header", tapdesk.HeaderXForwardedFor, "the header the trusted proxies name the client in: "+tapdesk.HeaderXForwardedFor+" (read from the right, past the trusted proxies) or "+tapdesk.HeaderXRealIP+"; only this one is read")
	s.str("rate-limits", "", "changes to the default rate limits, e.g. file.person=5/10m,search.address=off (defaults: "+tapdesk.DefaultRateLimits().String()+")")
	s.str("read-timeout", tapdesk.ShortDuration(tapdesk.DefaultReadTimeout), "a request (headers and form) must arrive within this; a body trickled in slowly is cut off")
	s.str("write-timeout", tapdesk.ShortDuration(tapdesk.DefaultWriteTimeout), "a client that stops reading an answer for this long is cut off (long pages and exports are not)")

	s.section("Sign-in (the sign-in app)")
	s.required("oidc-issuer", "OIDC issuer, e.g. https://login.microsoftonline.com/{tenant-id}/v2.0")
	s.required("oidc-client-id", "application (client) id of the sign-in app registration")
	s.secret("oidc-client-secret", "client secret of the sign-in app registration", true)
	s.str("oidc-redirect-url", "", "redirect URL registered for sign-in (default {base-url}/auth/callback)")
	s.str("role-groups", "", "group object ids mapped to roles: GROUPID=Tap.Approver,GROUPID=Tap.Requester (app roles need no mapping)")

	s.section("Microsoft Graph (the Graph app)")
	s.required("graph-tenant-id", "directory (tenant) id tapdesk manages")
	s.required("graph-client-id", "application id of the Graph app registration")
	s.secret("graph-client-secret", "client secret of the Graph app registration (or use a certificate)", false)
	s.str("graph-certificate", "", "file with the Graph app's certificate and private key, PEM or PFX (instead of a secret)")
	s.secret("graph-certificate-password", "password of the certificate's key or PFX", false)
	s.str("privileged-groups", "", "comma-separated group object ids whose members, like holders of directory roles, need two approvers")
	s.str("graph-cloud", "global", "Microsoft cloud of the tenant: "+strings.Join(entra.CloudNames, ", ")+"; sets the Graph base URL and authority host")
	s.str("graph-base-url", "", "Microsoft Graph root, overriding the cloud's (e.g. https://graph.microsoft.us)")
	s.str("authority-host", "", "Entra token authority, overriding the cloud's (e.g. https://login.microsoftonline.us)")

	s.section("Mail")
	s.str("mail-transport", "smtp", "how mail goes out: smtp, or graph (Graph sendMail; the Graph app needs Mail.Send)")
	s.str("mail-from", "", "sender address; with graph, a mailbox of the tenant, e.g. tapdesk@contoso.com (with smtp, TAPDESK_SMTP_FROM wins)")

	s.str("smtp-host", "", "SMTP server (required with the smtp transport)")
	s.str("smtp-port", "587", "SMTP port")
	s.str("smtp-user", "", "SMTP user name")
	s.secret("smtp-password", "SMTP password", false)
	s.str("smtp-from", "", "sender address, e.g. tapdesk <tapdesk@example.com> (or TAPDESK_MAIL_FROM)")
	s.str("smtp-tls", "starttls", "starttls (mandatory), tls (implicit) or none (loopback only)")

	s.section("Approvals and notices")
	s.required("approver-emails", "comma-separated addresses that receive approval requests")
	s.str("escalation-emails", "", "comma-separated addresses reminded when half a request's decision time has passed without a decision (default: the approvers)")
	s.str("decision-ttl", "24h", "how long a request waits for a decision, and an approval for its issue")
	s.str("link-ttl", "24h", "how long an approval email link works")
	s.str("approver-max-age", "15m", "approvers must have signed in this recently to decide (0 disables)")
	s.str("approver-mfa", "true", "approvers must have signed in with MFA (amr claim)")
	s.str("notify-user", "true", "mail the target of a request at the address Entra holds for them when a pass is requested and issued, with a \"This wasn't me\" link")
	s.str("notify-manager", "true", "also mail the target's manager as Entra names them (false turns manager notices off)")
	s.str("security-emails", "", "comma-separated addresses alerted, with the agent and approvers, when a request is disputed (\"This wasn't me\"), and mailed every alert (see Alerts)")
	s.str("outside-pass-delete", "false", "delete Temporary Access Passes made outside tapdesk (in the Entra admin center, by a script, or with tapdesk's app but no request) as soon as they are found; they are always listed for auditors and audited")
	s.str("reveal-max-age", "15m", "agents must have signed in this recently to issue and reveal a pass (0 disables)")
	s.str("reveal-mfa", "true", "agents must have signed in with MFA (amr claim) to issue and reveal a pass")
	s.str("threat-mode", "false", "true forces heightened-threat mode on: every pass needs two approvers, is one-time at the policy's shortest lifetime, and privileged users get none; admins cannot switch it off in the portal")
	s.str("working-hours", tapdesk.DefaultWorkingHours, "when the helpdesk normally files requests: days, times and an IANA zone, like \"Mon-Fri 08:00-18:00 Europe/Berlin\"; approvers are warned of a request filed outside them")
	s.section("Alerts")
	declareAlertSettings(s)
	s.section("Sessions")
	s.str("session-idle-timeout", "30m", "a session unused this long ends")
	s.str("session-lifetime", "8h", "a session ends this long after its sign-in, however active")

	s.section("Keys")
	s.secret("session-key", "at least 32 characters; seals session data at rest", true)
	s.secret("audit-key", "at least 32 characters; keys the audit trail's hash chain (not stored in the database)", true)
	s.secret("audit-old-keys", "comma-separated audit keys used before a rotation; they only verify the events they signed", false)
	siemSettings(s)
	evidenceSettings(s)
	return s
}

func runServe(ctx context.Context, args []string, getenv func(string) string, stderr io.Writer) error {
	s := serveSettings()
	s.fs.SetOutput(stderr)
	problems, err := s.load(args, getenv)
	if err != nil {
		return err
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(s.get("log-level"))); err != nil {
		problems = append(problems, "TAPDESK_LOG_LEVEL: use debug, info, warn or error")
	}
	format, err := tapdesk.ParseLogFormat(s.get("log-format"), tapdesk.LogFormatJSON)
	if err != nil {
		problems = append(problems, "TAPDESK_LOG_FORMAT: "+tapdesk.ErrorMessage(err))
	}
	logOut, flushLog := bufferedLog(stderr) // perf-read: one write per batch of lines (logbuffer.go)
	defer flushLog()
	log := newLogger(logOut, format, level)
	grace, sweepEvery, opsProblems := opsSettings(s.get("shutdown-grace"), s.get("sweep-interval"))
	problems = append(problems, opsProblems...)

	base := strings.TrimRight(s.get("base-url"), "/")
	if u, err := url.Parse(base); base != "" && (err != nil || u.Scheme != "https" || u.Host == "") {
		problems = append(problems, "TAPDESK_BASE_URL: must be an https URL like https://tapdesk.example.com")
	}
	for _, k := range []string{"session-key", "audit-key"} {
		if v := s.get(k); v != "" && len(v) < 32 {
			problems = append(problems, fmt.Sprintf("%s: must be at least 32 characters", s.by[k].env))
		}
	}
	problems = append(problems, auditKeyProblems(s)...)
	checkpoints := evidenceConfig(s, &problems)
	problems = append(problems, signingKeyProblems(checkpoints)...)
	problems = append(problems, tenantProblems(s.get("graph-tenant-id"), s.get("oidc-issuer"))...)
	roleGroups := map[string]tapdesk.Role{}
	for _, pair := range s.listOf("role-groups") {
		g, r, ok := strings.Cut(pair, "=")
		role := tapdesk.Role(strings.TrimSpace(r))
		known := false
		for _, k := range tapdesk.AllRoles {
			known = known || k == role
		}
		if !ok || !known || strings.TrimSpace(g) == "" {
			problems = append(problems, fmt.Sprintf("TAPDESK_ROLE_GROUPS: %q is not GROUPID=Tap.Requester|Tap.Approver|Tap.Auditor|Tap.Admin", pair))
			continue
		}
		roleGroups[strings.TrimSpace(g)] = role
	}
	if _, err := entra.Cloud(s.get("graph-cloud")); err != nil {
		problems = append(problems, "TAPDESK_GRAPH_CLOUD: "+strings.TrimPrefix(err.Error(), "entra: "))
	}
	transport := strings.ToLower(strings.TrimSpace(s.get("mail-transport")))
	mailFrom := cmp.Or(s.get("smtp-from"), s.get("mail-from"))
	port := 0
	switch transport {
	case "smtp":
		if s.get("smtp-host") == "" {
			problems = append(problems, "TAPDESK_SMTP_HOST (--smtp-host) is not set: SMTP server (or send through Graph: TAPDESK_MAIL_TRANSPORT=graph)")
		}
		if mailFrom == "" {
			problems = append(problems, "TAPDESK_SMTP_FROM (--smtp-from) or TAPDESK_MAIL_FROM is not set: the sender address of tapdesk's mail")
		}
		if port, err = strconv.Atoi(s.get("smtp-port")); err != nil || port < 1 || port > 65535 {
			problems = append(problems, "TAPDESK_SMTP_PORT: must be a port number")
		}
	case "graph":
		mailFrom = s.get("mail-from")
		if mailFrom == "" {
			problems = append(problems, "TAPDESK_MAIL_FROM (--mail-from) is not set: the tenant mailbox Graph sends tapdesk's mail from")
		}
	default:
		problems = append(problems, fmt.Sprintf("TAPDESK_MAIL_TRANSPORT: %q is not smtp or graph", s.get("mail-transport")))
	}
	mfa, err := strconv.ParseBool(s.get("approver-mfa"))
	if err != nil {
		problems = append(problems, "TAPDESK_APPROVER_MFA: must be true or false")
	}
	revealMFA, err := strconv.ParseBool(s.get("reveal-mfa"))
	if err != nil {
		problems = append(problems, "TAPDESK_REVEAL_MFA: must be true or false")
	}
	var cert []byte
	switch {
	case s.get("graph-certificate") != "":
		if cert, err = os.ReadFile(s.get("graph-certificate")); err != nil {
			problems = append(problems, fmt.Sprintf("TAPDESK_GRAPH_CERTIFICATE: cannot read %s: %v", s.get("graph-certificate"), err))
		}
	case s.get("graph-client-secret") == "":
		problems = append(problems, "TAPDESK_GRAPH_CLIENT_SECRET (or _FILE) or TAPDESK_GRAPH_CERTIFICATE is not set: the Graph app registration needs a secret or a certificate")
	}
	notifyUser, err := strconv.ParseBool(s.get("notify-user"))
	if err != nil {
		problems = append(problems, "TAPDESK_NOTIFY_USER: must be true or false")
	}
	serverTiming, err := strconv.ParseBool(s.get("server-timing"))
	if err != nil {
		problems = append(problems, "TAPDESK_SERVER_TIMING: must be true or false")
	}
	notifyManager, err := strconv.ParseBool(s.get("notify-manager"))
	if err != nil {
		problems = append(problems, "TAPDESK_NOTIFY_MANAGER: must be true or false")
	}
	outsideDelete, err := strconv.ParseBool(s.get("outside-pass-delete"))
	if err != nil {
		problems = append(problems, "TAPDESK_OUTSIDE_PASS_DELETE: must be true or false")
	}
	threatMode, err := strconv.ParseBool(s.get("threat-mode"))
	if err != nil {
		problems = append(problems, "TAPDESK_THREAT_MODE: must be true or false")
	}
	decisionTTL := s.duration("decision-ttl", &problems)
	linkTTL := s.duration("link-ttl", &problems)
	maxAge := s.duration("approver-max-age", &problems)
	revealMaxAge := s.duration("reveal-max-age", &problems)
	workingHours, err := tapdesk.ParseWorkingHours(s.get("working-hours"))
	if err != nil {
		problems = append(problems, "TAPDESK_WORKING_HOURS: "+tapdesk.ErrorMessage(err))
	}
	alertThresholds := alertSettings(s, &problems)
	idle := s.duration("session-idle-timeout", &problems)
	lifetime := s.duration("session-lifetime", &problems)
	if d, err := time.ParseDuration(s.get("session-idle-timeout")); err == nil && d == 0 {
		problems = append(problems, "TAPDESK_SESSION_IDLE_TIMEOUT: must be longer than 0, like 30m")
	}
	if d, err := time.ParseDuration(s.get("session-lifetime")); err == nil && d == 0 {
		problems = append(problems, "TAPDESK_SESSION_LIFETIME: must be longer than 0, like 8h")
	}
	if idle > lifetime && lifetime > 0 {
		problems = append(problems, "TAPDESK_SESSION_IDLE_TIMEOUT: must not be longer than TAPDESK_SESSION_LIFETIME")
	}
	proxies, ipHeader, limits, netProblems := networkSettings(s.listOf("trusted-proxies"), s.get("client-ip-header"), s.get("rate-limits"))
	problems = append(problems, netProblems...)
	readTimeout := s.duration("read-timeout", &problems)
	writeTimeout := s.duration("write-timeout", &problems)
	for _, k := range []string{"read-timeout", "write-timeout"} {
		if d, err := time.ParseDuration(s.get(k)); err == nil && d == 0 {
			problems = append(problems, fmt.Sprintf("%s: must be longer than 0, like 30s", s.by[k].env))
		}
	}
	for _, root := range []struct{ flag, service, example string }{
		{"graph-base-url", "Graph", entra.DefaultGraphBaseURL}, {"authority-host", "token authority", entra.DefaultAuthorityHost},
	} {
		if p := tapdesk.ServiceRootProblem(s.get(root.flag), root.service, root.example); p != "" {
			problems = append(problems, s.by[root.flag].env+": "+p)
		}
	}
	siemCfg, siemProblems := siemFromSettings(s, siemAuthorityHost(s))
	problems = append(problems, siemProblems...)
	if len(problems) > 0 {
		return &configError{problems}
	}

	redirect := s.get("oidc-redirect-url")
	if redirect == "" {
		redirect = base + "/auth/callback"
	}
	m := newMetrics()
	dir, err := entra.New(entra.Config{
		Metrics:  m,
		TenantID: s.get("graph-tenant-id"), ClientID: s.get("graph-client-id"), ClientSecret: s.get("graph-client-secret"),
		Certificate: cert, CertificatePassword: s.get("graph-certificate-password"),
		Cloud: s.get("graph-cloud"), GraphBaseURL: s.get("graph-base-url"), AuthorityHost: s.get("authority-host"), Logger: log,
		PrivilegedGroups: s.listOf("privileged-groups"),
		// Holders of tapdesk roles are privileged targets: the sign-in app's
		// role assignments and the role groups say who they are.
		SignInClientID: s.get("oidc-client-id"), RoleGroups: roleGroups,
	})
	if err != nil {
		return &configError{[]string{"Graph: " + err.Error()}}
	}
	var sender mail.Sender
	if transport == "graph" {
		if sender, err = dir.MailSender(mailFrom); err != nil {
			return &configError{[]string{"TAPDESK_MAIL_FROM: " + err.Error()}}
		}
	} else {
		if sender, err = mail.NewSMTPSender(mail.SMTPConfig{Host: s.get("smtp-host"), Port: port, Username: s.get("smtp-user"),
			Password: s.get("smtp-password"), From: mailFrom, TLS: s.get("smtp-tls")}); err != nil {
			return &configError{[]string{"SMTP: " + err.Error()}}
		}
	}
	cfg := appConfig{
		BaseURL: base, DBPath: s.get("db"), SecureCookies: true,
		OIDC: signin.Config{Issuer: s.get("oidc-issuer"), TenantID: s.get("graph-tenant-id"), ClientID: s.get("oidc-client-id"),
			ClientSecret: s.get("oidc-client-secret"), RedirectURL: redirect, GroupRoles: roleGroups,
			PostLogoutRedirectURL: base},
		ApproverEmails: s.listOf("approver-emails"), EscalationEmails: s.listOf("escalation-emails"),
		DecisionTTL: decisionTTL, LinkTTL: linkTTL,
		ApproverMaxAge: maxAge, ApproverMFA: mfa, RevealMaxAge: revealMaxAge, RevealMFA: revealMFA, WorkingHours: workingHours,
		SessionIdleTimeout: idle, SessionLifetime: lifetime, SessionKey: s.get("session-key"),
		NotifyUser: notifyUser, NotifyManager: notifyManager, SecurityEmails: s.listOf("security-emails"), ThreatMode: threatMode,
		AuditKey: s.get("audit-key"), AuditOldKeys: s.listOf("audit-old-keys"),
		TrustedProxies: proxies, ClientIPHeader: ipHeader, RateLimits: limits,
		ReadTimeout: readTimeout, WriteTimeout: writeTimeout,
		ShutdownGrace: grace, SweepInterval: sweepEvery, ServerTiming: serverTiming, OutsidePassDelete: outsideDelete, AlertThresholds: alertThresholds,
		Settings: s.describe(), Logger: log, Metrics: m, SIEM: siemCfg, Evidence: checkpoints,
	}
	ln, err := listen(s.get("addr"))
	if err != nil {
		return err
	}
	metricsLn, err := listenMetrics(s.get("metrics-addr"))
	if err != nil {
		ln.Close()
		return err
	}
	a, err := newApp(ctx, cfg, dir, sender)
	if err != nil {
		ln.Close()
		if metricsLn != nil {
			metricsLn.Close()
		}
		return err
	}
	a.metricsLn = metricsLn
	if metricsLn != nil {
		log.Info("metrics serving", "addr", metricsLn.Addr().String(), "path", "/metrics")
	}
	log.Info("tapdesk serving", "addr", ln.Addr().String(), "base_url", base, "version", version(), "commit", currentBuild().Commit,
		"graph", dir.Endpoints().GraphBaseURL, "mail_transport", transport,
		"database", a.db.Backend(), "db", store.DisplayDSN(s.get("db")))
	gogc, limit := gcSettings()
	log.Info("garbage collector", "gogc", gogc, "memory_limit_bytes", limit)
	return a.serve(ctx, ln)
}

// newLogger logs in format (tapdesk.LogFormatJSON or LogFormatText).
func newLogger(w io.Writer, format string, level slog.Level) *slog.Logger {
	opts := &slog.HandlerOptions{Level: level}
	// slog's JSON lines, the request line (one a request) written the
	// quicker way (internal/slogjson).
	var h slog.Handler = slogjson.NewHandler(w, opts)
	if format == tapdesk.LogFormatText {
		h = slog.NewTextHandler(w, opts)
	}
	if b, ok := w.(*logBuffer); ok {
		h = flushingHandler{h, b}
	}
	return slog.New(h)
}

// opsSettings reads TAPDESK_SHUTDOWN_GRACE and TAPDESK_SWEEP_INTERVAL,
// which serve and demo share ("" takes the default).
func opsSettings(graceText, sweepText string) (grace, sweep time.Duration, problems []string) {
	grace, sweep = tapdesk.DefaultShutdownGrace, tapdesk.DefaultSweepInterval
	if graceText != "" {
		d, err := time.ParseDuration(graceText)
		if err != nil || d <= 0 {
			problems = append(problems, fmt.Sprintf("TAPDESK_SHUTDOWN_GRACE: %q is not a duration longer than 0, like 30s", graceText))
		}
		grace = d
	}
	if sweepText != "" {
		d, err := time.ParseDuration(sweepText)
		switch {
		case err != nil:
			problems = append(problems, fmt.Sprintf("TAPDESK_SWEEP_INTERVAL: %q is not a duration like 1m or 30s", sweepText))
		case tapdesk.SweepIntervalProblem(d) != "":
			problems = append(problems, "TAPDESK_SWEEP_INTERVAL: "+tapdesk.SweepIntervalProblem(d))
		}
		sweep = d
	}
	return grace, sweep, problems
}

// networkSettings reads TAPDESK_TRUSTED_PROXIES, TAPDESK_CLIENT_IP_HEADER
// and TAPDESK_RATE_LIMITS, which serve and demo share.
func networkSettings(proxyList []string, ipHeader, rateLimits string) ([]*net.IPNet, string, tapdesk.RateLimits, []string) {
	var problems []string
	proxies, err := tapdesk.ParseTrustedProxies(proxyList)
	if err != nil {
		problems = append(problems, "TAPDESK_TRUSTED_PROXIES: "+tapdesk.ErrorMessage(err))
	}
	header, err := tapdesk.ParseClientIPHeader(ipHeader)
	if err != nil {
		problems = append(problems, "TAPDESK_CLIENT_IP_HEADER: "+tapdesk.ErrorMessage(err))
	}
	limits, err := tapdesk.ParseRateLimits(rateLimits, tapdesk.DefaultRateLimits())
	if err != nil {
		problems = append(problems, "TAPDESK_RATE_LIMITS: "+tapdesk.ErrorMessage(err))
	}
	return proxies, header, limits, problems
}

// auditKeyProblems refuses the public demo key (anyone could forge a trail
// with it), as the current key or an old one.
func auditKeyProblems(s *settings) []string {
	problems := oldAuditKeyProblems(s)
	if s.get("audit-key") == demoAuditKey {
		problems = append(problems, "TAPDESK_AUDIT_KEY: is the public demo key that tapdesk demo prints, so anyone could forge the audit trail with it; "+
			"set a secret of your own, e.g. the output of openssl rand -hex 32")
	}
	for i, k := range s.listOf("audit-old-keys") {
		if k == demoAuditKey {
			problems = append(problems, fmt.Sprintf("TAPDESK_AUDIT_OLD_KEYS: key %d is the public demo key; events signed with it prove nothing, so serve does not accept it", i+1))
		}
	}
	return problems
}

// oldAuditKeyProblems checks the keys of TAPDESK_AUDIT_OLD_KEYS.
func oldAuditKeyProblems(s *settings) []string {
	var problems []string
	for i, k := range s.listOf("audit-old-keys") {
		if len(k) < store.MinAuditKeyLength {
			problems = append(problems, fmt.Sprintf("TAPDESK_AUDIT_OLD_KEYS: key %d is shorter than %d characters (keys are separated by commas)", i+1, store.MinAuditKeyLength))
		}
	}
	return problems
}

var guid = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)

// tenantProblems checks the tenant sign-in is held to: the Graph tenant id,
// which must be the tenant's GUID (the tid claim of its ID tokens is), and
// which an Entra issuer URL naming a tenant must name too.
func tenantProblems(tenant, issuer string) []string {
	if tenant == "" {
		return nil // reported as missing
	}
	if !guid.MatchString(tenant) {
		return []string{fmt.Sprintf("TAPDESK_GRAPH_TENANT_ID: %q is not a directory (tenant) id like 5f1d3c2a-7b4e-4c1a-9e8f-0a1b2c3d4e5f; "+
			"sign-in compares it with the tid claim, which is always the id, never a domain name", tenant)}
	}
	u, err := url.Parse(issuer)
	if err != nil {
		return nil // reported by sign-in
	}
	first, _, _ := strings.Cut(strings.TrimPrefix(u.Path, "/"), "/")
	if guid.MatchString(first) && !strings.EqualFold(first, tenant) {
		return []string{fmt.Sprintf("TAPDESK_OIDC_ISSUER names tenant %s but TAPDESK_GRAPH_TENANT_ID is %s: "+
			"people sign in to the tenant tapdesk manages, so both must name the same one", first, tenant)}
	}
	return nil
}
