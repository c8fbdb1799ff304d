package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/textproto"
	"sync"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/tapdesk/tapdesk"
	"github.com/tapdesk/tapdesk/alerts"
	"github.com/tapdesk/tapdesk/evidence"
	"github.com/tapdesk/tapdesk/handlers"
	"github.com/tapdesk/tapdesk/mail"
	"github.com/tapdesk/tapdesk/metrics"
	"github.com/tapdesk/tapdesk/outside"
	"github.com/tapdesk/tapdesk/ratelimit"
	"github.com/tapdesk/tapdesk/siem"
	"github.com/tapdesk/tapdesk/signin"
	"github.com/tapdesk/tapdesk/store"
)

// appConfig is everything the running portal needs, from serve's settings
// or demo's embedded defaults.
type appConfig struct {
	// ReadyCacheOK and ReadyCacheFailed as handlers.Config (0: defaults).
	ReadyCacheOK, ReadyCacheFailed time.Duration
	BaseURL                        string
	DBPath                         string
	Demo                           bool
	SecureCookies                  bool
	OIDC                           signin.Config
	ApproverEmails                 []string
	// EscalationEmails are reminded of undecided requests (default: approvers).
	EscalationEmails []string
	// SweepInterval is how often expiry and escalation run (default 1m).
	SweepInterval time.Duration
	// ShutdownGrace is how long requests in flight may finish once tapdesk
	// is told to stop (0: tapdesk.DefaultShutdownGrace).
	ShutdownGrace  time.Duration
	DecisionTTL    time.Duration
	LinkTTL        time.Duration
	ApproverMaxAge time.Duration
	ApproverMFA    bool
	// NotifyUser and NotifyManager tell the target and their manager about
	// a pass requested and issued; SecurityEmails hear of disputes.
	NotifyUser     bool
	NotifyManager  bool
	SecurityEmails []string
	RevealMaxAge   time.Duration
	RevealMFA      bool
	// ThreatMode forces heightened-threat mode on (TAPDESK_THREAT_MODE).
	ThreatMode bool
	// WorkingHours: requests filed outside them are a risk approvers are
	// shown (zero: tapdesk.DefaultWorkingHours).
	WorkingHours tapdesk.WorkingHours
	// SessionIdleTimeout and SessionLifetime end sessions (0: 30m and 8h).
	SessionIdleTimeout time.Duration
	SessionLifetime    time.Duration
	// Now is the clock of the handlers, the mail worker and the sweeps
	// (default time.Now). Tests move it, or run an instance "later".
	Now          tapdesk.Clock
	SessionKey   string
	AuditKey     string
	AuditOldKeys []string // keys before a rotation: verify only
	MailInterval time.Duration
	// ReadTimeout bounds reading a whole request, body included (a body
	// trickled in byte by byte is cut off); WriteTimeout how long one write
	// of a response may stall (0: tapdesk.DefaultReadTimeout and
	// DefaultWriteTimeout).
	ReadTimeout  time.Duration
	WriteTimeout time.Duration
	Settings     map[string]string // for the start-up audit event, no secrets
	Logger       *slog.Logger

	// TrustedProxies are the reverse proxies whose ClientIPHeader names the
	// client; from anyone else it is ignored. ClientIPHeader is
	// X-Forwarded-For (default) or X-Real-IP: only that one is read.
	TrustedProxies []*net.IPNet
	ClientIPHeader string
	// RateLimits pace the limited actions (nil: tapdesk.DefaultRateLimits).
	RateLimits tapdesk.RateLimits
	// RateMaxAddressKeys bounds the limiter's address buckets (0:
	// tapdesk.RateMaxAddressKeys); tests lower it to fill it quickly.
	RateMaxAddressKeys int
	// Metrics is the registry the parts count in (nil: a new one); serve
	// and demo make it first, since the Graph client counts in it too.
	Metrics *metrics.Metrics
	// ServerTiming sends Server-Timing outside the demo too (TAPDESK_SERVER_TIMING).
	ServerTiming bool
	// OutsidePassDelete deletes passes made outside tapdesk
	// (TAPDESK_OUTSIDE_PASS_DELETE).
	OutsidePassDelete bool
	// SIEM streams the audit trail to a SIEM (no sinks: it does not).
	SIEM siemConfig
	// AlertThresholds are the alert rules' limits (zero fields: defaults).
	AlertThresholds tapdesk.AlertThresholds
	// Evidence signs and publishes audit checkpoints and evidence packs
	// (no Signer: neither; see evidence.go).
	Evidence evidence.PublisherConfig
}

