package main

import (
	"net/http"
	"testing"
)

// TestPagesSayTheirLength: every page, error pages included, goes out with
// its Content-Length rather than chunked, so the client knows at once how
// much is coming (and the server writes to the connection once fewer a
// page); the middleware composed once (handlers.pipeline) still gives
// every answer, a 404 too, its request id and security headers.
func TestPagesSayTheirLength(t *testing.T) {
	d := startTestDemo(t)
	agent := d.browser(t)
	agent.signIn("/", "agent")
	for _, tc := range []struct {
		path   string
		status int
	}{
		{"/", http.StatusOK},
		{"/users", http.StatusOK},
		{"/no-such-page", http.StatusNotFound},
	} {
		agent.get(tc.path).status(tc.status)
		res := agent.last
		if len(res.TransferEncoding) != 0 || res.ContentLength != int64(len(agent.body)) || len(agent.body) == 0 {
			t.Errorf("%s: transfer encoding %v, Content-Length %d, body %d bytes; want no encoding and the body's length",
				tc.path, res.TransferEncoding, res.ContentLength, len(agent.body))
		}
		for _, h := range []string{"X-Request-Id", "Content-Security-Policy", "X-Frame-Options", "Cache-Control"} {
			if res.Header.Get(h) == "" {
				t.Errorf("%s: no %s header", tc.path, h)
			}
		}
	}
}
