package handlers

import (
	"context"
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/tapdesk/tapdesk"
	"github.com/tapdesk/tapdesk/views"
)

// threatMode is heightened-threat mode as it holds now: stored (shared by
// every instance, read through the store's cache) or forced by the
// setting. Filing, approving and issuing act on it; a read that fails
// refuses rather than assume the mode is off.
func (h *Handler) threatMode(ctx context.Context) (tapdesk.ThreatMode, error) {
	m, err := h.store.ThreatMode(ctx)
	if err != nil {
		return m, err
	}
	if h.cfg.ThreatModeForced {
		m.On, m.Forced = true, true
	}
	return m, nil
}

// threatBanner is the mode for the page's banner. A failed read shows the
// banner as if on when the setting forces it, and is logged: a page must
// not fail because the banner could not be read.
func (h *Handler) threatBanner(c echo.Context) tapdesk.ThreatMode {
	m, err := h.threatMode(c.Request().Context())
	if err != nil {
		h.log.Warn("heightened-threat mode unreadable for the banner", "err", err)
		return tapdesk.ThreatMode{On: h.cfg.ThreatModeForced, Forced: h.cfg.ThreatModeForced}
	}
	return m
}

// threatModePage is GET /admin/threat-mode.
func (h *Handler) threatModePage(c echo.Context) error {
	m, err := h.threatMode(c.Request().Context())
	if err != nil {
		return err
	}
	return h.render(c, http.StatusOK, views.ThreatModePage(h.page(c, "Heightened-threat mode"), views.ThreatModeForm{Mode: m}))
}

// switchThreatMode is POST /admin/threat-mode: mode=on|off with a reason.
// The switch and its audit event commit together.
func (h *Handler) switchThreatMode(c echo.Context) error {
	ctx := c.Request().Context()
	p := principal(c)
	cur, err := h.threatMode(ctx)
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
				views.ThreatModeForm{Mode: cur, Reason: c.FormValue("reason"), Errors: e.Fields}))
		}
		return err
	}
	state := "off"
	if on {
		state = "on"
	}
	ev := h.stamp(c, tapdesk.Event{Activity: tapdesk.ActThreatModeChanged, Category: tapdesk.CatSecurity,
		Result: tapdesk.ResultSuccess, Reason: reason, Details: map[string]string{"threat_mode": state}})
	if err := h.store.SetThreatMode(ctx, on, p.Actor(), reason, ev); err != nil {
		return err
	}
	h.flash(c, "Heightened-threat mode is "+state+".")
	return c.Redirect(http.StatusSeeOther, "/admin/threat-mode")
}
