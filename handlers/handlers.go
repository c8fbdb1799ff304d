// Package handlers is tapdesk's web layer: echo handlers, one file per
// action, one route table (routes.go), middleware, and the mapping of domain
// errors to HTTP statuses and pages.
package handlers

import (
	"cmp"
	"context"
	"io"
	"log/slog"
	"net"
	"net/url"
	"sync"
	"time"

	"github.com/tapdesk/tapdesk"
	"github.com/tapdesk/tapdesk/metrics"
	"github.com/tapdesk/tapdesk/pagezip"
	"github.com/tapdesk/tapdesk/ratelimit"
	"github.com/tapdesk/tapdesk/signin"
	"github.com/tapdesk/tapdesk/store"
)

// Store is the database as the handlers use it.
type Store interface {
	FileRequest(ctx context.Context, r *tapdesk.Request, ev tapdesk.Event, mail []store.Mail) error
	OpenRequestFor(ctx context.Context, targetID string) (*tapdesk.Request, error)
	TargetRequests(ctx context.Context, targetID string, issuedSince time.Time) ([]*tapdesk.Request, error)
	Link(ctx context.Context, token string) (store.ApprovalLink, error)
	Request(ctx context.Context, id string) (*tapdesk.Request, error)
	Requests(ctx context.Context, f store.RequestFilter) ([]*tapdesk.Request, error)
	Transition(ctx context.Context, r *tapdesk.Request, ch store.Change, mail []store.Mail, evs ...tapdesk.Event) error
	Decide(ctx context.Context, r *tapdesk.Request, a tapdesk.Approval, ev tapdesk.Event, mail []store.Mail) (tapdesk.State, error)
	RequestEvidence(ctx context.Context, requestID string) (events []tapdesk.Event, unverified []int64, err error)
	ClaimIssue(ctx context.Context, r *tapdesk.Request, ev tapdesk.Event) error
	ReleaseIssue(ctx context.Context, r *tapdesk.Request, ev tapdesk.Event) error
	StaleClaims(ctx context.Context, now time.Time) ([]*tapdesk.Request, error)
	SettleClaim(ctx context.Context, r *tapdesk.Request, to tapdesk.State, at time.Time, mail []store.Mail, evs ...tapdesk.Event) error
	TAPRecorded(ctx context.Context, methodID string) (bool, error)
	UseLink(ctx context.Context, token string, by tapdesk.Principal, notFresh error, now time.Time, ev tapdesk.Event) (string, error)
	DisputeLink(ctx context.Context, token string, now time.Time) (*tapdesk.Request, store.DisputeLink, error)
	Dispute(ctx context.Context, token string, r *tapdesk.Request, ch store.Change, mail []store.Mail, evs ...tapdesk.Event) error
	NoticeRecipients(ctx context.Context, requestID string) ([]string, error)
	AppendEvent(ctx context.Context, ev tapdesk.Event) error
	Events(ctx context.Context, f store.EventFilter) ([]tapdesk.Event, error)
	ExportEvents(ctx context.Context, w io.Writer, format string, f store.EventFilter) (int64, error)
	CountEvents(ctx context.Context, f store.EventFilter, upTo int) (int, error)
	VerifyChain(ctx context.Context, recorded ...store.Head) (store.VerifyReport, error)
	// The dashboards' reads (dashboard.go, dashboard_admin.go).
	DecidedBy(ctx context.Context, approverOID string, limit int) ([]store.Decided, error)
	RequestCountsByState(ctx context.Context) (map[tapdesk.State]int, error)
	PassesIssuedSince(ctx context.Context, since time.Time) (int, error)
	LatestSignIns(ctx context.Context, since time.Time, limit int) ([]tapdesk.Event, error)
	// The reports page's reads (reports.go).
	ReportFacts(ctx context.Context, from, to time.Time) (tapdesk.ReportFacts, error)
	OutsidePasses(ctx context.Context, limit int) ([]tapdesk.OutsidePass, error)
	// Alerts lists raised alerts newest first (alerts.go).
	Alerts(ctx context.Context, rule tapdesk.AlertRule, before int64, limit int) ([]tapdesk.Alert, error)
	Ping(ctx context.Context) error
	// Generation is the count of committed writes, and whether it sees
	// every write (store.DB.Generation): caches of what was read are
	// used only while it is unchanged and trusted.
	Generation() (n uint64, trusted bool)
	// Heightened-threat mode (threat.go).
	ThreatMode(ctx context.Context) (tapdesk.ThreatMode, error)
	SetThreatMode(ctx context.Context, on bool, by tapdesk.Actor, reason string, ev tapdesk.Event) error
}

