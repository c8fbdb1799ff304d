package handlers

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/gob"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"runtime/debug"
	"strings"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"

	"github.com/tapdesk/tapdesk"
	"github.com/tapdesk/tapdesk/internal/slogjson"
	"github.com/tapdesk/tapdesk/signin"
	"github.com/tapdesk/tapdesk/views"
)

const (
	sessPrincipal = "principal"
	sessTimes     = "session_times"
	sessIDToken   = "id_token"
	sessPending   = "pending_login"
	// sessAfterSignIn is a flash to show once the sign-in under way succeeds.
	sessAfterSignIn = "after_sign_in"
	// ctxCSRF is where echo's CSRF middleware keeps the request's token
	// (tapdesk's own values are in requestState).
	ctxCSRF = "csrf"
)

func init() {
	// Sessions written by gob (before sessionCodec, or of a type it does not
	// know) still decode.
	gob.Register(tapdesk.Principal{})
	gob.Register(signin.Pending{})
	gob.Register(sessionTimes{})
}

// principal returns the signed-in person (zero if anonymous).
func principal(c echo.Context) tapdesk.Principal {
	return stateOf(c).principal
}

// loadPrincipal puts the signed-in person of the session in the context,
// unless the session has been idle or alive too long: then it is ended,
// audited, and the request goes on anonymous (GETs are sent to sign in).
func (h *Handler) loadPrincipal(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		st := stateOf(c)
		ctx := c.Request().Context()
		p, ok := h.sessions.Get(ctx, sessPrincipal).(tapdesk.Principal)
		if !ok {
			return next(c)
		}
		now := h.now()
		times, _ := h.sessions.Get(ctx, sessTimes).(sessionTimes)
		if why, sentence := times.ended(now, h.cfg.SessionIdleTimeout, h.cfg.SessionLifetime); why != "" {
			h.audit(c, tapdesk.Event{Activity: tapdesk.ActSignOut, Category: tapdesk.CatSignIn, Actor: p.Actor(), Reason: why})
			if err := h.sessions.Destroy(ctx); err != nil {
				return err
			}
			h.dropFlash(c)
			h.flash(c, sentence)
			return next(c)
		}
		// Only a stale record of activity is written again, so a page that
		// only reads writes nothing (tapdesk.SessionActivityStep).
		// The request page's own polling (requestStatus) is the browser
		// at work, not the person: it must not keep an idle session alive.
		if c.Path() != requestStatusPath && !tapdesk.ScriptRequest(headerValue(c.Request().Header, "Sec-Fetch-Dest")) &&
			tapdesk.SessionActivityDue(times.LastSeen, now, h.cfg.SessionIdleTimeout) {
			times.LastSeen = now
			h.sessions.Put(ctx, sessTimes, times)
		}
		st.principal = p
		return next(c)
	}
}

// securityHeaders sets a strict CSP with a per-request nonce, forbids
// framing and sniffing, sends no referrer (approval links carry tokens) and
// keeps every dynamic page out of caches.
func (h *Handler) securityHeaders(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		var b [16]byte
		if _, err := rand.Read(b[:]); err != nil {
			return err
		}
		// The policy is written in one piece and the nonce is the part of
		// it between cspBefore and cspAfter: one string for both.
		var csp [len(cspBefore) + cspNonceLen + len(cspAfter)]byte
		copy(csp[:], cspBefore)
		base64.RawStdEncoding.Encode(csp[len(cspBefore):], b[:])
		copy(csp[len(cspBefore)+cspNonceLen:], cspAfter)
		policy := string(csp[:])
		nonce := policy[len(cspBefore) : len(cspBefore)+cspNonceLen]
		st := stateOf(c)
		st.nonce, st.cspHeader[0] = nonce, policy
		hd := c.Response().Header()
		hd["Content-Security-Policy"] = st.cspHeader[:]
		// The fixed headers share one value each across responses (Set
		// would allocate it per response); nothing changes a value in
		// place, and a one-element slice never grows in place.
		fixed := &h.fixedHeaders
		hd["X-Frame-Options"] = fixed.deny
		hd["X-Content-Type-Options"] = fixed.nosniff
		hd["Referrer-Policy"] = fixed.noReferrer
		hd["Cross-Origin-Opener-Policy"] = fixed.sameOrigin
		hd["Permissions-Policy"] = fixed.permissionsPolicy
		if h.cfg.SecureCookies {
			hd["Strict-Transport-Security"] = fixed.hsts
		}
		if !strings.HasPrefix(c.Request().URL.Path, "/static/") {
			hd["Cache-Control"] = fixed.noStore
		}
		return next(c)
	}
}

