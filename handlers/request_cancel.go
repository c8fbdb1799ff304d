package handlers

import (
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/tapdesk/tapdesk"
	"github.com/tapdesk/tapdesk/store"
)

// cancel is POST /requests/{id}/cancel, by its requester.
func (h *Handler) cancel(c echo.Context) error {
	r, err := h.loadRequest(c)
	if err != nil {
		return err
	}
	if err := tapdesk.CheckCancel(r, principal(c)); err != nil {
		h.refuse(c, r, tapdesk.ActRequestRefused, err)
		return err
	}
	ev := h.stamp(c, tapdesk.Event{Activity: tapdesk.ActRequestCancel, Category: tapdesk.CatRequest})
	ch := store.Change{From: r.State, To: tapdesk.StateCancelled, At: ev.Time, Unclaimed: true}
	if err := h.store.Transition(c.Request().Context(), r, ch, nil, ev); err != nil {
		return err
	}
	h.flash(c, "Request cancelled.")
	return c.Redirect(http.StatusSeeOther, "/requests/"+r.ID)
}

// refuse audits a rule that stopped someone acting on a request.
func (h *Handler) refuse(c echo.Context, r *tapdesk.Request, act tapdesk.Activity, err error) {
	h.audit(c, tapdesk.Event{Activity: act, Category: tapdesk.CatAccess, Result: tapdesk.ResultFailure,
		Reason: tapdesk.ErrorMessage(err), Details: map[string]string{"path": c.Request().URL.Path}}.ForRequest(r))
}
