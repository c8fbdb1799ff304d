package handlers

import (
	"net/http"

	"github.com/labstack/echo/v4"
)

// pipeline is the middleware every request goes through, composed once.
// echo composes the middleware given to Use anew on every request (one
// closure per middleware per request, and unless's wrappers twice over);
// this composes it when the routes are set up and gives echo a single
// middleware that returns the composed chain as it is. The chain ends in
// the handler echo matched (c.Handler()), which is the handler echo would
// have passed in, as long as this is the only middleware given to Use.
//
// Order: the request id first, then metrics and the request line (so they
// see the final status), recovery, the write deadline, security headers,
// the body limit; then, except on sessionless routes, the session, the
// signed-in person and CSRF.
func (h *Handler) pipeline(e *echo.Echo) echo.MiddlewareFunc {
	matched := func(c echo.Context) error { return c.Handler()(c) }
	withSession := compose(matched, h.loadSession, h.loadPrincipal, h.csrf())
	route := func(c echo.Context) error {
		if sessionless(c) {
			return matched(c)
		}
		return withSession(c)
	}
	all := compose(route, h.requestID, h.observe(routeSet(e)), h.requestLog, h.recoverer, h.writeDeadline, h.securityHeaders, h.limitBody)
	return func(echo.HandlerFunc) echo.HandlerFunc { return all }
}

// compose wraps next in mws, the first outermost.
func compose(next echo.HandlerFunc, mws ...echo.MiddlewareFunc) echo.HandlerFunc {
	for i := len(mws) - 1; i >= 0; i-- {
		next = mws[i](next)
	}
	return next
}

// loadSession loads the session of the cookie into the request's state,
// and saves it (its cookie written) just before the answer's header goes
// out, or after the handler if it wrote nothing.
func (h *Handler) loadSession(next echo.HandlerFunc) echo.HandlerFunc {
	sm := h.sessions
	return func(c echo.Context) error {
		res := c.Response()
		// As Header().Add("Vary", "Cookie"), sharing the value when it is
		// the only one (securityHeaders' fixed values explain why that is
		// safe); a later Add appends to a copy, the shared slice being full.
		if hd := res.Header(); len(hd["Vary"]) == 0 {
			hd["Vary"] = h.fixedHeaders.varyCookie
		} else {
			hd.Add("Vary", "Cookie")
		}
		st := stateOf(c)
		r := c.Request() // the one carrying st (stateOf may have made it)
		token, _ := cookieValue(r, sm.cookie.name)
		if err := sm.load(r.Context(), &st.session, token); err != nil {
			return h.sessionLoadFailed(c, err)
		}
		st.sessionIn = true
		st.save = sessionSave{sm: sm, w: res, r: r}
		s := &st.save
		res.Before(s.save)
		err := next(c)
		// An error's page is drawn further out (echo's error handler), and
		// drawing it may change the session (it shows and drops the flash):
		// its header's Before hook saves then, with that change.
		if err == nil || res.Committed {
			s.save()
		}
		return err
	}
}

// sessionSave saves a request's session once: when the answer's header is
// written, or after the handler if it wrote nothing.
type sessionSave struct {
	sm    *Sessions
	w     http.ResponseWriter
	r     *http.Request
	saved bool
}

func (s *sessionSave) save() {
	if s.saved {
		return
	}
	s.saved = true
	s.sm.save(s.r.Context(), s.w, s.r)
}
