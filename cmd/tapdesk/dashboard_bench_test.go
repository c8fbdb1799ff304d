package main

import (
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
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
		for pb.Next() {
			req := httptest.NewRequest(http.MethodGet, "/", nil)
			for _, c := range cookies {
				req.AddCookie(c)
			}
			rec := httptest.NewRecorder()
			d.app.echo.ServeHTTP(rec, req)
			if rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), `action="/auth/logout"`) {
				b.Errorf("dashboard: status %d, signed in: %v", rec.Code, strings.Contains(rec.Body.String(), `action="/auth/logout"`))
				return
			}
		}
	})
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
