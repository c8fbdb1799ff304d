package handlers

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/tapdesk/tapdesk"
)

type otherKey struct{}

// TestRequestStateContext checks what the request's state answers as its
// context: itself, the request's scope (without a context of its own for
// it), and the values of the context below.
func TestRequestStateContext(t *testing.T) {
	below := context.WithValue(context.Background(), otherKey{}, "below")
	st := newRequestState(below, "req-1", time.Now())
	if tapdesk.RequestScopeFrom(st) != &st.scope || tapdesk.RequestIDFrom(st) != "req-1" {
		t.Errorf("scope: %p (id %q), want the state's own %p", tapdesk.RequestScopeFrom(st), tapdesk.RequestIDFrom(st), &st.scope)
	}
	if got, _ := st.Value(otherKey{}).(string); got != "below" {
		t.Errorf("a value of the context below: %q", got)
	}
	if got, _ := st.Value(stateKey{}).(*requestState); got != st {
		t.Error("the state does not find itself")
	}
	// A scope set on top of the state wins, as any context value does.
	inner := tapdesk.WithRequestID(st, "inner")
	if tapdesk.RequestIDFrom(inner) != "inner" {
		t.Errorf("a scope above the state: %q", tapdesk.RequestIDFrom(inner))
	}

	// A state made for a request from elsewhere (a test's) leaves the
	// scope to the context it came with.
	r := httptest.NewRequest(http.MethodGet, "/", nil)
	r = r.WithContext(tapdesk.WithRequestID(r.Context(), "given"))
	c := echo.New().NewContext(r, httptest.NewRecorder())
	made := stateOf(c)
	if made.hasScope || tapdesk.RequestIDFrom(c.Request().Context()) != "given" {
		t.Errorf("a state made by stateOf: id %q, want the context's own", tapdesk.RequestIDFrom(c.Request().Context()))
	}
	if tapdesk.RequestScopeFrom(made) == &made.scope {
		t.Error("a state made by stateOf answers with its empty scope")
	}
}

// TestWriteDeadlineTwice checks a request that goes through writeDeadline
// twice keeps one writer: its state holds the writer, and wrapping it
// again in place would make the writer its own ResponseWriter (a write
// would recurse forever).
func TestWriteDeadlineTwice(t *testing.T) {
	h := &Handler{cfg: Config{WriteTimeout: time.Minute}}
	handler := h.writeDeadline(h.writeDeadline(func(c echo.Context) error {
		return c.String(http.StatusOK, "written")
	}))
	rec := httptest.NewRecorder()
	c := echo.New().NewContext(httptest.NewRequest(http.MethodGet, "/", nil), rec)
	if err := handler(c); err != nil {
		t.Fatal(err)
	}
	if rec.Body.String() != "written" {
		t.Errorf("body %q", rec.Body.String())
	}
	w, ok := c.Response().Writer.(*deadlineWriter)
	if !ok {
		t.Fatalf("the answer's writer is %T, want a deadlineWriter", c.Response().Writer)
	}
	if w.ResponseWriter != http.ResponseWriter(rec) {
		t.Errorf("the deadlineWriter writes to %T, want the recorder", w.ResponseWriter)
	}
}