// app is a wired portal: database, web handlers, mail worker.
type app struct {
	cfg     appConfig
	db      *store.DB
	echo    *echo.Echo
	handler *handlers.Handler
	worker  *mail.Worker
	siem    *siem.Streamer // nil: no SIEM sink configured
	metrics *metrics.Metrics
	alerts  *alerts.Job
	// metricsLn, when set before serve, serves /metrics alongside.
	metricsLn net.Listener
	// firstSweep is closed once the sweep that runs at start has finished,
	// so tests that count what the sweep writes can wait for it.
	firstSweep chan struct{}
	// sharedLimits says the rate limits are counted in the database, whose
	// spent rows the sweep deletes.
	sharedLimits bool
	// outside looks for passes made outside tapdesk (nil: the directory
	// reads no audit log).
	outside *outside.Watch
	stop    []func()
	// evidence publishes signed checkpoints and builds evidence packs
	// (nil without a signing key).
	evidence *evidence.Publisher
	// threatFinding is the tampering with heightened-threat mode this
	// process last recorded (checkThreatMode), so a finding that lasts is
	// recorded once, not at every sweep. threatMu serialises the checks
	// (tests run sweeps beside the timer's).
	threatMu      sync.Mutex
	threatFinding string
	threatWalked  *store.Head // how far checkThreatMode has walked the trail
}