// The content security policy around the request's nonce, which is
// cspNonceLen characters (base64.RawStdEncoding.EncodedLen(16)).
const (
	cspNonceLen = 22
	cspBefore   = "default-src 'self'; script-src 'self' 'nonce-"
	cspAfter    = "'; style-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'"
)

// securityHeaderValues are the values of the fixed security headers, made
// once per Handler and shared by its responses (securityHeaders).
type securityHeaderValues struct {
	deny, nosniff, noReferrer, sameOrigin, permissionsPolicy, hsts, noStore, varyCookie, varyCookieEncoding, gzip, html []string
}

func newSecurityHeaderValues() securityHeaderValues {
	return securityHeaderValues{deny: []string{"DENY"}, nosniff: []string{"nosniff"}, noReferrer: []string{"no-referrer"},
		sameOrigin: []string{"same-origin"}, permissionsPolicy: []string{permissionsPolicy},
		hsts: []string{"max-age=63072000"}, noStore: []string{"no-store"}, varyCookie: []string{"Cookie"},
		varyCookieEncoding: []string{"Cookie, Accept-Encoding"}, gzip: []string{"gzip"}, html: []string{echo.MIMETextHTMLCharsetUTF8}}
}

// permissionsPolicy turns off every powerful browser feature tapdesk has no
// use for, so a script that slipped in could not reach them either. Only
// the clipboard stays, for the reveal page: writing for its Copy button, and
// reading so it can empty the clipboard a minute later only if it still
// holds the pass.
const permissionsPolicy = "accelerometer=(), autoplay=(), camera=(), display-capture=(), encrypted-media=(), fullscreen=(), " +
	"geolocation=(), gyroscope=(), hid=(), idle-detection=(), magnetometer=(), microphone=(), midi=(), payment=(), " +
	"picture-in-picture=(), publickey-credentials-get=(), screen-wake-lock=(), serial=(), usb=(), web-share=(), " +
	"xr-spatial-tracking=(), clipboard-read=(self), clipboard-write=(self)"

// csrf protects every unsafe method with a token carried in forms
// (double-submit cookie, echo's middleware); a refusal is audited.
func (h *Handler) csrf() echo.MiddlewareFunc {
	name := "tapdesk_csrf"
	if h.cfg.SecureCookies {
		name = "__Host-tapdesk_csrf"
	}
	return middleware.CSRFWithConfig(middleware.CSRFConfig{
		// The demo identity provider has its own forms and a token endpoint
		// that go-oidc calls server to server.
		Skipper:        func(c echo.Context) bool { return strings.HasPrefix(c.Request().URL.Path, "/demo/idp/") },
		TokenLookup:    "form:_csrf,header:X-CSRF-Token",
		ContextKey:     ctxCSRF,
		CookieName:     name,
		CookiePath:     "/",
		CookieSecure:   h.cfg.SecureCookies,
		CookieHTTPOnly: true,
		CookieSameSite: http.SameSiteLaxMode,
		ErrorHandler: func(err error, c echo.Context) error {
			return h.csrfRefused(c, "missing or invalid CSRF token")
		},
		// echo refuses a post its browser calls cross-site before it looks
		// at the token, without calling ErrorHandler: this keeps that
		// refusal, audits it and gives it the same page. same-site posts
		// are left to the token, as echo does.
		AllowSecFetchSiteFunc: func(c echo.Context) (bool, error) {
			if c.Request().Header.Get(echo.HeaderSecFetchSite) == "same-site" {
				return false, nil
			}
			return false, h.csrfRefused(c, "cross-site post refused by the CSRF check (the browser sent Sec-Fetch-Site: "+c.Request().Header.Get(echo.HeaderSecFetchSite)+")")
		},
	})
}

// csrfRefused audits a refused unsafe request and says why it was refused.
func (h *Handler) csrfRefused(c echo.Context, reason string) error {
	h.audit(c, tapdesk.Event{Activity: tapdesk.ActAccessRefused, Category: tapdesk.CatAccess, Result: tapdesk.ResultFailure,
		Reason: reason, Details: map[string]string{"path": auditPath(c), "method": c.Request().Method}})
	return tapdesk.Titledf(tapdesk.EFORBIDDEN, "Form expired", "This form was stale or did not come from tapdesk (its security token is missing or wrong). Go back, reload the page and try again.")
}

// auditPath is the request path for the audit trail, with link tokens
// (approval and dispute links carry them in the path) left out: the route
// template stands in for a path that holds one.
func auditPath(c echo.Context) string {
	if c.Param("token") != "" {
		return c.Path()
	}
	return c.Request().URL.Path
}

