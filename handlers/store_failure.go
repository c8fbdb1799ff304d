package handlers

import (
	"net/http"

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

// sessionSaveFailed is told when a session cannot be saved (Sessions.save). That happens as the answer's
// header goes out (echo's Before hook), when the page is decided: writing
// another answer then would mix two, so the failure is only logged, with
// the request id. The next request's read of the session meets the same
// store and is answered by sessionLoadFailed.
func (h *Handler) sessionSaveFailed(_ http.ResponseWriter, r *http.Request, err error) {
	h.log.ErrorContext(r.Context(), "session store failed: the session was not saved", "request_id", tapdesk.RequestIDFrom(r.Context()),
		"method", r.Method, "path", r.URL.Path, "err", err)
}
