package handlers

import (
	"bytes"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/tapdesk/tapdesk"
)

// limitBody runs before anything can read a request's body (sessions, CSRF,
// handlers). It refuses a declared length over tapdesk.MaxFormBytes and any
// encoding but a urlencoded form without reading a byte, then reads the body
// whole into memory, cut at the limit: an undeclared length cannot grow past
// it, and nothing downstream can parse multipart and leave a temporary file
// behind. A body still trickling in when the server's read timeout ends is
// refused too.
func (h *Handler) limitBody(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		r := c.Request()
		if err := tapdesk.CheckFormBody(r.Method, headerValue(r.Header, echo.HeaderContentType), r.ContentLength); err != nil {
			// Whatever the client still sends is not wanted: close the
			// connection after this answer rather than drain it.
			c.Response().Header().Set(echo.HeaderConnection, "close")
			return h.bodyRefused(c, err)
		}
		if r.Body == nil || r.Body == http.NoBody {
			return next(c)
		}
		body, err := io.ReadAll(http.MaxBytesReader(c.Response(), r.Body, tapdesk.MaxFormBytes))
		if err != nil {
			c.Response().Header().Set(echo.HeaderConnection, "close")
			var tooLarge *http.MaxBytesError
			var netErr net.Error
			switch {
			case errors.As(err, &tooLarge):
				return h.bodyRefused(c, tapdesk.BodyTooLarge())
			case errors.Is(err, os.ErrDeadlineExceeded), errors.As(err, &netErr) && netErr.Timeout():
				return h.bodyRefused(c, tapdesk.BodyTooSlow())
			}
			return tapdesk.BodyIncomplete()
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		return next(c)
	}
}

// bodyRefused audits a body refused unread (too large, not a form, too
// slow) and returns the refusal. A cross-site text/plain or multipart post
// is a CSRF attempt, so it is recorded like one; the sessions are not
// loaded yet, so the event names the address only, and the tally counts
// these refusals as it counts every anonymous one.
func (h *Handler) bodyRefused(c echo.Context, err error) error {
	r := c.Request()
	h.audit(c, tapdesk.Event{Activity: tapdesk.ActAccessRefused, Category: tapdesk.CatAccess, Result: tapdesk.ResultFailure,
		Reason: "body refused unread: " + tapdesk.ErrorMessage(err),
		Details: map[string]string{"path": auditPath(c), "method": r.Method, "status": strconv.Itoa(statusOf(tapdesk.ErrorCode(err))),
			"content_type":   tapdesk.BoundText(r.Header.Get(echo.HeaderContentType), tapdesk.MaxRefusedContentTypeChars),
			"content_length": strconv.FormatInt(r.ContentLength, 10)}})
	return err
}

// writeDeadline makes the server's write timeout count from each write
// rather than from the start of the request: it still cuts off a client
// that stops reading, but a page that waited on Graph (a reveal, whose pass
// must not be lost on the way out) or a long audit export is never cut off
// for taking its time.
func (h *Handler) writeDeadline(next echo.HandlerFunc) echo.HandlerFunc {
	if h.cfg.WriteTimeout <= 0 {
		return next
	}
	return func(c echo.Context) error {
		res := c.Response()
		// The server has just set the connection's write deadline
		// WriteTimeout on from when it read the request (cmd/tapdesk runs
		// it with this same WriteTimeout): that deadline stands as the
		// first one, so a page written at once sets none of its own.
		// The writer lives in the request's state: one allocation fewer.
		// A request wrapped once already keeps its writer (wrapping it
		// again in place would make it its own ResponseWriter).
		st := stateOf(c)
		if res.Writer == http.ResponseWriter(&st.deadline) {
			return next(c)
		}
		st.deadline = deadlineWriter{ResponseWriter: res.Writer, timeout: h.cfg.WriteTimeout, until: st.started().Add(h.cfg.WriteTimeout)}
		res.Writer = &st.deadline
		return next(c)
	}
}

// deadlineWriter pushes the connection's write deadline forward before
// every write, through http.ResponseController.
type deadlineWriter struct {
	http.ResponseWriter
	rc      *http.ResponseController // made when first needed
	timeout time.Duration
	// until is the deadline last set, or the one the server set (at most
	// this: it was set a moment before).
	until time.Time
}

// extend sets the write deadline timeout from now, unless the one set last
// is still at least deadlineSlack of timeout away: a page's header and
// body are written microseconds apart, and each setting of a deadline
// takes the runtime's timer locks.
func (w *deadlineWriter) extend() {
	now := time.Now()
	if w.until.Sub(now) >= w.timeout-w.timeout/deadlineSlack {
		return
	}
	w.until = now.Add(w.timeout)
	_ = w.controller().SetWriteDeadline(w.until)
}

func (w *deadlineWriter) controller() *http.ResponseController {
	if w.rc == nil {
		w.rc = http.NewResponseController(w.ResponseWriter)
	}
	return w.rc
}

// deadlineSlack: a write may find its deadline up to timeout/deadlineSlack
// closer than timeout (under a second for the default minute).
const deadlineSlack = 64

func (w *deadlineWriter) WriteHeader(code int) { w.extend(); w.ResponseWriter.WriteHeader(code) }

func (w *deadlineWriter) Write(p []byte) (int, error) { w.extend(); return w.ResponseWriter.Write(p) }

// Flush keeps streaming (the audit export) working through the wrapper.
func (w *deadlineWriter) Flush() { w.extend(); _ = w.controller().Flush() }

// Unwrap lets http.ResponseController reach the connection underneath.
func (w *deadlineWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
