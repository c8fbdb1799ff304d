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

// cookieValue is the value of r's first cookie named name, read as
// r.Cookie(name) reads it (FuzzCookieValue), without making, and
// allocating, each of r's cookies: the session's cookie is read on every
// request. name must be a valid cookie name.
func cookieValue(r *http.Request, name string) (string, bool) {
	lines := r.Header["Cookie"]
	n := 0
	for _, line := range lines {
		n += strings.Count(line, ";") + 1
	}
	if n > cookieScanMax {
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
