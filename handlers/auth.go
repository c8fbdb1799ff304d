package handlers

import (
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/tapdesk/tapdesk"
	"github.com/tapdesk/tapdesk/signin"
)

// login starts OIDC. next is kept server-side and only ever a local path.
// fresh=1 asks the IdP for a new sign-in (approvers acting on old sessions).
func (h *Handler) login(c echo.Context) error {
	ctx := c.Request().Context()
	next := signin.SafeNext(c.QueryParam("next"))
	fresh := c.QueryParam("fresh") == "1"
	if !principal(c).IsZero() && !fresh {
		return c.Redirect(http.StatusSeeOther, next)
	}
	var opts signin.BeginOptions
	if fresh {
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
		return tapdesk.Errorf(tapdesk.EUNAUTHORIZED, "This sign-in was not started in this browser, or it already finished. Start again from the tapdesk home page.")
	}
	p, err := h.auth.Finish(ctx, pending, c.QueryParams())
	if err != nil {
		h.log.Warn("sign-in refused", "err", err)
		h.audit(c, tapdesk.Event{Activity: tapdesk.ActSignInRefused, Category: tapdesk.CatSignIn, Result: tapdesk.ResultFailure,
			Reason: err.Error()})
		return err
	}
	if err := h.sessions.RenewToken(ctx); err != nil {
		return err
	}
	h.sessions.Put(ctx, sessPrincipal, p)
	h.audit(c, tapdesk.Event{Activity: tapdesk.ActSignIn, Category: tapdesk.CatSignIn, Actor: p.Actor(),
		Details: map[string]string{"roles": rolesString(p.Roles), "mfa": boolString(p.MFA), "auth_time": p.AuthTime.UTC().Format("2006-01-02T15:04:05Z")}})
	return c.Redirect(http.StatusSeeOther, pending.Next)
}

func (h *Handler) logout(c echo.Context) error {
	ctx := c.Request().Context()
	if p := principal(c); !p.IsZero() {
		h.audit(c, tapdesk.Event{Activity: tapdesk.ActSignOut, Category: tapdesk.CatSignIn})
	}
	if err := h.sessions.Destroy(ctx); err != nil {
		return err
	}
	return c.Redirect(http.StatusSeeOther, "/")
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
