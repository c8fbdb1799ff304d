package tapdesk_test

import (
	"encoding/base64"
	"net"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/tapdesk/tapdesk"
)

// The fuzz targets' seeds run as ordinary tests; fuzz with
// go test -run '^$' -fuzz FuzzX -fuzztime 2m .

// FuzzParseUserKey: whatever is accepted is one harmless path segment of
// the shape of an object id or a UPN, bounded, and parses to itself.
func FuzzParseUserKey(f *testing.F) {
	for _, s := range []string{"", " ", "..", "../me", "%2e%2e", "delta", "$count", "$metadata", "me", "a/b", "a\\b", "x@y",
		"nina.newhire@contoso.example", " NINA.newhire@contoso.example ", "jordan_partner.example#EXT#@contoso.example",
		"$svc@contoso.example", "o'brien@contoso.example", "8B1F0C4E-3A5D-4C2E-9F7A-2D6B1E0C9A41",
		"8b1f0c4e-3a5d-4c2e-9f7a-2d6b1e0c9a4", "{8b1f0c4e-3a5d-4c2e-9f7a-2d6b1e0c9a41}", "a..b@contoso.example",
		".a@contoso.example", "a@contoso..example", "a@-contoso.example", "a@contoso.example?x", "a@contoso.example/..",
		"a b@contoso.example", "a\x00@contoso.example", "ü@contoso.example", "a@xn--mnchen-3ya.example",
		strings.Repeat("a", 10240), strings.Repeat("a", 64) + "@" + strings.Repeat("b", 63) + ".example"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		k, err := tapdesk.ParseUserKey(s)
		if err != nil {
			if tapdesk.ErrorCode(err) != tapdesk.EMALFORMED || tapdesk.ErrorMessage(err) == "" {
				t.Fatalf("refusal of %q is %v, want a malformed-input sentence", s, err)
			}
			return
		}
		key := k.String()
		if key == "" || len(key) > tapdesk.MaxUserKeyLength {
			t.Fatalf("%q accepted as %q: empty or too long", s, key)
		}
		if key == "." || key == ".." || strings.HasPrefix(key, ".") || strings.Contains(key, "..") {
			t.Fatalf("%q accepted as %q: a dot segment", s, key)
		}
		for _, r := range key {
			if r >= utf8.RuneSelf || unicode.IsSpace(r) || unicode.IsControl(r) || strings.ContainsRune(`/\?%"<>`+"`|", r) {
				t.Fatalf("%q accepted as %q, which holds %q", s, key, r)
			}
		}
		if strings.Contains(url.PathEscape(key), "/") {
			t.Fatalf("%q escapes to more than one path segment", key)
		}
		if k.IsObjectID() {
			if len(key) != 36 || strings.ToLower(key) != key {
				t.Fatalf("object id %q is not a lower-case GUID", key)
			}
		} else {
			at := strings.LastIndexByte(key, '@')
			if at <= 0 || !strings.Contains(key[at+1:], ".") || strings.HasPrefix(key, "$") && !strings.Contains(key, "@") {
				t.Fatalf("%q accepted without the shape local@domain.tld", key)
			}
		}
		again, err := tapdesk.ParseUserKey(key)
		if err != nil || again != k {
			t.Fatalf("%q does not parse to itself: %v %v", key, again, err)
		}
	})
}

// FuzzParseSearchTerm: an accepted term is short, valid text without
// control characters, and trimmed.
func FuzzParseSearchTerm(f *testing.F) {
	for _, s := range []string{"", "a", "ni", "Séan O'", "x') or startswith(displayName,'", "nina\r\nX: 1", "\x00\x00",
		strings.Repeat("a", 64), strings.Repeat("a", 65), strings.Repeat("é", 64), "\xff\xfe", " \u0085 "} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		q, err := tapdesk.ParseSearchTerm(s)
		if err != nil {
			if tapdesk.ErrorMessage(err) == "" || q != "" {
				t.Fatalf("refusal of %q: %v %q", s, err, q)
			}
			return
		}
		if q == "" {
			if strings.TrimSpace(s) != "" {
				t.Fatalf("%q was taken for no search", s)
			}
			return
		}
		if n := utf8.RuneCountInString(string(q)); n < 2 || n > tapdesk.MaxSearchTermLength || !utf8.ValidString(string(q)) {
			t.Fatalf("%q accepted as %q (%d characters)", s, q, n)
		}
		if strings.ContainsFunc(string(q), unicode.IsControl) || strings.TrimSpace(string(q)) != string(q) {
			t.Fatalf("%q accepted as %q with control characters or untrimmed", s, q)
		}
	})
}

