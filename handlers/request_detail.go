package handlers

import (
	"net/http"
	"slices"

	"github.com/labstack/echo/v4"

	"github.com/tapdesk/tapdesk"
	"github.com/tapdesk/tapdesk/store"
	"github.com/tapdesk/tapdesk/views"
)

// loadRequest loads the request of the route for a person allowed to see
// it. Others get the same answer as for a missing request (no oracle), and
// the refusal is audited.
func (h *Handler) loadRequest(c echo.Context) (*tapdesk.Request, error) {
	id := c.Param("id")
	notFound := tapdesk.Titledf(tapdesk.ENOTFOUND, "Request not found", "There is no such request, or it is not yours to see.")
	if len(id) != 26 {
		return nil, notFound
	}
	r, err := h.store.Request(c.Request().Context(), id)
	if tapdesk.ErrorCode(err) == tapdesk.ENOTFOUND {
		return nil, notFound
	}
	if err != nil {
		return nil, err
	}
	if !tapdesk.CanView(r, principal(c)) {
		h.audit(c, tapdesk.Event{Activity: tapdesk.ActAccessRefused, Category: tapdesk.CatAccess, Result: tapdesk.ResultFailure,
			Reason: "not the requester, an approver or an auditor", RequestID: r.ID, CorrelationID: r.CorrelationID,
			TargetID: r.TargetID, TargetUPN: r.TargetUPN, Details: map[string]string{"path": c.Request().URL.Path}})
		return nil, notFound
	}
	return r, nil
}

// requestDetail is GET /requests/{id}.
func (h *Handler) requestDetail(c echo.Context) error {
	r, err := h.loadRequest(c)
	if err != nil {
		return err
	}
	return h.renderDetail(c, http.StatusOK, r)
}

func (h *Handler) renderDetail(c echo.Context, status int, r *tapdesk.Request, change ...func(*views.RequestDetail)) error {
	p, now := principal(c), h.now()
	timeline, err := h.store.Events(c.Request().Context(), store.EventFilter{RequestID: r.ID})
	if err != nil {
		return err
	}
	slices.Reverse(timeline) // oldest first reads as a story
	d := views.RequestDetail{
		R:         r,
		Timeline:  timeline,
		CanCancel: tapdesk.CheckCancel(r, p) == nil,
		CanReveal: tapdesk.CheckReveal(r, p, now) == nil,
		CanRevoke: tapdesk.CheckRevoke(r, p) == nil,
		// The evidence slice (issue 13): the pack's download link.
		CanExportEvidence: h.evidence != nil && tapdesk.CanExportEvidence(r, p),
		Status:            views.RequestStatusView{R: r, S: tapdesk.StatusOf(r, timeline, p, now)},
	}
	if p.Has(tapdesk.RoleApprover) && r.State == tapdesk.StatePending {
		if err := tapdesk.CheckDecide(r, p, now); err != nil {
			d.DecideBlock = tapdesk.ErrorMessage(err)
		} else {
			d.CanDecide = true
		}
		d.Glance = h.targetGlance(c, r, now)
	}
	for _, f := range change {
		f(&d)
	}
	return h.render(c, status, views.RequestDetailPage(h.page(c, "Request for "+r.TargetName), d))
}
