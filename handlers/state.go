package handlers

import (
	"context"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/tapdesk/tapdesk"
)

// requestState is what tapdesk's middleware and handlers keep for one
// request, in one place, in the request's context: its scope (the id and
// what it adds up, tapdesk.RequestScope) and what the pipeline found out
// for the handler and the page. echo's per-request store (c.Set, c.Get)
// took a lock, a map and a boxed value for each of these on every
// request; echo's own CSRF middleware still keeps its token there
// (ctxCSRF).
type requestState struct {
	context.Context // the request's context it was put on
	// session is the request's session once loadSession has loaded it
	// (sessionIn: refusals made before that render their page without
	// one); Value hands it out for sessionKey (Sessions).
	session   session
	sessionIn bool
	scope     tapdesk.RequestScope
	// hasScope: scope is the request's (the pipeline made the state); a
	// state made for a context from elsewhere (stateOf) leaves the scope
	// to that context.
	hasScope bool
	start    time.Time // when the pipeline took the request: one clock reading for its middleware (started)

	principal  tapdesk.Principal // the signed-in person (zero if anonymous)
	nonce      string            // the CSP nonce (securityHeaders)
	secretPage bool              // the page holds a secret (keepSecret)
	pageKey    string            // the slot a page sent compressed is kept under (Handler.pages); "" is not kept
	flash      *flashOut         // the flash this request set
	save       sessionSave       // saves the session once (loadSession)
	deadline   deadlineWriter    // the answer's writer (writeDeadline)
	threat     threatRead        // the mode as this request read it, once read (requestThreatMode)

	// The values of the answer's X-Request-Id and Content-Security-Policy
	// headers, each answer's own: held here rather than in a slice of
	// their own each.
	idHeader, cspHeader [1]string
}

// stateKey finds the requestState in a context.
type stateKey struct{}

// Value is the state itself for stateKey, its scope for the scope's key
// (tapdesk.RequestScopeFrom) and its session for sessionKey once loaded,
// else the value of the context below it.
func (s *requestState) Value(key any) any {
	if key == (stateKey{}) {
		return s
	}
	if s.hasScope && tapdesk.IsRequestScopeKey(key) {
		return &s.scope
	}
	if key == (sessionKey{}) && s.sessionIn {
		return &s.session
	}
	return s.Context.Value(key)
}

// newRequestState is the state of a request whose context is ctx, taken
// at start; it is the context carrying itself and its scope.
func newRequestState(ctx context.Context, id string, start time.Time) *requestState {
	s := &requestState{Context: ctx, start: start, hasScope: true}
	s.scope.ID = id
	return s
}

// started is when the pipeline took the request (now, for a request that
// came some other way).
func (s *requestState) started() time.Time {
	if s.start.IsZero() {
		s.start = time.Now()
	}
	return s.start
}

// stateOf is the request's state. requestID puts it in every request's
// context; a context made without the pipeline (a test's) gets one here.
func stateOf(c echo.Context) *requestState {
	r := c.Request()
	if s, ok := r.Context().Value(stateKey{}).(*requestState); ok {
		return s
	}
	s := &requestState{Context: r.Context()}
	c.SetRequest(r.WithContext(s))
	return s
}
