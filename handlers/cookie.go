package handlers

import (
	"net/http"
	"net/textproto"
	"strings"
)

// cookieScanMax is the most cookies cookieValue reads itself; a request
// with more goes to net/http, which knows its own limit on their number
// (GODEBUG httpcookiemaxnum).
const cookieScanMax = 100

// cookieScan says whether cookieValue may read requests of up to
// cookieScanMax cookies itself: net/http reads them (its limit was not set
// lower, through GODEBUG, when tapdesk started). Otherwise every request
// goes to net/http.
var cookieScan = netHTTPReadsCookies(cookieScanMax)

// netHTTPReadsCookies says whether net/http reads a request of n cookies.
func netHTTPReadsCookies(n int) bool {
	r := &http.Request{Header: http.Header{"Cookie": {strings.Repeat("x=1; ", n-1) + "last=1"}}}
	_, err := r.Cookie("last")
	return err == nil
}

// cookieValue is the value of r's first cookie named name, read as
// r.Cookie(name) reads it (FuzzCookieValue), without making, and
// allocating, each of r's cookies: the session's cookie is read on every
// request. name must be a valid cookie name.
func cookieValue(r *http.Request, name string) (string, bool) {
	lines := r.Header["Cookie"]
	if !cookieScan || cookieCount(lines) > cookieScanMax {
		ck, err := r.Cookie(name)
		if err != nil {
			return "", false
		}
		return ck.Value, true
	}
	for _, line := range lines {
		line = textproto.TrimString(line)
		for len(line) > 0 {
			var part string
			part, line, _ = strings.Cut(line, ";")
			k, v, _ := strings.Cut(textproto.TrimString(part), "=")
			if textproto.TrimString(k) != name {
				continue
			}
			if len(v) > 1 && v[0] == '"' && v[len(v)-1] == '"' {
				v = v[1 : len(v)-1]
			}
			if validCookieValue(v) {
				return v, true
			}
		}
	}
	return "", false
}

// cookieCount is the most cookies these Cookie header lines can hold.
func cookieCount(lines []string) int {
	n := 0
	for _, line := range lines {
		n += strings.Count(line, ";") + 1
	}
	return n
}

// validCookieValue says whether every byte of v may stand in a cookie's
// value (RFC 6265's cookie-octet, and the space and comma net/http lets
// through).
func validCookieValue(v string) bool {
	for i := 0; i < len(v); i++ {
		if b := v[i]; b < 0x20 || b >= 0x7f || b == '"' || b == ';' || b == '\\' {
			return false
		}
	}
	return true
}

// headerValue is h.Get(key) for a key already in canonical form (the
// constants tapdesk and echo name headers by, and what net/http stores a
// request's header lines under): the first value, or "". Get puts the key
// in canonical form on every call, checking each of its bytes again.
func headerValue(h http.Header, key string) string {
	if v := h[key]; len(v) > 0 {
		return v[0]
	}
	return ""
}
