package main

import (
	"bytes"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/tapdesk/tapdesk"
)

// BenchmarkDashboard serves an agent's dashboard listing 20 requests
// through the real router, middleware, session store and SQLite, without
// the network. Issue 10 asks for at least half the pace of a bare echo
// handler (BenchmarkBareEcho); compare their ns/op:
//
//	go test -run '^$' -bench 'Dashboard|BareEcho' ./cmd/tapdesk/
func BenchmarkDashboard(b *testing.B) {
	limits, err := tapdesk.ParseRateLimits("file=off", tapdesk.DefaultRateLimits())
	if err != nil {
		b.Fatal(err)
	}
	d := startTestDemoWith(b, func(o *demoOptions) {
		o.Logger = slog.New(slog.DiscardHandler)
		o.RateLimits = limits
		o.SweepInterval = time.Hour
	})
	agent := d.browser(b)
	agent.signIn("/", "agent")
	for range 20 {
		fileRequestFor(b, agent, "nina.newhire@contoso.example", "New starter, first day, no methods yet")
		agent.submit(`form[action$="/cancel"]`, nil).status(http.StatusOK)
	}
	if n := agent.get("/").doc().Find(`a[href^="/requests/"]`).Length(); n != 20 {
		b.Fatalf("the dashboard lists %d requests, want 20", n)
	}
	base, _ := url.Parse(d.baseURL)
	cookies := agent.client.Jar.Cookies(base)
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		w := &pageWriter{header: http.Header{}}
		for pb.Next() {
			req := httptest.NewRequest(http.MethodGet, "/", nil)
			for _, c := range cookies {
				req.AddCookie(c)
			}
			w.reset()
			d.app.echo.ServeHTTP(w, req)
			if w.status != http.StatusOK || !w.signedIn {
				b.Errorf("dashboard: status %d, signed in: %v", w.status, w.signedIn)
				return
			}
		}
	})
}

// pageWriter is a ResponseWriter that keeps only what the benchmark checks
// (the status, and whether the page shows the sign-out form), so what is
// measured is the server's work rather than a recorder copying each page
// and cloning its header (httptest.ResponseRecorder).
type pageWriter struct {
	header   http.Header
	status   int
	signedIn bool
}

var signOutForm = []byte(`action="/auth/logout"`)

func (w *pageWriter) reset() {
	clear(w.header)
	w.status, w.signedIn = 0, false
}

func (w *pageWriter) Header() http.Header { return w.header }

func (w *pageWriter) WriteHeader(status int) {
	if w.status == 0 {
		w.status = status
	}
}

func (w *pageWriter) Write(p []byte) (int, error) {
	w.WriteHeader(http.StatusOK)
	w.signedIn = w.signedIn || bytes.Contains(p, signOutForm)
	return len(p), nil
}

// BenchmarkBareEcho is the yardstick for BenchmarkDashboard: echo
// answering "hello", with nothing else.
func BenchmarkBareEcho(b *testing.B) {
	e := echo.New()
	e.GET("/", func(c echo.Context) error { return c.String(http.StatusOK, "hello") })
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			rec := httptest.NewRecorder()
			e.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/", nil))
		}
	})
}
