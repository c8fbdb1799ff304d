package handlers

import (
	"net/http"
	"net/http/httptest"
	"net/textproto"
	"strings"
	"testing"

	"github.com/labstack/echo/v4"
)

// cookieNames are names tapdesk reads, and one that is a prefix of another.
var cookieNames = []string{"__Host-tapdesk_session", "tapdesk_session", "tapdesk_flash", "a"}

// sameAsNetHTTP checks cookieValue against r.Cookie for a request with
// these Cookie header lines.
func sameAsNetHTTP(t *testing.T, lines ...string) {
	t.Helper()
	r, _ := http.NewRequest(http.MethodGet, "/", nil)
	r.Header["Cookie"] = lines
	for _, name := range cookieNames {
		got, ok := cookieValue(r, name)
		ck, err := r.Cookie(name)
		if wantOK := err == nil; ok != wantOK || (ok && got != ck.Value) {
			t.Fatalf("cookie %q of %q: got %q %v, net/http %v %v", name, lines, got, ok, ck, err)
		}
	}
}

func TestCookieValue(t *testing.T) {
	for _, lines := range [][]string{
		nil,
		{""},
		{"__Host-tapdesk_session=abc"},
		{"x=1; __Host-tapdesk_session=abc; y=2"},
		{"x__Host-tapdesk_session=abc"},
		{"__Host-tapdesk_session=abc; __Host-tapdesk_session=def"},
		{"__Host-tapdesk_session=\"abc\""},
		{"__Host-tapdesk_session=\"abc"},
		{"__Host-tapdesk_session=a\\bc; __Host-tapdesk_session=ok"},
		{"__Host-tapdesk_session"},
		{"__Host-tapdesk_session="},
		{"  __Host-tapdesk_session = abc ;"},
		{"a=1", "__Host-tapdesk_session=two lines"},
		{"tapdesk_session=plain; a=b=c"},
		{"__Host-tapdesk_session=caf\xc3\xa9; a=\x7f"},
		{";;; a = ; ;"},
		{strings.Repeat("x=1; ", cookieScanMax) + "__Host-tapdesk_session=many"},
		{strings.Repeat("x=1; ", 3001) + "__Host-tapdesk_session=too-many"},
	} {
		sameAsNetHTTP(t, lines...)
	}
	r, _ := http.NewRequest(http.MethodGet, "/", nil)
	r.Header.Set("Cookie", "tapdesk_csrf=x; __Host-tapdesk_session=jmyJYISZPAZIGToKTDkns9iG9YNAfJbIP5LURjvyhx8")
	if n := testing.AllocsPerRun(100, func() { cookieValue(r, "__Host-tapdesk_session") }); n != 0 {
		t.Errorf("reading the session's cookie takes %v allocations", n)
	}
}

// TestCookieScanFollowsNetHTTPsLimit: with net/http's limit on the number
// of cookies set below what cookieValue reads itself, cookieValue leaves
// every request to net/http, which then reads none of these cookies.
func TestCookieScanFollowsNetHTTPsLimit(t *testing.T) {
	if !cookieScan || !netHTTPReadsCookies(cookieScanMax) {
		t.Fatal("net/http's own limit is below cookieScanMax, or was at start")
	}
	t.Setenv("GODEBUG", "httpcookiemaxnum=2")
	if netHTTPReadsCookies(cookieScanMax) {
		t.Fatal("net/http did not take GODEBUG's httpcookiemaxnum set while running: this test cannot set the limit")
	}
	cookieScan = netHTTPReadsCookies(cookieScanMax)
	defer func() { cookieScan = true }()
	sameAsNetHTTP(t, "a=1; b=2; __Host-tapdesk_session=tok")
	r, _ := http.NewRequest(http.MethodGet, "/", nil)
	r.Header.Set("Cookie", "a=1; b=2; __Host-tapdesk_session=tok")
	if v, ok := cookieValue(r, "__Host-tapdesk_session"); ok {
		t.Errorf("read %q where net/http's limit reads no cookie", v)
	}
}

// FuzzCookieValue reads fuzzed Cookie headers both ways.
func FuzzCookieValue(f *testing.F) {
	f.Add("x=1; __Host-tapdesk_session=abc; y=2", "")
	f.Add(` a="b" ; a=c`, "a=d")
	f.Fuzz(func(t *testing.T, line, second string) {
		sameAsNetHTTP(t, line)
		sameAsNetHTTP(t, line, second)
	})
}

// TestHeaderValueKeysCanonical checks the keys headerValue is called with
// are in canonical form: one that is not would never match a request's
// header, where Get would.
func TestHeaderValueKeysCanonical(t *testing.T) {
	for _, key := range []string{echo.HeaderAcceptEncoding, echo.HeaderSecFetchSite, "Sec-Fetch-Dest", echo.HeaderContentType} {
		if c := textproto.CanonicalMIMEHeaderKey(key); c != key {
			t.Errorf("%q is not canonical (%q)", key, c)
		}
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		r.Header.Set(strings.ToLower(key), "v")
		if got := headerValue(r.Header, key); got != r.Header.Get(key) || got != "v" {
			t.Errorf("headerValue(%q) = %q, Get says %q", key, got, r.Header.Get(key))
		}
	}
	if got := headerValue(http.Header{}, echo.HeaderContentType); got != "" {
		t.Errorf("headerValue of a missing header = %q", got)
	}
}
