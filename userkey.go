package tapdesk

import (
	"net/url"
	"strings"
	"unicode/utf8"
)

// UserKey is what a user may be looked up by in Entra: an object id or a
// user principal name (or mail address). Anything else typed into a URL or
// a form never reaches Graph: "..", "delta" or "$count" would address
// another endpoint when put into /users/{key}.
type UserKey struct {
	key string
	id  bool
}

// Limits on a lookup key and a search term. Entra allows 113 characters in
// a UPN (64 before the '@'); a mail address may have up to 254.
const (
	MaxUserKeyLength     = 254
	maxUserKeyLocal      = 128 // guest UPNs (x_y.example#EXT#@) run longer than 64
	MaxSearchTermLength  = 64
	minSearchTermLength  = 2
	userKeyRefusal       = "That is not a user principal name (like name@contoso.com) or an object id (like 8b1f0c4e-3a5d-4c2e-9f7a-2d6b1e0c9a41). Search for the user by name instead."
	searchTooLongRefusal = "A search is at most 64 characters: type the start of the name, UPN or mail address."
)

// ParseUserKey accepts an object id (a GUID, any case) or a UPN/mail shape:
// local@domain, with the characters Entra allows in a UPN plus those of a
// mail address, and nothing that means something in a URL path or query
// ('/', '\', '?', '%', whitespace, control characters). The key keeps the
// spelling given, except that an object id is lower-cased.
func ParseUserKey(s string) (UserKey, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return UserKey{}, Titledf(EMALFORMED, "Which user?", "Say which user: give their user principal name or object id.")
	}
	if len(s) > MaxUserKeyLength {
		return UserKey{}, Titledf(EMALFORMED, "Too long for a user", "That is too long for a user principal name or object id (at most %d characters). Search for the user by name instead.", MaxUserKeyLength)
	}
	if isGUID(s) {
		return UserKey{key: strings.ToLower(s), id: true}, nil
	}
	at := strings.LastIndexByte(s, '@')
	if at < 0 || !validLocalPart(s[:at]) || !validDomain(s[at+1:]) {
		return UserKey{}, Titledf(EMALFORMED, "Not a user name or id", userKeyRefusal)
	}
	return UserKey{key: s}, nil
}

// UserKeyFromPath unescapes a user key taken from an escaped URL path: a
// guest's UPN (x_y.example#EXT#@tenant) is written with %23 for '#', or the
// browser would cut it off as a fragment. The result still goes through
// ParseUserKey.
func UserKeyFromPath(escaped string) (string, error) {
	s, err := url.PathUnescape(escaped)
	if err != nil {
		return "", Titledf(EMALFORMED, "Not a user name or id", userKeyRefusal)
	}
	return s, nil
}

// String is the key as Graph addresses the user.
func (k UserKey) String() string { return k.key }

// IsObjectID reports whether the key is an object id rather than a UPN.
func (k UserKey) IsObjectID() bool { return k.id }

// isGUID reports whether s is a GUID in its 8-4-4-4-12 hex form.
func isGUID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return false
			}
		default:
			if !isHex(c) {
				return false
			}
		}
	}
	return true
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

// localSpecials are the characters besides letters and digits allowed
// before the '@': Entra's UPN set (' . - _ ! # ^ ~) and the rest of a mail
// address's atext, without '/', '?', '%' and '|' or '`' which no tenant uses.
const localSpecials = ".-_!#^~'+=&$"

// validLocalPart: ASCII letters, digits and localSpecials, no leading,
// trailing or doubled dot (Entra refuses those in a UPN).
func validLocalPart(s string) bool {
	if s == "" || len(s) > maxUserKeyLocal || s[0] == '.' || s[len(s)-1] == '.' || strings.Contains(s, "..") {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !isAlnum(s[i]) && strings.IndexByte(localSpecials, s[i]) < 0 {
			return false
		}
	}
	return true
}

// validDomain: dot-separated labels of ASCII letters, digits and inner
// hyphens, at least two labels (Entra domains are fully qualified).
// International domains are written in punycode (xn--).
func validDomain(s string) bool {
	labels := strings.Split(s, ".")
	if len(labels) < 2 {
		return false
	}
	for _, l := range labels {
		if l == "" || len(l) > 63 || l[0] == '-' || l[len(l)-1] == '-' {
			return false
		}
		for i := 0; i < len(l); i++ {
			if !isAlnum(l[i]) && l[i] != '-' {
				return false
			}
		}
	}
	return true
}

func isAlnum(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z'
}

// SearchTerm is the start of a name, UPN or mail address to search for.
// The directory escapes it as an OData string literal; here it is only
// bounded, so a search cannot be made into a flood of work for Graph.
type SearchTerm string

// ParseSearchTerm trims s and refuses a term too short to be useful, too
// long to be a name's start, or holding characters no name holds. An empty
// term is no search (nil error, empty term).
func ParseSearchTerm(s string) (SearchTerm, error) {
	s = strings.TrimSpace(s)
	switch n := utf8.RuneCountInString(s); {
	case s == "":
		return "", nil
	case n > MaxSearchTermLength || len(s) > 4*MaxSearchTermLength:
		return "", Titledf(EMALFORMED, "Search too long", searchTooLongRefusal)
	case !utf8.ValidString(s) || strings.ContainsFunc(s, isControl):
		return "", Titledf(EMALFORMED, "Search not understood", "A search holds letters, digits and punctuation only: no line breaks or control characters.")
	case n < minSearchTermLength:
		return "", Titledf(EINVALID, "Search too short", "Type at least two characters of the name or UPN.")
	}
	return SearchTerm(s), nil
}

func isControl(r rune) bool { return r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) }