// newApp wires the portal. dir and sender are the two edges that differ
// between serve and demo (real Graph and SMTP, or the fakes on loopback).
func newApp(ctx context.Context, cfg appConfig, dir tapdesk.Directory, sender mail.Sender) (*app, error) {
	log := cfg.Logger
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	cfg.ReadTimeout = cmp.Or(cfg.ReadTimeout, tapdesk.DefaultReadTimeout)
	cfg.WriteTimeout = cmp.Or(cfg.WriteTimeout, tapdesk.DefaultWriteTimeout)
	db, err := store.Open(ctx, cfg.DBPath)
	if err != nil {
		return nil, fmt.Errorf("tapdesk cannot open its database (TAPDESK_DB, --db): %w", err)
	}
	for _, f := range db.FilesTightened() {
		log.Warn("a database file was readable by other users; restricted to its owner", "file", f.Path, "was", fmt.Sprintf("%04o", f.Was), "now", "0600")
	}
	db.Now = cfg.Now
	if cfg.Metrics == nil {
		cfg.Metrics = newMetrics()
	}
	a := &app{cfg: cfg, db: db, metrics: cfg.Metrics, firstSweep: make(chan struct{})}
	countFromStore(a.metrics, db)
	if err := db.SetAuditKey(cfg.AuditKey, cfg.AuditOldKeys...); err != nil {
		db.Close()
		return nil, err
	}
	// Refuse a trail this key did not write before chaining anything onto it.
	if err := db.CheckAuditKey(ctx); err != nil {
		db.Close()
		return nil, err
	}
	a.stop = append(a.stop, func() { db.Close() })
	a.stop = append(a.stop, listenForChanges(ctx, db, log))

	auth, err := signin.New(cfg.OIDC)
	if err != nil {
		a.close()
		return nil, err
	}
	sessions, stopCleanup := handlers.NewSessions(db.SessionRows(), log, cfg.SecureCookies, cfg.SessionKey, cfg.SessionIdleTimeout, cfg.SessionLifetime)
	a.stop = append(a.stop, stopCleanup)

	composer := &mail.RequestComposer{Store: db, BaseURL: cfg.BaseURL, LinkTTL: cfg.LinkTTL, Now: cfg.Now}
	a.alerts = &alerts.Job{Store: db, Thresholds: cfg.AlertThresholds.OrDefaults(), Hours: cfg.WorkingHours, SecurityEmails: cfg.SecurityEmails, Metrics: a.metrics}
	a.worker = mail.NewWorker(db, &mail.AlertComposer{Store: db, BaseURL: cfg.BaseURL, Next: composer}, sender, mail.WorkerOptions{Interval: cfg.MailInterval, Logger: log, Now: cfg.Now, Metrics: a.metrics})

	a.siem = newSIEM(cfg, db, a.metrics)
	limiter, err := a.rateLimiter()
	if err != nil {
		a.close()
		return nil, err
	}
	a.startEvidence()
	var packer handlers.EvidencePacker
	if a.evidence != nil {
		packer = a.evidence
	}
	a.handler = handlers.New(handlers.Deps{Evidence: packer,
		Store: db, Directory: dir, Auth: auth, Sessions: sessions, KickMail: a.worker.Kick, ReadyChecks: append(append(readyChecks(dir, sender), siemReadyChecks(a.siem)...), outsideReadyChecks(a, dir)...),
		Limiter: limiter, Metrics: a.metrics,
		RaiseAlerts: a.raiseAlertsNow,
		Config: handlers.Config{
			Demo: cfg.Demo, ServerTiming: cfg.ServerTiming, SecureCookies: cfg.SecureCookies, ApproverEmails: cfg.ApproverEmails,
			DecisionTTL: cfg.DecisionTTL, ApproverMaxAge: cfg.ApproverMaxAge, ApproverMFA: cfg.ApproverMFA,
			NotifyUser: cfg.NotifyUser, NotifyManager: cfg.NotifyManager, SecurityEmails: cfg.SecurityEmails,
			RevealMaxAge: cfg.RevealMaxAge, RevealMFA: cfg.RevealMFA, WorkingHours: cfg.WorkingHours,
			SessionIdleTimeout: cfg.SessionIdleTimeout, SessionLifetime: cfg.SessionLifetime,
			RateLimits: cfg.RateLimits, WriteTimeout: cfg.WriteTimeout, Logger: log, Now: cfg.Now,
			TrustedProxies: cfg.TrustedProxies, ReadyCacheOK: cfg.ReadyCacheOK, ReadyCacheFailed: cfg.ReadyCacheFailed,
			RoleGroups: cfg.OIDC.GroupRoles, AlertThresholds: a.alerts.Thresholds, ThreatModeForced: cfg.ThreatMode,
		},
	})
	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	e.IPExtractor = clientIP(cfg.TrustedProxies, cfg.ClientIPHeader)
	// Every request is bounded: its headers in size and time, its body (at
	// most tapdesk.MaxFormBytes, handlers.limitBody) in time, and each write
	// of its answer (the handlers push the write deadline on as they write,
	// so slow pages and long exports are not cut off; they count on the
	// server's WriteTimeout being the handlers' for the first deadline,
	// handlers.writeDeadline).
	e.Server.ReadHeaderTimeout = min(tapdesk.MaxReadHeaderTimeout, cfg.ReadTimeout)
	e.Server.ReadTimeout = cfg.ReadTimeout
	e.Server.WriteTimeout = cfg.WriteTimeout
	e.Server.IdleTimeout = tapdesk.IdleTimeout
	e.Server.MaxHeaderBytes = tapdesk.MaxHeaderBytes
	a.handler.Routes(e)
	// Every request is looked at for forwarding headers first. Not as
	// echo's Pre middleware: with any, echo builds two closures for every
	// request.
	e.Server.Handler = warnForwarding(e, cfg.TrustedProxies, cfg.ClientIPHeader, log)
	a.echo = e
	if l, ok := dir.(outside.AuditLog); ok {
		a.outside = outside.New(l, db, outside.Options{Delete: cfg.OutsidePassDelete, Logger: log, Metrics: a.metrics})
	}

	if err := db.AppendEvent(ctx, tapdesk.Event{Activity: tapdesk.ActServiceStarted, Category: tapdesk.CatService,
		Details: cfg.Settings}); err != nil {
		a.close()
		return nil, err
	}
	if err := forceThreatMode(ctx, db, cfg); err != nil {
		a.close()
		return nil, err
	}
	return a, nil
}

// rateLimiter is where the limits are counted. On PostgreSQL, several
// instances may serve behind one load balancer: they count together in the
// database, or an attacker alternating between them would get each one's
// limit. On SQLite, the one instance counts in memory: a check there costs
// microseconds, where a row would cost a write queued behind the one writer
// (a hundred times slower; see BenchmarkRateLimiterTake).
func (a *app) rateLimiter() (handlers.Limiter, error) {
	if !store.IsPostgresURL(a.cfg.DBPath) {
		return ratelimit.NewMemory(a.cfg.RateMaxAddressKeys), nil
	}
	a.sharedLimits = true
	// The audit key: every instance of one installation has the same.
	return a.db.RateLimiter(a.cfg.AuditKey)
}