// FuzzRequestForm: the form parser never panics; a refusal names only the
// form's fields, each with a sentence; an accepted form gives a request
// within every limit, holding exactly what was typed (trimmed).
func FuzzRequestForm(f *testing.F) {
	f.Add("INC-1", "Lost phone, needs to re-register", "manager", "Manager Kim confirmed on Teams video", "60", "on", "")
	f.Add("", "short", "psychic", "", "abc", "", "yesterday")
	f.Add(strings.Repeat("x", 65), strings.Repeat("j", 2001), "callback", "n", "5000", "", "2001-01-01T10:00")
	f.Add("INC\u202e1", "why\u200b not", "in_person", "saw\x00id", "-1", "1", "2026-11-24T10:00")
	f.Add("INC-2", "Needs a pass for the new laptop", "video_id", "ID card seen on video", "480", "", "2026-12-22T09:59")
	f.Add(" INC-3 ", " ok ok ok ok \n", "verified_id", " note ", " 60 ", "x", "2026-11-23T09:56")
	f.Add("\xff", "\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff", "manager", "\xff\xff\xff\xff\xff", "+60", "", "2026-11-23T25:00")
	now := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)
	pol := &tapdesk.TAPPolicy{Enabled: true, MinLifetime: 60, MaxLifetime: 480, DefaultLifetime: 60}
	fields := map[string]bool{"ticket_ref": true, "justification": true, "verification": true,
		"verification_note": true, "lifetime": true, "start_at": true}
	f.Fuzz(func(t *testing.T, ticket, justification, verification, note, lifetime, usableOnce, startAt string) {
		form := url.Values{"ticket_ref": {ticket}, "justification": {justification}, "verification": {verification},
			"verification_note": {note}, "lifetime": {lifetime}, "usable_once": {usableOnce}, "start_at": {startAt}}
		d, r, err := tapdesk.ParseRequestForm(form, pol, now)
		if d.TicketRef != strings.TrimSpace(ticket) || d.Lifetime != strings.TrimSpace(lifetime) || d.UsableOnce != (usableOnce != "") {
			t.Fatalf("draft %+v is not the form as typed", d)
		}
		if err != nil {
			e, ok := err.(*tapdesk.Error)
			if !ok || e.Code != tapdesk.EINVALID || len(e.Fields) == 0 || r != nil {
				t.Fatalf("refusal %v (%T), request %+v", err, err, r)
			}
			for k, msg := range e.Fields {
				if !fields[k] || msg == "" {
					t.Fatalf("refusal names field %q with %q", k, msg)
				}
			}
			return
		}
		if r.TicketRef != d.TicketRef || r.Justification != d.Justification || r.VerificationNote != d.VerificationNote {
			t.Fatalf("request %+v does not hold what was typed %+v", r, d)
		}
		for _, c := range []struct {
			s        string
			min, max int
			multi    bool
		}{{r.TicketRef, 1, tapdesk.MaxTicketRef, false}, {r.Justification, tapdesk.MinJustification, tapdesk.MaxJustification, true},
			{r.VerificationNote, tapdesk.MinVerifyNote, tapdesk.MaxVerifyNote, true}} {
			if n := utf8.RuneCountInString(c.s); n < c.min || n > c.max || !tapdesk.Printable(c.s, c.multi) {
				t.Fatalf("accepted %q (%d characters) outside %d..%d or not printable", c.s, n, c.min, c.max)
			}
			if tapdesk.CheckVisibleText("x", c.s) != nil {
				t.Fatalf("accepted %q with hidden characters", c.s)
			}
		}
		if tapdesk.VerificationLabel(r.VerificationMethod) == r.VerificationMethod {
			t.Fatalf("accepted verification %q", r.VerificationMethod)
		}
		if lt, _ := strconv.Atoi(d.Lifetime); r.LifetimeMinutes != lt || lt < pol.MinLifetime || lt > pol.MaxLifetime {
			t.Fatalf("lifetime %d from %q", r.LifetimeMinutes, d.Lifetime)
		}
		if !r.UsableOnce && d.UsableOnce {
			t.Fatal("usable once lost")
		}
		switch {
		case d.StartAt == "" && r.StartAt != nil:
			t.Fatal("a start from nowhere")
		case d.StartAt != "" && (r.StartAt == nil || r.StartAt.Before(now.Add(-5*time.Minute)) || r.StartAt.After(now.Add(tapdesk.MaxStartAhead))):
			t.Fatalf("start %v from %q", r.StartAt, d.StartAt)
		}
	})
}

