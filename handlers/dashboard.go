package handlers

import (
	"context"
	"net/http"
	"strings"
	"time"

	"github.com/a-h/templ"
	"github.com/labstack/echo/v4"

	"github.com/tapdesk/tapdesk"
	"github.com/tapdesk/tapdesk/store"
	"github.com/tapdesk/tapdesk/views"
)

// dashboard shows the person's lists. Their rendered HTML is kept per
// person (dashboardCache) while the database has committed nothing since
// and no listed request has reached its deadline, so a shift of agents
// reloading their dashboards costs no query and no render.
func (h *Handler) dashboard(c echo.Context) error {
	p := principal(c)
	if p.IsZero() {
		return c.Redirect(http.StatusSeeOther, "/auth/login")
	}
	page := h.page(c, "Dashboard")
	// The count is read before the lists are: a write committed while they
	// are read advances it past what the entry is stored under.
	gen, trusted := h.store.Generation()
	now := h.now()
	key := viewerKey(p)
	if trusted {
		if html, ok := h.lists.get(key, gen, now); ok {
			return h.render(c, http.StatusOK, views.DashboardPage(page, templ.Raw(html)))
		}
	}
	d, until, err := h.dashboardLists(c.Request().Context(), p, now)
	if err != nil {
		return err
	}
	var b strings.Builder
	if err := views.DashboardLists(views.Page{User: p}, d).Render(context.Background(), &b); err != nil {
		return err
	}
	html := b.String()
	if trusted {
		h.lists.put(key, dashboardEntry{gen: gen, built: now, until: until, html: html})
	}
	return h.render(c, http.StatusOK, views.DashboardPage(page, templ.Raw(html)))
}

// dashboardLists reads the lists p's roles show at now, and until when
// they hold as far as time goes: the first deadline of a pending request
// read, at which it leaves "Waiting for your decision" (tapdesk.CheckDecide)
// even before the sweep marks it expired. Zero: time changes nothing.
func (h *Handler) dashboardLists(ctx context.Context, p tapdesk.Principal, now time.Time) (d views.Dashboard, until time.Time, err error) {
	if p.Has(tapdesk.RoleRequester) {
		if d.Mine, err = h.store.Requests(ctx, store.RequestFilter{RequesterOID: p.ObjectID, Limit: 25, Summary: true}); err != nil {
			return d, until, err
		}
	}
	if p.Has(tapdesk.RoleApprover) {
		pending, err := h.store.Requests(ctx, store.RequestFilter{States: []tapdesk.State{tapdesk.StatePending}, Limit: 200, WithApprovals: true, Summary: true})
		if err != nil {
			return d, until, err
		}
		for _, r := range pending {
			if now.Before(r.ExpiresAt) && (until.IsZero() || r.ExpiresAt.Before(until)) {
				until = r.ExpiresAt
			}
			if tapdesk.CheckDecide(r, p, now) == nil {
				d.Awaiting = append(d.Awaiting, r)
			}
		}
	}
	if p.Has(tapdesk.RoleAuditor) || p.Has(tapdesk.RoleAdmin) {
		if d.Recent, err = h.store.Requests(ctx, store.RequestFilter{Limit: 25, Summary: true}); err != nil {
			return d, until, err
		}
	}
	return d, until, nil
}
