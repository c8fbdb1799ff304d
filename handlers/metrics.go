package handlers

import (
	"strconv"
	"sync"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/tapdesk/tapdesk"
	"github.com/tapdesk/tapdesk/metrics"
)

// observe counts every request by route template, method and status, times
// it, and keeps the in-flight gauge. It is the outermost middleware, so it
// sees the status the error handler chose (it runs the error handler
// itself, as echo would after it) and the time of everything else.
//
// In the demo (and with TAPDESK_SERVER_TIMING) it also answers Server-Timing: app (server time until the
// answer starts) and graph (time spent waiting on Graph calls for this
// request, calls side by side counting once, marked by entra's transport
// through the request's context), which the
// benchmarks read to report tapdesk's own time apart from Graph's; and
// graph-calls and db-writes, the HTTP exchanges with Graph and the turns
// to write the database took until then (the session's save, if any,
// comes just after), which tests pin for the costly steps.
func (h *Handler) observe(routes func() map[string]bool) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			start := stateOf(c).started()
			h.metrics.HTTPBegin()
			defer h.metrics.HTTPEnd()
			res := c.Response()
			if h.cfg.Demo || h.cfg.ServerTiming {
				// requestID made the scope the request adds up in.
				if scope := tapdesk.RequestScopeFrom(c.Request().Context()); scope != nil {
					res.Before(func() {
						res.Header()["Server-Timing"] = []string{serverTiming(time.Since(start), scope)}
					})
				}
			}
			if err := next(c); err != nil {
				c.Error(err)
			}
			route := c.Path()
			if !routes()[c.Request().Method+" "+route] {
				// 404s and 405s: the path is not a label, or anyone could
				// mint series (and a path may hold a UPN).
				route = metrics.RouteUnmatched
			}
			h.metrics.ObserveHTTP(route, c.Request().Method, res.Status, time.Since(start))
			return nil
		}
	}
}

// serverTiming is the Server-Timing header value, times in milliseconds.
func serverTiming(app time.Duration, s *tapdesk.RequestScope) string {
	var buf [96]byte
	b := append(buf[:0], "app;dur="...)
	b = strconv.AppendFloat(b, float64(app.Microseconds())/1000, 'f', 3, 64)
	b = append(b, ", graph;dur="...)
	b = strconv.AppendFloat(b, float64(s.GraphTime().Microseconds())/1000, 'f', 3, 64)
	b = append(b, ", graph-calls;desc="...)
	b = strconv.AppendInt(b, s.GraphCalls(), 10)
	b = append(b, ", db-writes;desc="...)
	b = strconv.AppendInt(b, s.WriteTurns(), 10)
	return string(b)
}

// routeSet lists e's routes as "METHOD /template" once, at the first
// request: every route (the demo's too) is registered before serving.
func routeSet(e *echo.Echo) func() map[string]bool {
	return sync.OnceValue(func() map[string]bool {
		set := map[string]bool{}
		for _, r := range e.Routes() {
			set[r.Method+" "+r.Path] = true
		}
		return set
	})
}
