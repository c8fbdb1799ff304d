package handlers

import (
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/tapdesk/tapdesk/static"
)

// staticFile serves an embedded file; an unknown one gets the 404 page.
func (h *Handler) staticFile(c echo.Context) error {
	if !static.Serve(c.Response(), c.Request(), c.Param("*")) {
		c.Response().Header().Set("Cache-Control", "no-store") // it may exist after an upgrade
		return echo.ErrNotFound
	}
	return nil
}

// favicon sends browsers that ask for /favicon.ico (pages name their icon)
// to the icon's plain name, which stays valid across releases, unlike
// its hashed name a permanent redirect would pin.
func (h *Handler) favicon(c echo.Context) error {
	return c.Redirect(http.StatusMovedPermanently, static.Prefix+"favicon.svg")
}
