package handlers

import (
	"context"
	"net/http"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/tapdesk/tapdesk"
	"github.com/tapdesk/tapdesk/views"
)

const (
	// sessThreatReason keeps the reason typed for a switch off while the
	// admin signs in again, so the form has it back.
	sessThreatReason = "threat_reason"
	// threatAlertTimeout bounds raising the switch-off's alert after the
	// switch committed; what it does not finish the next sweep does.
	threatAlertTimeout = 10 * time.Second
)

// threatMode is heightened-threat mode as it holds now: stored (shared by
// every instance, read through the store's cache) or forced by the
// setting. Filing, approving and issuing act on it; a read that fails
// refuses rather than assume the mode is off, unless the setting forces
// it on (tapdesk.ThreatModeInForce).
func (h *Handler) threatMode(ctx context.Context) (tapdesk.ThreatMode, error) {
	m, err := h.store.ThreatMode(ctx)
	// The database's error goes to the log (unless the client left); the
	// person reads why the step waits (a 503), unless the setting forces
	// the mode on, when the steps go on under it.
	if err != nil && ctx.Err() == nil {
		h.log.ErrorContext(ctx, "heightened-threat mode unreadable", "request_id", tapdesk.RequestIDFrom(ctx), "err", err)
	}
	return tapdesk.ThreatModeInForce(m, err, h.cfg.ThreatModeForced)
}

// requestThreatMode is threatMode read once per request: filing,
// approving and issuing check the mode and the page they render shows it
// in the banner, and the writes in between would send the second read to
// the database. The page shows the mode the request acted under; a read
// that failed is not tried again (nor logged again) for its page.
func (h *Handler) requestThreatMode(c echo.Context) (tapdesk.ThreatMode, error) {
	st := stateOf(c)
	if st.threat.done {
		return st.threat.mode, st.threat.err
	}
	m, err := h.threatMode(c.Request().Context())
	st.threat = threatRead{m, err, true}
	return m, err
}

// threatRead is a request's read of the mode (requestThreatMode); done
// once it was read (the zero mode without an error is a read too).
type threatRead struct {
	mode tapdesk.ThreatMode
	err  error
	done bool
}

// threatForm is the admin page's form for the mode as it is.
func (h *Handler) threatForm(m tapdesk.ThreatMode, reason string, errs map[string]string) views.ThreatModeForm {
	return views.ThreatModeForm{Mode: m, Reason: reason, Errors: errs,
		OffNote: tapdesk.ThreatOffSignInNote(h.cfg.ApproverMaxAge, h.cfg.ApproverMFA, len(h.cfg.SecurityEmails) > 0)}
}

// threatModePage is GET /admin/threat-mode. Back from signing in again
// for a switch off, the reason typed before is in the form again.
func (h *Handler) threatModePage(c echo.Context) error {
	m, err := h.requestThreatMode(c)
	if err != nil {
		return err
	}
	reason := ""
	if stateOf(c).sessionIn {
		reason = h.sessions.PopString(c.Request().Context(), sessThreatReason)
	}
	return h.render(c, http.StatusOK, views.ThreatModePage(h.page(c, "Heightened-threat mode"), h.threatForm(m, reason, nil)))
}

// switchThreatMode is POST /admin/threat-mode: mode=on|off with a reason.
// Switching off also needs a fresh sign-in (tapdesk.CheckThreatSwitchSignIn)
// and raises an alert (tapdesk.AlertThreatModeOff). The switch and its
// audit event commit together.
func (h *Handler) switchThreatMode(c echo.Context) error {
	ctx := c.Request().Context()
	p := principal(c)
	cur, err := h.requestThreatMode(c)
	if err != nil {
		return err
	}
	on := c.FormValue("mode") == "on"
	if m := c.FormValue("mode"); m != "on" && m != "off" {
		return tapdesk.Titledf(tapdesk.EINVALID, "Switch not understood", "Say whether to switch heightened-threat mode on or off.")
	}
	reason := strings.TrimSpace(c.FormValue("reason"))
	if err := tapdesk.CheckThreatSwitch(p, cur, on, reason); err != nil {
		if e, ok := err.(*tapdesk.Error); ok && e.Fields != nil {
			return h.render(c, http.StatusUnprocessableEntity, views.ThreatModePage(h.page(c, "Heightened-threat mode"),
				h.threatForm(cur, c.FormValue("reason"), e.Fields)))
		}
		return err
	}
	if err := tapdesk.CheckThreatSwitchSignIn(p, on, h.cfg.ApproverMaxAge, h.cfg.ApproverMFA, h.now()); err != nil {
		h.audit(c, tapdesk.Event{Activity: tapdesk.ActAccessRefused, Category: tapdesk.CatAccess, Result: tapdesk.ResultFailure,
			Reason: tapdesk.ErrorMessage(err), Details: map[string]string{"path": c.Request().URL.Path, "threat_mode_switch": "off"}})
		if tapdesk.ErrorCode(err) == tapdesk.EUNAUTHORIZED {
			h.sessions.Put(ctx, sessThreatReason, reason)
		}
		return h.signInAgainTo(c, err, freshDecide, "/admin/threat-mode", tapdesk.ThreatOffSignInBefore, tapdesk.ThreatOffSignInAfter)
	}
	state := "off"
	if on {
		state = "on"
	}
	ev := h.stamp(c, tapdesk.Event{Activity: tapdesk.ActThreatModeChanged, Category: tapdesk.CatSecurity,
		Result: tapdesk.ResultSuccess, Reason: reason, Details: map[string]string{tapdesk.ThreatModeDetail: state, "mfa": boolString(p.MFA)}})
	if err := h.store.SetThreatMode(ctx, on, p.Actor(), reason, ev); err != nil {
		return err
	}
	if on {
		h.flash(c, "Heightened-threat mode is on.")
		return c.Redirect(http.StatusSeeOther, "/admin/threat-mode")
	}
	// The alert rules find the switch off in the trail; run them now
	// rather than at the next sweep, and whether or not the admin waits.
	actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), threatAlertTimeout)
	raised, mailed := h.raiseAlerts(actx)
	cancel()
	h.kickMail()
	h.flash(c, "Heightened-threat mode is off. "+tapdesk.ThreatOffAlertSentence(raised, mailed, len(h.cfg.SecurityEmails) > 0))
	return c.Redirect(http.StatusSeeOther, "/admin/threat-mode")
}
