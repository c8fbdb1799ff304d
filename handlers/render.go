package handlers

import (
	"bytes"
	"errors"
	"net/http"
	"strconv"
	"strings"

	"github.com/a-h/templ"
	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"

	"github.com/tapdesk/tapdesk"
	"github.com/tapdesk/tapdesk/pagezip"
	"github.com/tapdesk/tapdesk/views"
)

// render renders a component to a buffer first, so a render error is still
// a clean error page and never half a page.
func (h *Handler) render(c echo.Context, status int, comp templ.Component) error {
	buf := h.buffer()
	defer h.putBuffer(buf)
	if err := h.renderTo(c, buf, comp); err != nil {
		return err
	}
	return h.send(c, status, buf)
}

// renderTo renders comp into buf with the request's nonce, CSRF token and
// clock reading.
func (h *Handler) renderTo(c echo.Context, buf *bytes.Buffer, comp templ.Component) error {
	ctx := c.Request().Context()
	n, t := nonceAndCSRF(c)
	if n != "" || t != "" {
		ctx = views.WithNonceAndCSRF(ctx, n, t)
	}
	return comp.Render(views.WithNow(ctx, h.now()), buf)
}

// renderKept is render for the plain dashboard, reloaded all day: the page
// around key's kept lists is kept too (dashboardCache.page), cut at its
// nonce, and sent again with this request's nonce without running templ,
// while the lists are the same string and the CSRF token the same. Kept
// by a request whose page went out compressed, it is kept deflated too
// (pagezip.Cut), and compressed pages are sent from that without being put
// together. The caller vouches that nothing else on the page can differ
// from one load to the next: no flash, no banner, no section read afresh,
// status 200. The page's component is built (page) only when the page is
// rendered: a kept page needs none.
func (h *Handler) renderKept(c echo.Context, key, lists string, page func() templ.Component) error {
	n, t := nonceAndCSRF(c)
	gz := h.compressed(c)
	pg, ok := h.lists.page(key, lists, t)
	if !ok || n == "" || (gz && pg.zip == nil) {
		buf := h.buffer()
		defer h.putBuffer(buf)
		if err := h.renderTo(c, buf, page()); err != nil {
			return err
		}
		if n == "" {
			return h.send(c, http.StatusOK, buf)
		}
		// Kept only when the nonce is there exactly once, so that every
		// place it goes is filled again.
		before, after, once := strings.Cut(buf.String(), n)
		if !once || strings.Contains(after, n) {
			return h.send(c, http.StatusOK, buf)
		}
		pg = &keptPage{csrf: t, before: before, after: after}
		if gz {
			pg.zip = pagezip.NewCut(before, after)
		}
		h.lists.keepPage(key, lists, pg)
	}
	body := h.buffer()
	defer h.putBuffer(body)
	if gz {
		pg.zip.Write(body, n)
		return h.sendCompressed(c, http.StatusOK, body, pg.zipLength.of(body.Len()))
	}
	body.Grow(len(pg.before) + len(n) + len(pg.after))
	body.WriteString(pg.before)
	body.WriteString(n)
	body.WriteString(pg.after)
	return h.sendBody(c, http.StatusOK, body, pg.length.of(body.Len()))
}

// send sends the page in buf, compressed when tapdesk.CompressPage allows.
func (h *Handler) send(c echo.Context, status int, buf *bytes.Buffer) error {
	if !h.compressed(c) {
		return h.sendBody(c, status, buf, nil)
	}
	body := h.buffer()
	defer h.putBuffer(body)
	// Only the nonce differs between two sendings of the same page: a
	// page kept under its key (requestState.pageKey) is deflated once.
	key := stateOf(c).pageKey
	n, _ := nonceAndCSRF(c)
	h.pages.Write(body, key, buf.Bytes(), n)
	return h.sendCompressed(c, status, body, nil)
}

// compressed says whether this request's page goes out gzip-compressed
// (tapdesk.CompressPage).
func (h *Handler) compressed(c echo.Context) bool {
	_, t := nonceAndCSRF(c)
	// A real CSRF token is a secret on the page; echo's placeholder, given
	// to browsers that send Fetch Metadata, is not (tapdesk.CompressPage).
	secret := stateOf(c).secretPage || (t != "" && t != middleware.CSRFUsingSecFetchSite)
	r := c.Request()
	return tapdesk.CompressPage(headerValue(r.Header, echo.HeaderAcceptEncoding), headerValue(r.Header, echo.HeaderSecFetchSite), secret)
}

// sendCompressed sends body, a page gzip-compressed (length as sendBody).
func (h *Handler) sendCompressed(c echo.Context, status int, body *bytes.Buffer, length []string) error {
	hd := c.Response().Header()
	hd[echo.HeaderContentEncoding] = h.fixedHeaders.gzip
	if v := hd[echo.HeaderVary]; len(v) == 1 && v[0] == "Cookie" {
		hd[echo.HeaderVary] = h.fixedHeaders.varyCookieEncoding
	} else {
		hd.Add(echo.HeaderVary, echo.HeaderAcceptEncoding)
	}
	return h.sendBody(c, status, body, length)
}

// sendBody sends body as it is. With its length known, the page goes out
// without chunked encoding: one write to the connection fewer (the closing
// chunk), and the client knows at once how much is coming. length is the
// Content-Length value if the caller kept it (a kept page's), else nil.
func (h *Handler) sendBody(c echo.Context, status int, body *bytes.Buffer, length []string) error {
	if length == nil {
		length = []string{strconv.Itoa(body.Len())}
	}
	hd := c.Response().Header()
	hd[echo.HeaderContentLength] = length
	// As HTMLBlob would set it, without a new value every time.
	if _, set := hd[echo.HeaderContentType]; !set {
		hd[echo.HeaderContentType] = h.fixedHeaders.html
	}
	return c.HTMLBlob(status, body.Bytes())
}