// require lets only signed-in people through, holding one of the roles if
// any are given. Anonymous GETs go to sign-in and come back; anything else
// anonymous is forbidden (403): a cookie session has no authentication
// scheme to challenge with, which a 401 must name (RFC 9110, 15.5.2).
func (h *Handler) require(roles ...tapdesk.Role) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			p := principal(c)
			if p.IsZero() {
				if c.Request().Method == http.MethodGet {
					return c.Redirect(http.StatusSeeOther, "/auth/login?next="+url.QueryEscape(c.Request().URL.RequestURI()))
				}
				return tapdesk.Titledf(tapdesk.EFORBIDDEN, "Session ended", "You are not signed in, or your session has ended. Sign in again and repeat what you were doing.")
			}
			if len(roles) == 0 {
				return next(c)
			}
			for _, r := range roles {
				if p.Has(r) {
					return next(c)
				}
			}
			h.audit(c, tapdesk.Event{Activity: tapdesk.ActAccessRefused, Category: tapdesk.CatAccess, Result: tapdesk.ResultFailure,
				Reason: fmt.Sprintf("role %s required", roles[0]), Details: map[string]string{"path": c.Request().URL.Path, "method": c.Request().Method}})
			return tapdesk.Titledf(tapdesk.EFORBIDDEN, "Not one of your tasks", "This page needs the %s role, which your account does not have.", roles[0])
		}
	}
}

// recoverer turns a panic into a logged 500 with a plain page.
func (h *Handler) recoverer(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) (err error) {
		defer func() {
			if v := recover(); v != nil {
				h.log.Error("panic", "path", c.Path(), "panic", fmt.Sprint(v), "stack", string(debug.Stack()))
				err = fmt.Errorf("panic: %v", v)
			}
		}()
		return next(c)
	}
}

// page is the layout data of the current request.
func (h *Handler) page(c echo.Context, title string) views.Page {
	p := views.Page{Title: title, User: principal(c), Demo: h.cfg.Demo}
	// The banner shows the mode the request's steps act under; a failed
	// read (logged by threatMode) does not fail the page, whose banner
	// says the mode could not be read, never that it is off.
	m, err := h.requestThreatMode(c)
	p.Threat, p.ThreatUnread = m, err != nil
	if stateOf(c).sessionIn {
		p.Flash = h.takeFlash(c)
	}
	return p
}

// audit writes a standalone event (one that records no state change) with
// the actor, IP and user agent of this request. A failure is logged: it
// must not turn a refusal into a 500.
//
// Refusals are counted per window (tapdesk.Tallied): only the first of a
// window is written here, with the count of its own window if that closed.
// The write outlives the request: a client that hangs up at once must not
// take the event, or the count the tally has handed over, with it. Events
// whose write fails anyway are held for the sweep (FlushRefusals): a
// refusal never writes a backlog.
func (h *Handler) audit(c echo.Context, ev tapdesk.Event) {
	ev = h.stamp(c, ev)
	ctx, cancel := context.WithTimeout(context.WithoutCancel(c.Request().Context()), tapdesk.AuditWriteTimeout)
	defer cancel()
	evs := []tapdesk.Event{ev}
	if tapdesk.Tallied(ev) {
		write, due := h.refusals.Note(ev)
		evs = due
		if write {
			evs = append(evs, ev)
		}
	}
	var failed []tapdesk.HeldEvent
	for _, ev := range evs {
		if err := h.store.AppendEvent(ctx, ev); err != nil {
			h.log.Error("audit event not written; held for the sweep to write", "activity", ev.Activity, "err", err)
			failed = append(failed, tapdesk.HeldEvent{Event: ev, Tries: 1})
		}
	}
	h.hold(failed)
}

func (h *Handler) hold(evs []tapdesk.HeldEvent) {
	h.logDropped(h.refusals.Hold(evs), 0)
}

// logDropped logs the events dropped unwritten, by activity (never their
// content), and lost, how many were not held at all.
func (h *Handler) logDropped(dropped []tapdesk.HeldEvent, lost int) {
	for _, d := range dropped {
		if d.Tries >= tapdesk.MaxEventWriteTries {
			h.log.Error("audit event lost: its write failed too often", "activity", d.Event.Activity, "tries", d.Tries)
		} else {
			lost++
		}
	}
	if lost > 0 {
		h.log.Error("audit events lost: too many held after failed writes", "lost", lost, "held_at_most", tapdesk.MaxHeldEvents)
	}
}

// eventsAppender is a store that writes many events in one transaction.
type eventsAppender interface {
	AppendEvents(ctx context.Context, n int, batch int, next func(i int) tapdesk.Event) error
}