// serve runs the portal on ln until ctx ends, then shuts down gracefully:
// it stops accepting, lets requests in flight finish (an issue and reveal
// under way completes and is recorded) for up to cfg.ShutdownGrace, then
// stops the mail worker and the sweep, writes the refusal counts and
// closes the database. Requests still running when the grace is up are
// cut; an issue cut short is settled by the next start's sweep (its claim
// outlives the process).
func (a *app) serve(ctx context.Context, ln net.Listener) error {
	// The workers outlive ctx until the requests in flight are done: mail
	// they queue still goes out, and the sweep does not race them.
	workCtx, stopWork := context.WithCancel(context.WithoutCancel(ctx))
	defer stopWork()
	workerDone := make(chan struct{})
	go func() {
		defer close(workerDone)
		if err := a.worker.Run(workCtx); err != nil && !errors.Is(err, context.Canceled) {
			a.cfg.Logger.Error("mail worker stopped", "err", err)
		}
	}()
	siemDone := a.startSIEM(workCtx)
	sweepDone := make(chan struct{})
	go func() {
		defer close(sweepDone)
		a.sweep(workCtx)
	}()
	metricsDone := make(chan struct{})
	var metricsSrv *http.Server
	if a.metricsLn != nil {
		metricsSrv = metricsServer(a.metrics)
		go func() {
			defer close(metricsDone)
			serveMetrics(metricsSrv, a.metricsLn, a.cfg.Logger)
		}()
	} else {
		close(metricsDone)
	}
	srvErr := make(chan error, 1)
	go func() { srvErr <- a.echo.Server.Serve(ln) }()
	var err error
	select {
	case <-ctx.Done():
	case err = <-srvErr:
	}
	grace := cmp.Or(a.cfg.ShutdownGrace, tapdesk.DefaultShutdownGrace)
	a.cfg.Logger.Info("stopping: no new connections; waiting for requests in flight", "grace", grace.String())
	shutCtx, done := context.WithTimeout(context.Background(), grace)
	defer done()
	if serr := a.echo.Server.Shutdown(shutCtx); serr != nil {
		// The grace is up: cut what is still running rather than hang.
		a.cfg.Logger.Warn("stopping: the shutdown grace passed with requests still running; they are cut", "grace", grace.String(), "err", serr)
		a.echo.Server.Close()
	}
	// Metrics are served to the end of the portal's shutdown, so the last
	// scrape sees the requests that finished during it.
	// Its own short deadline: after a grace cut shutCtx has expired, and
	// reusing it would cut the last scrape and log an error every time.
	if metricsSrv != nil {
		metricsCtx, metricsDone := context.WithTimeout(context.Background(), metricsShutdownWait)
		if serr := metricsSrv.Shutdown(metricsCtx); serr != nil {
			a.cfg.Logger.Warn("stopping the metrics listener: a scrape outlasted its wait; it is cut", "wait", metricsShutdownWait.String(), "err", serr)
			metricsSrv.Close()
		}
		metricsDone()
	}
	<-metricsDone
	stopWork()
	<-workerDone
	<-sweepDone
	siemDone()
	// Refusals counted in windows still open are written before the
	// database closes, so a restart loses no count.
	if _, ferr := a.handler.FlushRefusals(context.Background(), a.cfg.Now(), true); ferr != nil {
		a.cfg.Logger.Error("writing the counts of refusals at shutdown", "err", ferr)
	}
	a.publishAtShutdown(shutCtx)
	a.close()
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	if err == nil {
		a.cfg.Logger.Info("stopped")
	}
	return err
}

// metricsShutdownWait is how long a scrape running at shutdown may take to
// finish: a scrape takes milliseconds.
const metricsShutdownWait = 2 * time.Second

