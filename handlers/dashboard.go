package handlers

import (
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/tapdesk/tapdesk"
	"github.com/tapdesk/tapdesk/store"
	"github.com/tapdesk/tapdesk/views"
)

func (h *Handler) dashboard(c echo.Context) error {
	p := principal(c)
	if p.IsZero() {
		return c.Redirect(http.StatusSeeOther, "/auth/login")
	}
	ctx := c.Request().Context()
	var d views.Dashboard
	var err error
	if p.Has(tapdesk.RoleRequester) {
		if d.Mine, err = h.store.Requests(ctx, store.RequestFilter{RequesterOID: p.ObjectID, Limit: 25, Summary: true}); err != nil {
			return err
		}
	}
	if p.Has(tapdesk.RoleApprover) {
		pending, err := h.store.Requests(ctx, store.RequestFilter{States: []tapdesk.State{tapdesk.StatePending}, Limit: 200, WithApprovals: true, Summary: true})
		if err != nil {
			return err
		}
		now := h.now()
		for _, r := range pending {
			if tapdesk.CheckDecide(r, p, now) == nil {
				d.Awaiting = append(d.Awaiting, r)
			}
		}
	}
	if p.Has(tapdesk.RoleAuditor) || p.Has(tapdesk.RoleAdmin) {
		if d.Recent, err = h.store.Requests(ctx, store.RequestFilter{Limit: 25, Summary: true}); err != nil {
			return err
		}
	}
	return h.render(c, http.StatusOK, views.DashboardPage(h.page(c, "Dashboard"), d))
}
