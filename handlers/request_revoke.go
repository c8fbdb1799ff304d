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
	note, err := h.deletePass(ctx, r)
	if err != nil {
		h.audit(c, tapdesk.Event{Activity: tapdesk.ActRevoke, Category: tapdesk.CatMethod, Result: tapdesk.ResultFailure,
			Reason: tapdesk.ErrorMessage(err)}.ForRequest(r))
		return err
	}
	ev := h.stamp(c, tapdesk.Event{Activity: tapdesk.ActRevoke, Category: tapdesk.CatMethod, Reason: note})
	if err := h.store.Transition(ctx, r, store.Change{From: tapdesk.StateIssued, To: tapdesk.StateRevoked, At: ev.Time}, nil, ev); err != nil {
		return err
	}
	h.flash(c, "The pass was deleted in Entra ID; it can no longer be used.")
	return c.Redirect(http.StatusSeeOther, "/requests/"+r.ID)
}

// deletePass deletes the issued pass of r in Entra. A pass already gone
// (used up, expired and cleaned up, or replaced) counts as deleted: the goal
// holds, and note says so for the audit event.
func (h *Handler) deletePass(ctx context.Context, r *tapdesk.Request) (note string, err error) {
	err = h.dir.DeleteTAP(ctx, r.TargetID, r.TAPMethodID)
	var ge *tapdesk.GraphError
	if errors.As(err, &ge) && ge.Kind == tapdesk.GraphNotFound {
		return "the pass no longer existed in Entra", nil
	}
	return "", err
}