// nonceAndCSRF are the request's CSP nonce and CSRF token (empty before
// the middleware that sets them).
func nonceAndCSRF(c echo.Context) (nonce, csrf string) {
	nonce = stateOf(c).nonce
	csrf, _ = c.Get(ctxCSRF).(string)
	return nonce, csrf
}

// buffer is a buffer from Handler.buffers (given back with putBuffer).
func (h *Handler) buffer() *bytes.Buffer {
	if buf, _ := h.buffers.Get().(*bytes.Buffer); buf != nil {
		return buf
	}
	return bytes.NewBuffer(make([]byte, 0, 16<<10))
}

// keepSecret marks the pages of a route as holding a secret (a pass shown,
// a link's token): they are never compressed (tapdesk.CompressPage).
func keepSecret(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		stateOf(c).secretPage = true
		return next(c)
	}
}

// putBuffer keeps buf for the next page (Handler.buffers) unless an
// unusually large page (a long audit list) grew it: that memory is given
// back instead.
func (h *Handler) putBuffer(buf *bytes.Buffer) {
	if buf.Cap() > 256<<10 {
		return
	}
	buf.Reset()
	h.buffers.Put(buf)
}

// statuses maps each domain error code to its HTTP status, in one place.
var statuses = map[string]int{
	tapdesk.EINVALID:      http.StatusUnprocessableEntity,
	tapdesk.EMALFORMED:    http.StatusBadRequest,
	tapdesk.ENOTFOUND:     http.StatusNotFound,
	tapdesk.EFORBIDDEN:    http.StatusForbidden,
	tapdesk.EUNAUTHORIZED: http.StatusUnauthorized,
	tapdesk.ECONFLICT:     http.StatusConflict,
	tapdesk.EUNAVAILABLE:  http.StatusServiceUnavailable,
	tapdesk.ELIMITED:      http.StatusTooManyRequests,
	tapdesk.ETOOLARGE:     http.StatusRequestEntityTooLarge,
	tapdesk.EUNSUPPORTED:  http.StatusUnsupportedMediaType,
	tapdesk.ETIMEOUT:      http.StatusRequestTimeout,
}

// statusOf is the HTTP status of a domain error code; an unknown code (an
// internal error) is a 500.
func statusOf(code string) int {
	if s, ok := statuses[code]; ok {
		return s
	}
	return http.StatusInternalServerError
}

// titles are the last fallback: the title of an error whose situation is
// not known (an internal error, an *Error built without a title).
var titles = map[int]string{
	http.StatusBadRequest:            "That did not work",
	http.StatusUnprocessableEntity:   "That did not work",
	http.StatusNotFound:              "Not found",
	http.StatusForbidden:             "Not allowed",
	http.StatusUnauthorized:          "Please sign in",
	http.StatusConflict:              "Already changed",
	http.StatusServiceUnavailable:    "Try again shortly",
	http.StatusTooManyRequests:       "Too many at once",
	http.StatusMethodNotAllowed:      "Not allowed",
	http.StatusRequestEntityTooLarge: "Too large",
	http.StatusUnsupportedMediaType:  "Not a form",
	http.StatusRequestTimeout:        "Too slow",
	http.StatusInternalServerError:   "Something failed",
}

// errorHandler shows every error as a page with a sentence; internals go to
// the log, never to the page.
func (h *Handler) errorHandler(err error, c echo.Context) {
	if c.Response().Committed {
		return
	}
	status, title, msg := http.StatusInternalServerError, tapdesk.ErrorTitle(err), tapdesk.ErrorMessage(err)
	var he *echo.HTTPError
	switch {
	case errors.As(err, &he):
		// echo's own refusals (no such route, a method the route does
		// not take, its own limits) name the situation too.
		status = he.Code
		switch status {
		case http.StatusNotFound:
			title, msg = "Page not found", "There is no such page."
		case http.StatusMethodNotAllowed:
			title, msg = "Not available this way", "That address does not take this kind of request."
		case http.StatusRequestEntityTooLarge:
			title, msg = "Too much sent", "What you sent is too large."
		case http.StatusUnsupportedMediaType:
			title, msg = "Not sent as a form", "tapdesk reads forms sent the way its pages send them; this was not read. Go back and try again."
		case http.StatusRequestTimeout:
			title, msg = "Sent too slowly", "What you sent took too long to arrive, so it was not read. Go back and try again."
		case http.StatusTooManyRequests:
			title, msg = "Wait a moment", "Too many requests came from here at once. Wait a moment and try again."
		default:
			if status < 500 {
				title, msg = "Request not understood", "The request was not understood. Go back and try again."
			}
		}
	default:
		status = statusOf(tapdesk.ErrorCode(err))
	}
	if status >= 500 {
		h.log.Error("request failed", "method", c.Request().Method, "route", c.Path(), "status", status, "err", err)
	}
	if title == "" {
		title = titles[status]
	}
	if title == "" {
		title = http.StatusText(status)
	}
	if c.Request().Method == http.MethodHead {
		_ = c.NoContent(status)
		return
	}
	if rerr := h.render(c, status, views.ErrorPage(h.page(c, title), status, msg)); rerr != nil {
		h.log.Error("error page failed", "err", rerr)
		_ = c.String(status, msg)
	}
}
