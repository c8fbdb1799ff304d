package handlers

import (
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/tapdesk/tapdesk"
	"github.com/tapdesk/tapdesk/views"
)

// confirmCancel is GET /requests/{id}/cancel: without JavaScript, the
// Cancel button leads here to say what cancelling does, with the POST form
// that does it. Someone who may not cancel is refused as the POST would
// refuse them.
func (h *Handler) confirmCancel(c echo.Context) error {
	return h.confirmStep(c, "cancel", tapdesk.CheckCancel, tapdesk.ConfirmCancel)
}

// confirmRevoke is GET /requests/{id}/revoke, as confirmCancel for revoking
// the pass.
func (h *Handler) confirmRevoke(c echo.Context) error {
	return h.confirmStep(c, "revoke", tapdesk.CheckRevoke, tapdesk.ConfirmRevoke)
}

func (h *Handler) confirmStep(c echo.Context, kind string, check func(*tapdesk.Request, tapdesk.Principal) error,
	words func(*tapdesk.Request) tapdesk.Confirmation) error {
	r, err := h.loadRequest(c)
	if err != nil {
		return err
	}
	if err := check(r, principal(c)); err != nil {
		return err
	}
	v := views.ConfirmView{R: r, Kind: kind, C: words(r)}
	return h.render(c, http.StatusOK, views.ConfirmPage(h.page(c, v.C.Title), v))
}
