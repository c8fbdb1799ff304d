package handlers

import (
	"net/http"
	"net/url"

	"github.com/labstack/echo/v4"

	"github.com/tapdesk/tapdesk"
)

// approvalLink is GET /approve/{token}, the landing of an approval email.
// The link only identifies the request: the approver must be signed in
// with the approver role, and deciding happens on the request page. The
// token is spent by a signed-in approver, so mail scanners that prefetch
// links (anonymous) do not burn it.
func (h *Handler) approvalLink(c echo.Context) error {
	token := c.Param("token")
	p := principal(c)
	if p.IsZero() {
		return c.Redirect(http.StatusSeeOther, "/auth/login?next="+url.QueryEscape("/approve/"+token))
	}
	if !p.Has(tapdesk.RoleApprover) {
		h.audit(c, tapdesk.Event{Activity: tapdesk.ActLinkRefused, Category: tapdesk.CatApproval, Result: tapdesk.ResultFailure,
			Reason: "signed-in person is not an approver"})
		return tapdesk.Errorf(tapdesk.EFORBIDDEN, "This approval link is for approvers; your account does not have the Tap.Approver role.")
	}
	ev := h.stamp(c, tapdesk.Event{Activity: tapdesk.ActLinkOpened, Category: tapdesk.CatApproval})
	id, err := h.store.UseLink(c.Request().Context(), token, p.Actor(), ev.Time, ev)
	if err != nil {
		refusal := tapdesk.Event{Activity: tapdesk.ActLinkRefused, Category: tapdesk.CatApproval, Result: tapdesk.ResultFailure,
			Reason: tapdesk.ErrorMessage(err), RequestID: id}
		if id != "" {
			if r, lerr := h.store.Request(c.Request().Context(), id); lerr == nil {
				refusal = refusal.ForRequest(r)
			}
		}
		h.audit(c, refusal)
		return err
	}
	return c.Redirect(http.StatusSeeOther, "/requests/"+id)
}