// FuzzLinkToken: exactly the 43-character spellings of 32 bytes are
// tokens, and every 32 bytes spell one.
func FuzzLinkToken(f *testing.F) {
	for _, s := range []string{"", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAB",
		"expired-token-0123456789abcdefghijklmnopqrA", "../../../../etc/passwd", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
		"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA+", strings.Repeat("_", 43), strings.Repeat("A", 44), "ä" + strings.Repeat("A", 41)} {
		f.Add(s, []byte(s))
	}
	f.Fuzz(func(t *testing.T, s string, raw []byte) {
		if tapdesk.ValidLinkToken(s) {
			if len(s) != tapdesk.LinkTokenLength {
				t.Fatalf("%q accepted at length %d", s, len(s))
			}
			for _, r := range s {
				if !(r >= 'A' && r <= 'Z' || r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
					t.Fatalf("%q accepted with %q", s, r)
				}
			}
			// One spelling per token: it is what its bytes encode to.
			dec, err := base64.RawURLEncoding.DecodeString(s)
			if err != nil || len(dec) != 32 || tapdesk.EncodeLinkToken([32]byte(dec)) != s {
				t.Fatalf("%q accepted but is not the spelling of its bytes (%v)", s, err)
			}
		}
		var b [32]byte
		copy(b[:], raw)
		tok := tapdesk.EncodeLinkToken(b)
		if !tapdesk.ValidLinkToken(tok) {
			t.Fatalf("minted token %q refused", tok)
		}
		if tapdesk.EncodeLinkToken(b) != tok {
			t.Fatal("encoding is not deterministic")
		}
	})
}

// FuzzParseRequestID: an X-Request-Id is taken whole or not at all, and
// what is taken is bounded and holds nothing that could break a log line,
// a CSV cell or a header.
func FuzzParseRequestID(f *testing.F) {
	for _, s := range []string{"", "a", "7f9c2b1e-3d4a-4e5f-8a9b-0c1d2e3f4a5b", "abc\ndef", "abc\r\nX-Evil: 1", "a b", "a\"b", "a,b",
		"a\x00", "ü", "%0a", "req:1/2+3=@", strings.Repeat("a", tapdesk.MaxRequestIDLength), strings.Repeat("a", tapdesk.MaxRequestIDLength+1),
		strings.Repeat("x", 10240)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		id, ok := tapdesk.ParseRequestID(s)
		if !ok {
			if id != "" {
				t.Fatalf("refused %q but returned %q", s, id)
			}
			return
		}
		if id != s || id == "" || len(id) > tapdesk.MaxRequestIDLength || strings.ContainsAny(id, " \t\r\n\",;'<>\\%") {
			t.Fatalf("accepted %q as %q", s, id)
		}
		for _, r := range id {
			if r > unicode.MaxASCII || !unicode.IsPrint(r) {
				t.Fatalf("accepted %q with %q", s, r)
			}
		}
	})
}

// FuzzClientAddressPeer: with no trusted proxies the client is the
// connection's peer, written as net.IP writes it; the fast path that
// hands back the peer's own host (canonicalPeer) gives, for any peer, what
// parsing it and writing it out again gives, and allocates nothing for the
// addresses Go's listeners write.
func FuzzClientAddressPeer(f *testing.F) {
	for _, s := range []string{"127.0.0.1:5555", "192.0.2.7:443", "[::1]:80", "[2001:db8::1]:8080", "[2001:DB8::1]:80",
		"[2001:db8:0:0:0:0:0:1]:80", "[::ffff:192.0.2.7]:80", "[fe80::1%eth0]:80", "1.2.3.4", "01.2.3.4:80", "[1.2.3.4]:80",
		"::1:80", "1.2.3.4:99999", "1.2.3.4:", " 1.2.3.4:80", "[::]:0", "0.0.0.0:1", "[::1.2.3.4]:80", "garbage", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, peer string) {
		if got, want := tapdesk.ClientAddress(peer, tapdesk.HeaderXForwardedFor, nil, nil), slowClientAddress(peer); got != want {
			t.Fatalf("ClientAddress(%q) = %q, want %q", peer, got, want)
		}
	})
}

// slowClientAddress is ClientAddress for a peer not trusted, as it was
// written before the fast path: the peer parsed, then written by net.IP.
func slowClientAddress(peer string) string {
	s := strings.TrimSpace(peer)
	ip := net.ParseIP(s)
	if ip == nil {
		if host, _, err := net.SplitHostPort(s); err == nil {
			ip = net.ParseIP(host)
		} else {
			ip = net.ParseIP(strings.TrimSuffix(strings.TrimPrefix(s, "["), "]"))
		}
	}
	if ip == nil {
		return peer
	}
	return ip.String()
}

func TestClientAddressOfAPeerAllocatesNothing(t *testing.T) {
	for _, peer := range []string{"127.0.0.1:5555", "[2001:db8::1]:8080"} {
		if n := testing.AllocsPerRun(100, func() { tapdesk.ClientAddress(peer, tapdesk.HeaderXForwardedFor, nil, nil) }); n != 0 {
			t.Errorf("ClientAddress(%q) allocates %.0f times", peer, n)
		}
	}
}