// sweep settles issues interrupted past their claim's lease, expires
// requests whose time is up, escalates undecided ones and removes passes
// whose user has registered a strong method, on a timer,
// until ctx ends. The work and its audit events live in the store and the
// handlers; this is only the clock.
func (a *app) sweep(ctx context.Context) {
	every := cmp.Or(a.cfg.SweepInterval, tapdesk.DefaultSweepInterval)
	to := a.cfg.EscalationEmails
	if len(to) == 0 {
		to = a.cfg.ApproverEmails
	}
	t := time.NewTicker(every)
	defer t.Stop()
	first := true
	for {
		a.sweepOnce(ctx, to)
		if first {
			close(a.firstSweep)
			first = false
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// sweepOnce runs every background job once, at the app's clock.
func (a *app) sweepOnce(ctx context.Context, escalateTo []string) {
	now := a.cfg.Now()
	// Stale claims first: settling one may expire it, or free it for
	// expiry, in the same sweep.
	jobs := []struct {
		name, failed string
		run          func() (int, error)
	}{
		{"claims_settled", "settling interrupted issues", func() (int, error) { return a.handler.SettleClaims(ctx, now) }},
		{"expired", "expiry sweep", func() (int, error) { return a.db.ExpireDue(ctx, now) }},
		{"escalated", "escalation sweep", func() (int, error) { return a.db.EscalateDue(ctx, now, escalateTo) }},
		{"passes_removed", "closing the loop", func() (int, error) { return a.handler.CloseLoop(ctx, now) }},
		{"outside_passes", "looking for passes made outside tapdesk", func() (int, error) { return a.outside.Run(ctx, now) }},
		{"refusal_counts", "writing the counts of refusals", func() (int, error) { return a.handler.FlushRefusals(ctx, now, false) }},
		// Before the alert rules, so its tamper event is alerted on in the
		// same sweep.
		{"threat_mode_tampering", "holding heightened-threat mode to the audit trail", func() (int, error) { return a.checkThreatMode(ctx) }},
		{"alerts_raised", "evaluating the alert rules", func() (int, error) { return a.alerts.Run(ctx, now) }},
		{"audit_checkpoints", "publishing the audit checkpoint", func() (int, error) { return a.publishCheckpoint(ctx) }},
		// Last, so the log the other jobs wrote goes too. Every sweep (a
		// minute by default) is soon enough to give the space back after a
		// burst; SQLite's own checkpoints keep the log bounded meanwhile.
		{"wal_checkpoint", "checkpointing the write-ahead log", func() (int, error) { _, err := a.db.CheckpointWAL(ctx); return 0, err }},
	}
	done, total := make([]any, 0, 2*len(jobs)), 0
	for _, j := range jobs {
		n, err := j.run()
		if err != nil && ctx.Err() == nil {
			a.cfg.Logger.Error(j.failed, "err", err)
		}
		if ctx.Err() == nil {
			a.metrics.SweepRan(j.name, n, err, now)
		}
		done, total = append(done, j.name, n), total+n
	}
	if a.sharedLimits {
		// Housekeeping, counted in the metrics only: the rows it deletes
		// are no news for the log and queue no mail.
		n, err := a.db.SweepRateLimits(ctx, now)
		if err != nil && ctx.Err() == nil {
			a.cfg.Logger.Error("deleting spent rate limits", "err", err)
		}
		if ctx.Err() == nil {
			a.metrics.SweepRan("rate_limits_swept", n, err, now)
		}
	}
	if total > 0 {
		a.cfg.Logger.Info("sweep", done...)
		a.worker.Kick()
	}
}

func (a *app) close() {
	if a.metricsLn != nil {
		a.metricsLn.Close() // serving closes it too; twice is harmless
	}
	for i := len(a.stop) - 1; i >= 0; i-- {
		a.stop[i]()
	}
	a.stop = nil
}

// readyChecks are what /readyz checks besides the database: that a Graph
// token can be had, and that the SMTP relay takes connections. Mail sent
// through Graph needs nothing the token check does not cover.
func readyChecks(dir tapdesk.Directory, sender mail.Sender) []handlers.ReadyCheck {
	var checks []handlers.ReadyCheck
	if g, ok := dir.(interface{ CheckToken(context.Context) error }); ok {
		checks = append(checks, handlers.ReadyCheck{Name: "graph token", Check: func(ctx context.Context) (string, error) {
			return "", g.CheckToken(ctx)
		}})
	}
	if m, ok := sender.(interface{ Check(context.Context) error }); ok {
		checks = append(checks, handlers.ReadyCheck{Name: "smtp", Check: func(ctx context.Context) (string, error) {
			return "", m.Check(ctx)
		}})
	} else {
		checks = append(checks, handlers.ReadyCheck{Name: "mail", Check: func(context.Context) (string, error) {
			return "through Graph sendMail: see graph token", nil
		}})
	}
	return checks
}

// clientIP is the address audit events and per-address limits use
// (tapdesk.ClientAddress): the direct peer, unless it is one of the trusted
// proxies; then the client that header (X-Forwarded-For unless set to
// X-Real-IP) names. Echo's own extractors trust loopback and private peers,
// read whichever header is there and give up on an address with a port.
func clientIP(trusted []*net.IPNet, header string) echo.IPExtractor {
	header = cmp.Or(header, tapdesk.HeaderXForwardedFor)
	return func(r *http.Request) string {
		if len(trusted) == 0 { // the header is never read: spare finding it
			return tapdesk.ClientAddress(r.RemoteAddr, header, nil, nil)
		}
		return tapdesk.ClientAddress(r.RemoteAddr, header, r.Header.Values(header), trusted)
	}
}

// warnForwarding logs, once per peer, the sign of a proxy left out of
// TAPDESK_TRUSTED_PROXIES (forwarding headers from a peer not trusted):
// once per process would let the first scanner sending X-Forwarded-For use
// the warning up. The first tapdesk.UntrustedForwardingPeers peers are
// named, then one line says more came. It logs once the sign of a trusted
// proxy setting the other header than the one read. Either way every
// client behind the proxy shares its address and per-address limits. It
// looks at every request, since not all of them ask for the client's
// address, before next serves it.
func warnForwarding(next http.Handler, trusted []*net.IPNet, header string, log *slog.Logger) http.Handler {
	header = cmp.Or(header, tapdesk.HeaderXForwardedFor)
	var missingOnce sync.Once
	var untrusted struct {
		sync.Mutex
		peers map[string]bool
		more  bool
	}
	untrusted.peers = map[string]bool{}
	warnUntrusted := func(h, peer string) {
		untrusted.Lock()
		defer untrusted.Unlock()
		switch {
		case untrusted.peers[peer] || untrusted.more:
		case len(untrusted.peers) < tapdesk.UntrustedForwardingPeers:
			untrusted.peers[peer] = true
			log.Warn(tapdesk.UntrustedForwardingWarning(h, peer))
		default:
			untrusted.more = true
			log.Warn(tapdesk.UntrustedForwardingMoreWarning(peer))
		}
	}
	// Every warning is about a forwarding header that came: without one
	// (nearly every request when no proxy is in front) there is nothing
	// to look at. The headers are looked up by their canonical names,
	// which Get would work out anew, allocating, on every request.
	canonical := make([]string, len(tapdesk.ForwardingHeaders))
	for i, h := range tapdesk.ForwardingHeaders {
		canonical[i] = textproto.CanonicalMIMEHeaderKey(h)
	}
	check := func(r *http.Request) {
		came := false
		for _, h := range canonical {
			if len(r.Header[h]) > 0 {
				came = true
				break
			}
		}
		if !came {
			return
		}
		host, _, err := net.SplitHostPort(r.RemoteAddr)
		ip := net.ParseIP(host)
		if err != nil || ip == nil {
			return
		}
		if !tapdesk.Trusted(ip, trusted) {
			for _, h := range tapdesk.ForwardingHeaders {
				if r.Header.Get(h) != "" {
					warnUntrusted(h, ip.String())
					return
				}
			}
			return
		}
		if r.Header.Get(header) != "" {
			return
		}
		for _, h := range []string{tapdesk.HeaderXForwardedFor, tapdesk.HeaderXRealIP} {
			if h != header && r.Header.Get(h) != "" {
				missingOnce.Do(func() { log.Warn(tapdesk.MissingClientHeaderWarning(h, header, ip.String())) })
			}
		}
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		check(r)
		next.ServeHTTP(w, r)
	})
}

// listen opens the address, with a clear message when it is taken.
func listen(addr string) (net.Listener, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("cannot listen on %s (is another tapdesk running? use --addr): %w", addr, err)
	}
	return ln, nil
}

// listenForChanges keeps db's change count moving with the other
// instances' commits (PostgreSQL; nothing to do on SQLite), so the
// dashboard and session caches never serve what another instance changed;
// while the feed is down they read through. It returns the function that
// stops it.
func listenForChanges(ctx context.Context, db *store.DB, log *slog.Logger) func() {
	ctx, stop := context.WithCancel(context.WithoutCancel(ctx))
	done := make(chan struct{})
	go func() {
		defer close(done)
		err := db.ListenForChanges(ctx,
			func() { db.SetChangeFeed(true); db.NoteExternalChange() },
			func() { db.SetChangeFeed(false) })
		if err != nil {
			log.Error("the change listener stopped: caches read through the database", "err", err)
		}
	}()
	return func() { stop(); <-done }
}
