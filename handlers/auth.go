package handlers

import (
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/tapdesk/tapdesk"
	"github.com/tapdesk/tapdesk/signin"
)

// login starts OIDC. next is kept server-side and only ever a local path.
// fresh asks the IdP for a new sign-in, with the max_age of the action that
// needs it: fresh=reveal for issuing a pass, any other value (fresh=1) for
// deciding.
func (h *Handler) login(c echo.Context) error {
	ctx := c.Request().Context()
	next := signin.SafeNext(c.QueryParam("next"))
	fresh := c.QueryParam("fresh")
	if !principal(c).IsZero() && fresh == "" {
		return c.Redirect(http.StatusSeeOther, next)
	}
	var opts signin.BeginOptions
	switch fresh {
	case "":
	case freshReveal:
		opts = signin.BeginOptions{MaxAge: h.cfg.RevealMaxAge, ForceLogin: true}
	default:
		opts = signin.BeginOptions{MaxAge: h.cfg.ApproverMaxAge, ForceLogin: true}
	}
	authURL, pending, err := h.auth.Begin(ctx, next, opts)
	if err != nil {
		return err
	}
	h.sessions.Put(ctx, sessPending, pending)
	return c.Redirect(http.StatusSeeOther, authURL)
}

// callback finishes OIDC, renews the session token (no fixation) and
// records the sign-in.
func (h *Handler) callback(c echo.Context) error {
	ctx := c.Request().Context()
	pending, ok := h.sessions.Pop(ctx, sessPending).(signin.Pending)
	if !ok {
		h.audit(c, tapdesk.Event{Activity: tapdesk.ActSignInRefused, Category: tapdesk.CatSignIn, Result: tapdesk.ResultFailure,
			Reason: "callback without a sign-in started in this browser"})
		return tapdesk.Titledf(tapdesk.EUNAUTHORIZED, "Sign-in not found", "This sign-in was not started in this browser, or it already finished. Start again from the tapdesk home page.")
	}
	in, err := h.auth.Finish(ctx, pending, c.QueryParams())
	if err != nil {
		// The error quotes the callback's error_description: anyone's text.
		h.log.Warn("sign-in refused", "err", tapdesk.BoundText(err.Error(), tapdesk.MaxEventReasonChars))
		h.audit(c, tapdesk.Event{Activity: tapdesk.ActSignInRefused, Category: tapdesk.CatSignIn, Result: tapdesk.ResultFailure,
			Reason: err.Error()})
		return err
	}
	before, _ := h.sessions.Get(ctx, sessPrincipal).(tapdesk.Principal)
	if err := h.sessions.RenewToken(ctx); err != nil {
		return err
	}
	// Everything about the person comes from this token: roles held in an
	// earlier sign-in of this session are gone, and the session's clock
	// starts again.
	p, now := in.Principal, h.now()
	if before.Key() != p.Key() {
		// What was kept across the sign-in (the reason typed, the message
		// for after it, the flash before it) is for whoever was signed in
		// before: someone else signing in at the provider's prompt, on a
		// shared PC, must not be shown it. (A session ended for being idle
		// has no one before: its flash saying so is shown after sign-in.)
		h.sessions.Remove(ctx, sessAfterSignIn)
		h.sessions.Remove(ctx, sessThreatReason)
		if !before.IsZero() {
			h.sessions.Remove(ctx, "flash")
			h.dropFlash(c)
		}
	}
	h.sessions.Put(ctx, sessPrincipal, p)
	h.sessions.Put(ctx, sessTimes, sessionTimes{SignedIn: now, LastSeen: now})
	h.sessions.Put(ctx, sessIDToken, in.IDToken)
	if msg := h.sessions.PopString(ctx, sessAfterSignIn); msg != "" {
		h.flash(c, msg)
	}
	h.audit(c, tapdesk.Event{Activity: tapdesk.ActSignIn, Category: tapdesk.CatSignIn, Actor: p.Actor(),
		Details: map[string]string{"roles": rolesString(p.Roles), "mfa": boolString(p.MFA), "auth_time": p.AuthTime.UTC().Format("2006-01-02T15:04:05Z")}})
	return c.Redirect(http.StatusSeeOther, pending.Next)
}

// logout ends tapdesk's session and, when the identity provider offers an
// end_session_endpoint, sends the browser there to end the provider's
// session too (a shared helpdesk PC must not sign the next person in as the
// last one); the provider sends it back to tapdesk's base URL.
func (h *Handler) logout(c echo.Context) error {
	ctx := c.Request().Context()
	p := principal(c)
	idToken := h.sessions.GetString(ctx, sessIDToken)
	if err := h.sessions.Destroy(ctx); err != nil {
		return err
	}
	// A flash still pending is the signed-out person's: the next person
	// on this browser must not see it.
	h.dropFlash(c)
	if p.IsZero() {
		return c.Redirect(http.StatusSeeOther, "/")
	}
	endSession := h.auth.EndSessionURL(ctx, idToken)
	details := map[string]string{"identity_provider_session": "kept (the provider offers no end_session_endpoint)"}
	if endSession != "" {
		details["identity_provider_session"] = "browser sent to its end_session_endpoint"
	}
	h.audit(c, tapdesk.Event{Activity: tapdesk.ActSignOut, Category: tapdesk.CatSignIn, Actor: p.Actor(), Details: details})
	if endSession == "" {
		return c.Redirect(http.StatusSeeOther, "/")
	}
	return c.Redirect(http.StatusSeeOther, endSession)
}

func rolesString(rs []tapdesk.Role) string {
	s := ""
	for i, r := range rs {
		if i > 0 {
			s += " "
		}
		s += string(r)
	}
	return s
}

func boolString(b bool) string {
	if b {
		return "true"
	}
	return "false"
}
