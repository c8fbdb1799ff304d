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

// sessionless says whether the matched route is one that answers the same
// to everyone and is asked for far more often than pages: probes and
// static files. They never touch the session store, the signed-in person
// or the CSRF cookie (see Routes).
func sessionless(c echo.Context) bool {
	switch c.Path() {
	case "/healthz", "/readyz", "/static/*", "/favicon.ico":
		return true
	}
	return false
}

// unless runs each middleware except on requests skip picks.
func unless(skip func(echo.Context) bool, mws ...echo.MiddlewareFunc) []echo.MiddlewareFunc {
	out := make([]echo.MiddlewareFunc, len(mws))
	for i, mw := range mws {
		out[i] = func(next echo.HandlerFunc) echo.HandlerFunc {
			with := mw(next)
			return func(c echo.Context) error {
				if skip(c) {
					return next(c)
				}
				return with(c)
			}
		}
	}
	return out
}
