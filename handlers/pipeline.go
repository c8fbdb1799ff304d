package handlers

import (
	"net/http"
	"time"

	"github.com/alexedwards/scs/v2"
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

// loadSession is scs's LoadAndSave written for echo: the session of the
// cookie is loaded into the request's context, and saved (its cookie
// written) just before the answer's header goes out, or after the handler
// if it wrote nothing. echo.WrapMiddleware(LoadAndSave) did the same
// through a wrapped response writer, a new echo response and four
// closures per request.
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
		r := c.Request()
		token, _ := cookieValue(r, sm.Cookie.Name)
		// The session goes into the request's state, whose context looks
		// it up, rather than into a new request (WithContext copies the
		// request, on every request).
		st := stateOf(c)
		ctx, err := sm.Load(st.Context, token)
		if err != nil {
			return h.sessionLoadFailed(c, err)
		}
		st.session = ctx
		st.save = sessionSave{sm: sm, w: res, r: r}
		s := &st.save
		res.Before(s.save)
		err = next(c)
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
// written, or after the handler if it wrote nothing (as scs's LoadAndSave).
type sessionSave struct {
	sm    *scs.SessionManager
	w     http.ResponseWriter
	r     *http.Request
	saved bool
}

func (s *sessionSave) save() {
	if s.saved {
		return
	}
	s.saved = true
	ctx := s.r.Context()
	switch s.sm.Status(ctx) {
	case scs.Modified:
		token, expiry, err := s.sm.Commit(ctx)
		if err != nil {
			s.sm.ErrorFunc(s.w, s.r, err)
			return
		}
		s.sm.WriteSessionCookie(ctx, s.w, token, expiry)
	case scs.Destroyed:
		s.sm.WriteSessionCookie(ctx, s.w, "", time.Time{})
	}
}
