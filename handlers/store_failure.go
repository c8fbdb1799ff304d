package handlers

import (
	"github.com/labstack/echo/v4"

	"github.com/tapdesk/tapdesk"
)

// sessionLoadFailed answers a request whose session could not be read
// from the store (loadSession): the database's error goes to the app's
// log with the request id, the person reads a titled 503 without it.
func (h *Handler) sessionLoadFailed(c echo.Context, err error) error {
	r := c.Request()
	h.log.ErrorContext(r.Context(), "session store failed: the session was not read", "request_id", tapdesk.RequestIDFrom(r.Context()),
		"method", r.Method, "route", c.Path(), "err", err)
	return tapdesk.SessionStoreUnavailable()
}