// Authenticator is the OIDC relying party.
type Authenticator interface {
	Begin(ctx context.Context, next string, opts signin.BeginOptions) (string, signin.Pending, error)
	Finish(ctx context.Context, p signin.Pending, query url.Values) (signin.SignIn, error)
	// EndSessionURL is the provider's sign-out URL for this session, "" if
	// the provider offers none.
	EndSessionURL(ctx context.Context, idTokenHint string) string
}

// Config is what the handlers need to know about the deployment.
type Config struct {
	Demo           bool
	ServerTiming   bool          // Server-Timing outside the demo too (benchmarks of serve)
	SecureCookies  bool          // false only for the plain-http loopback demo
	ApproverEmails []string      // who gets approval mail
	DecisionTTL    time.Duration // pending or approved-but-unissued requests expire after this
	ApproverMaxAge time.Duration // approvers must have signed in this recently (0: no limit)
	ApproverMFA    bool          // approvers need amr=mfa
	// NotifyUser and NotifyManager: tell the target, and their manager as
	// Entra names them, when a pass is requested and issued (notice.go).
	NotifyUser     bool
	NotifyManager  bool
	SecurityEmails []string      // alerted when a request is disputed
	RevealMaxAge   time.Duration // agents must have signed in this recently to issue and reveal (0: no limit)
	RevealMFA      bool          // agents need amr=mfa to issue and reveal
	// ThreatModeForced: TAPDESK_THREAT_MODE holds heightened-threat mode
	// on; the portal cannot switch it off.
	ThreatModeForced bool
	// WorkingHours: a request filed outside them is named as a risk to its
	// approvers (zero: tapdesk.DefaultWorkingHours).
	WorkingHours tapdesk.WorkingHours
	// AlertThresholds are the alert rules' limits, for the alerts page.
	AlertThresholds tapdesk.AlertThresholds
	// A session ends after SessionIdleTimeout without a request, and
	// SessionLifetime after its sign-in however active (defaults 30m, 8h).
	SessionIdleTimeout time.Duration
	SessionLifetime    time.Duration
	// WriteTimeout is how long one write of a response may stall (a client
	// that stops reading) before the connection is cut; 0 leaves the
	// server's own deadline alone.
	WriteTimeout time.Duration
	Logger       *slog.Logger
	Now          tapdesk.Clock

	// TrustedProxies are the reverse proxies whose X-Request-Id is taken
	// as the request's id (from anyone else a new one is made).
	TrustedProxies []*net.IPNet
	// ReadyCacheOK and ReadyCacheFailed are how long /readyz keeps a
	// passing and a failing answer (0: tapdesk.ReadyCacheOK,
	// ReadyCacheFailed); tests keep answers longer than they run.
	ReadyCacheOK, ReadyCacheFailed time.Duration

	// RateLimits limit the pace of sign-in, search, filing, links, reveal
	// and the audit exports (ratelimit.go); nil: tapdesk.DefaultRateLimits.
	RateLimits tapdesk.RateLimits

	// RoleGroups are the groups mapped to roles (TAPDESK_ROLE_GROUPS), as
	// the admin's dashboard names who approves.
	RoleGroups map[string]tapdesk.Role
}

