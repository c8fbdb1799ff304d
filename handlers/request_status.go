package handlers

import (
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/tapdesk/tapdesk"
)

// requestStatusPath is the route of requestStatus, which loadPrincipal does
// not count as activity.
const requestStatusPath = "/requests/:id/status"

// requestStatus is GET /requests/{id}/status: where the request stands, as
// a tiny JSON object with an ETag, for the request page to poll (app.js).
// Polling rather than a stream: each answer is read from the database, so
// it is right behind any proxy and on any instance, and holds no
// connection open. It is authorised exactly like the page (loadRequest).
// An unchanged request answers 304 to If-None-Match.
func (h *Handler) requestStatus(c echo.Context) error {
	r, err := h.loadRequest(c)
	if err != nil {
		return err
	}
	version := tapdesk.StatusVersion(r)
	etag := `"` + version + `"`
	c.Response().Header().Set("ETag", etag)
	if c.Request().Header.Get("If-None-Match") == etag {
		return c.NoContent(http.StatusNotModified)
	}
	return c.JSON(http.StatusOK, struct {
		State   tapdesk.State `json:"state"`
		Label   string        `json:"label"`
		Version string        `json:"version"`
	}{r.State, r.State.Label(), version})
}
