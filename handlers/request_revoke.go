package handlers

import (
	"context"
	"errors"
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/tapdesk/tapdesk"
	"github.com/tapdesk/tapdesk/store"
)

// revoke is POST /requests/{id}/revoke: delete the pass in Entra.
func (h *Handler) revoke(c echo.Context) error {
	r, err := h.loadRequest(c)
	if err != nil {
		return err
	}
	if err := tapdesk.CheckRevoke(r, principal(c)); err != nil {
		h.refuse(c, r, tapdesk.ActRequestRefused, err)
		return err
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(c.Request().Context()), graphTimeout)
	defer cancel()
	note := ""
	if err := h.dir.DeleteTAP(ctx, r.TargetID, r.TAPMethodID); err != nil {
		var ge *tapdesk.GraphError
		if !errors.As(err, &ge) || ge.Kind != tapdesk.GraphNotFound {
			h.audit(c, tapdesk.Event{Activity: tapdesk.ActRevoke, Category: tapdesk.CatMethod, Result: tapdesk.ResultFailure,
				Reason: tapdesk.ErrorMessage(err)}.ForRequest(r))
			return err
		}
		// Already gone (expired and cleaned up, or replaced): the goal holds.
		note = "the pass no longer existed in Entra"
	}
	ev := h.stamp(c, tapdesk.Event{Activity: tapdesk.ActRevoke, Category: tapdesk.CatMethod, Reason: note})
	if err := h.store.Transition(ctx, r, store.Change{From: tapdesk.StateIssued, To: tapdesk.StateRevoked, At: ev.Time}, nil, ev); err != nil {
		return err
	}
	h.flash(c, "The pass was deleted in Entra ID; it can no longer be used.")
	return c.Redirect(http.StatusSeeOther, "/requests/"+r.ID)
}
