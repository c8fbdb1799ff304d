package handlers

import (
	"context"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/tapdesk/tapdesk"
	"github.com/tapdesk/tapdesk/views"
)

// glanceLookupTimeout bounds the Entra lookups behind the target summary:
// an approver on a phone gets the page (saying Entra could not be read)
// rather than waiting on a slow Graph.
const glanceLookupTimeout = 8 * time.Second

// targetGlance gathers what an approver weighs beside a pending request:
// the target as Entra shows them now, their methods and pass, and
// tapdesk's own records of the target (other open requests, recent
// passes). tapdesk.AssessRisks decides what is a risk. A failed lookup
// leaves the page standing with a sentence saying so.
func (h *Handler) targetGlance(c echo.Context, r *tapdesk.Request, now time.Time) *views.Glance {
	ctx := c.Request().Context()
	var f tapdesk.TargetFacts
	lookup, cancel := context.WithTimeout(ctx, glanceLookupTimeout)
	defer cancel()
	if u, err := h.dir.User(lookup, r.TargetID); err != nil {
		h.log.WarnContext(ctx, "target summary: user lookup failed", "request_id", r.ID, "err", err)
		f.LookupError = "Could not read the user's current details from Entra. Check them in the Entra admin center before deciding."
	} else {
		f.User = u
		if methods, err := h.dir.Methods(lookup, u.ID); err != nil {
			h.log.WarnContext(ctx, "target summary: methods lookup failed", "request_id", r.ID, "err", err)
			f.LookupError = "Could not read the user's authentication methods from Entra."
		} else {
			f.Methods = methods
			for _, m := range methods {
				if m.TAP != nil {
					f.TAP = m.TAP
				}
			}
		}
	}
	records, err := h.store.TargetRequests(ctx, r.TargetID, now.Add(-tapdesk.RecentPassWindow))
	if err != nil {
		h.log.ErrorContext(ctx, "target summary: requests of the target", "request_id", r.ID, "err", err)
	}
	for _, o := range records {
		switch {
		case o.ID == r.ID:
		case o.State.Open():
			f.OtherOpen = append(f.OtherOpen, o)
		case tapdesk.RecentPass(o, now):
			f.RecentPasses = append(f.RecentPasses, o)
		}
	}
	hours := h.cfg.WorkingHours
	if hours.IsZero() {
		hours, _ = tapdesk.ParseWorkingHours(tapdesk.DefaultWorkingHours)
	}
	return &views.Glance{Facts: f, Risks: tapdesk.AssessRisks(r, f, hours, now), Now: now}
}