// FlushRefusals writes the events held after failed writes and the counts
// of refusals whose window closed by now (the sweep calls it), or of every
// window (all, when tapdesk stops). It writes them in one transaction if
// the store can; if that fails, one by one up to the first failure, whose
// event counts a try, and holds the rest for the next sweep (a store that
// is down costs one or two failed writes a sweep, not one per event). It
// returns how many it wrote.
func (h *Handler) FlushRefusals(ctx context.Context, now time.Time, all bool) (int, error) {
	held, lost := h.refusals.TakeHeld()
	h.logDropped(nil, lost)
	for _, ev := range h.refusals.Close(now, all) {
		held = append(held, tapdesk.HeldEvent{Event: ev})
	}
	if len(held) == 0 {
		return 0, nil
	}
	if batch, ok := h.store.(eventsAppender); ok && len(held) > 1 {
		if err := batch.AppendEvents(ctx, len(held), len(held), func(i int) tapdesk.Event { return held[i].Event }); err == nil {
			return len(held), nil
		}
	}
	for i := range held {
		if err := h.store.AppendEvent(ctx, held[i].Event); err != nil {
			held[i].Tries++
			h.hold(held[i:])
			return i, fmt.Errorf("write the held audit events and counts of refusals: %w", err)
		}
	}
	return len(held), nil
}

// stamp fills in who did it, from where, and when.
func (h *Handler) stamp(c echo.Context, ev tapdesk.Event) tapdesk.Event {
	if ev.Actor.ObjectID == "" {
		ev.Actor = principal(c).Actor()
	}
	ev.ActorIP = c.RealIP()
	ev.ActorAgent = c.Request().UserAgent()
	if ev.Time.IsZero() {
		ev.Time = h.now()
	}
	return ev
}

// requestID names the request: the X-Request-Id a trusted proxy sent, if
// it is a sane one (tapdesk.ParseRequestID), or a new random one. The id
// goes back in the answer's X-Request-Id, into the request log line and,
// through the request's context, into every audit event the request
// writes. From anyone else the header is ignored: a client must not be
// able to give its events the id of someone else's request.
func (h *Handler) requestID(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		r := c.Request()
		id, ok := "", false
		if h.trustedPeer(r.RemoteAddr) {
			id, ok = tapdesk.ParseRequestID(r.Header.Get(tapdesk.HeaderXRequestID))
		}
		if !ok {
			id = newHTTPRequestID()
		}
		// One value in the context for all the request carries and adds
		// up (requestState, with its tapdesk.RequestScope), set once: each
		// context value and each new request (WithContext) is an
		// allocation per request.
		st := newRequestState(r.Context(), id, time.Now())
		c.SetRequest(r.WithContext(st))
		st.idHeader[0] = id
		c.Response().Header()[tapdesk.HeaderXRequestID] = st.idHeader[:] // canonical already
		return next(c)
	}
}

// trustedPeer says whether the direct peer is one of the trusted proxies.
func (h *Handler) trustedPeer(remoteAddr string) bool {
	if len(h.cfg.TrustedProxies) == 0 {
		return false
	}
	host, _, err := net.SplitHostPort(remoteAddr)
	if err != nil {
		host = remoteAddr
	}
	ip := net.ParseIP(host)
	return ip != nil && tapdesk.Trusted(ip, h.cfg.TrustedProxies)
}

// newHTTPRequestID is 96 random bits, 16 characters: short enough to read out
// on a call, too many to collide or guess.
func newHTTPRequestID() string {
	var b [12]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go 1.24)
	var enc [16]byte       // base64.RawURLEncoding.EncodedLen(12)
	base64.RawURLEncoding.Encode(enc[:], b[:])
	return string(enc[:])
}

// requestLog logs one line per request with the route template, never the
// raw path or query (approval and dispute tokens live in paths, and sign-in
// callbacks carry codes in queries), and the request's id.
func (h *Handler) requestLog(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		start := stateOf(c).started()
		// An error is answered here, by the one error handler, so the line
		// logs the status and size the client got rather than guessing them.
		if err := next(c); err != nil {
			c.Error(err)
		}
		// Typed attributes rather than key-value pairs: nothing is boxed,
		// and nothing is worked out when the line would not be logged. The
		// line goes to the handler directly, without the caller's program
		// counter (Logger.LogAttrs walks the stack for it on every line,
		// and no handler here prints the source).
		ctx := context.Background()
		lh := h.log.Handler()
		if !lh.Enabled(ctx, slog.LevelInfo) {
			return nil
		}
		id := tapdesk.RequestIDFrom(c.Request().Context())
		res := c.Response()
		now := time.Now()
		// serve's JSON log takes the line without a record (the same
		// bytes, in about half the time); any other log takes a record.
		_ = slogjson.Begin(lh, now, slog.LevelInfo, "http").String("method", c.Request().Method).String("route", c.Path()).
			Int("status", int64(res.Status)).Int("duration_ms", now.Sub(start).Milliseconds()).Int("bytes", res.Size).
			String("request_id", id).String("client", c.RealIP()).String("user", principal(c).UPN).Write(ctx)
		return nil
	}
}
