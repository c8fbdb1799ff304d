package signin

import (
	"net/url"
	"strings"
)

// maxNextLen bounds what we carry through the session; no real page is
// longer, and a huge value is more likely an attack than a bookmark.
const maxNextLen = 2048

// SafeNext returns s if it is a path on this site, else "/". It is the only
// gate between ?next= and a redirect, so it errs on the side of "/".
//
// Refused: anything not starting with exactly one "/" ("//evil.com" and
// "/\evil.com" are read by browsers as another host), any backslash (browsers
// turn it into "/"), control characters (browsers drop tab and newline, which
// can rebuild "//"), a scheme or host, and over-long values.
func SafeNext(s string) string {
	if s == "" || len(s) > maxNextLen || s[0] != '/' {
		return "/"
	}
	if len(s) > 1 && (s[1] == '/' || s[1] == '\\') {
		return "/"
	}
	if strings.ContainsFunc(s, func(r rune) bool {
		return r < 0x20 || r == 0x7f || r == '\\' || (r >= 0x80 && r <= 0x9f)
	}) {
		return "/"
	}
	u, err := url.Parse(s)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil || u.Opaque != "" {
		return "/"
	}
	return s
}