// Handler holds the dependencies of every handler. No globals.
type Handler struct {
	store    Store
	dir      tapdesk.Directory
	auth     Authenticator
	sessions *Sessions
	kickMail func()
	limiter  Limiter
	cfg      Config
	log      *slog.Logger
	now      tapdesk.Clock
	// refusals counts anonymous refusals per window (audit.go's
	// writeEvent); the sweep writes the counts of closed windows.
	refusals *tapdesk.RefusalTally
	metrics  *metrics.Metrics
	// ready answers /readyz (health.go).
	ready *readiness
	// lists keeps rendered dashboard lists (dashboard_cache.go).
	lists *dashboardCache
	// pages keeps pages sent gzip-compressed, deflated, so a page sent
	// again unchanged (but for its nonce) is not deflated again (render).
	pages *pagezip.Cache
	// tapPolicy keeps the pass policy the admin's dashboard shows.
	tapPolicy policyCache
	// glances keeps what Entra said about targets of pending requests
	// briefly (request_glance.go).
	glances glanceCache
	// buffers holds the buffers pages are rendered into (render): a page
	// is written out before render returns, so its buffer serves the next
	// page instead of being grown from nothing (5 to 50 kB) and dropped.
	buffers sync.Pool
	// fixedHeaders are the security headers' values (securityHeaders).
	fixedHeaders securityHeaderValues
	// evidence builds evidence packs (nil: no signing key).
	evidence EvidencePacker
	// raiseAlerts runs the alert rules now (threat-off: a switch off is
	// alerted at once, not at the next sweep).
	raiseAlerts func(context.Context) (raised, mailed bool)
}

// Deps are the parts a Handler is built from.
type Deps struct {
	Store     Store
	Directory tapdesk.Directory
	Auth      Authenticator
	Sessions  *Sessions
	KickMail  func() // wakes the mail worker after a commit; may be nil
	Config    Config

	Limiter Limiter // nil: one in memory (ratelimit.Memory)
	// Metrics counts requests, refusals and audit checks (nil: not counted).
	Metrics *metrics.Metrics
	// ReadyChecks are the dependencies /readyz checks after the database
	// (the Graph token, the mail relay).
	ReadyChecks []ReadyCheck
	// Evidence builds signed evidence packs (nil: no signing key set).
	Evidence EvidencePacker
	// RaiseAlerts runs the alert rules over the trail now (nil: the
	// sweep's run only). raised says they reached the trail's head as it
	// stood when called (by this run or another instance's), mailed that
	// the alerts raised are mailed (security addresses are set).
	RaiseAlerts func(context.Context) (raised, mailed bool)
}

// New builds the handler set.
func New(d Deps) *Handler {
	h := &Handler{store: d.Store, dir: d.Directory, auth: d.Auth, sessions: d.Sessions, kickMail: d.KickMail, limiter: d.Limiter, cfg: d.Config,
		refusals: tapdesk.NewRefusalTally(), metrics: d.Metrics, lists: newDashboardCache(dashboardCacheEntries, dashboardCacheBytes),
		pages:        pagezip.NewCache(dashboardCacheEntries, dashboardCacheBytes),
		fixedHeaders: newSecurityHeaderValues(), evidence: d.Evidence}
	h.log = d.Config.Logger
	if h.log == nil {
		h.log = slog.Default()
	}
	h.now = d.Config.Now
	if h.now == nil {
		h.now = time.Now
	}
	if h.kickMail == nil {
		h.kickMail = func() {}
	}
	h.raiseAlerts = d.RaiseAlerts
	if h.raiseAlerts == nil {
		h.raiseAlerts = func(context.Context) (bool, bool) { return false, false }
	}
	if h.cfg.DecisionTTL == 0 {
		h.cfg.DecisionTTL = 24 * time.Hour
	}
	if h.cfg.SessionIdleTimeout == 0 {
		h.cfg.SessionIdleTimeout = DefaultSessionIdleTimeout
	}
	if h.cfg.RateLimits == nil {
		h.cfg.RateLimits = tapdesk.DefaultRateLimits()
	}
	if h.limiter == nil {
		h.limiter = ratelimit.NewMemory(0)
	}
	if h.cfg.SessionLifetime == 0 {
		h.cfg.SessionLifetime = DefaultSessionLifetime
	}
	h.ready = &readiness{checks: append([]ReadyCheck{{Name: "database", Check: h.databaseCheck}}, d.ReadyChecks...), log: h.log,
		keepOK: cmp.Or(d.Config.ReadyCacheOK, tapdesk.ReadyCacheOK), keepFailed: cmp.Or(d.Config.ReadyCacheFailed, tapdesk.ReadyCacheFailed)}
	return h
}
