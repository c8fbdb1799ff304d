package handlers

import (
	"github.com/labstack/echo/v4"

	"github.com/tapdesk/tapdesk"
	"github.com/tapdesk/tapdesk/views"
)

// refileValues fills the new-request form from the request named by the
// "from" query parameter ("File a new request" on an ended request), if
// the reader may see that request and it was for the card's user
// (tapdesk.RefileDraft says what is copied). Otherwise the form starts
// empty, and says nothing of why: a request the reader may not see is
// answered as if it did not exist.
func (h *Handler) refileValues(c echo.Context, card views.UserCard) (views.RequestValues, bool) {
	id := c.QueryParam("from")
	if len(id) != 26 {
		return views.RequestValues{}, false
	}
	r, err := h.store.Request(c.Request().Context(), id)
	if err != nil || !tapdesk.CanView(r, principal(c)) || r.TargetID != card.User.ID {
		return views.RequestValues{}, false
	}
	return tapdesk.RefileDraft(r, card.Policy), true
}
