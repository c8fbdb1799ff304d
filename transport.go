package tapdesk

import (
	"fmt"
	"mime"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// MaxFormBytes bounds every request body. tapdesk's largest form (a request
// with its justification and verification note) is a few kilobytes; 64 KB is
// ample for it and small enough to hold in memory, so no body ever reaches
// the disk.
const MaxFormBytes = 64 << 10

// MaxHeaderBytes bounds a request's header block (request line, cookies,
// the sign-in callback's query): tapdesk's own cookies and an Entra
// authorization code fit many times over.
const MaxHeaderBytes = 32 << 10

// Transport bounds of every connection: a form of at most MaxFormBytes
// arrives in well under a second on any connection a person uses, and a
// stalled write is a client that has gone or stopped reading.
const (
	// DefaultReadTimeout bounds reading a whole request, body included
	// (TAPDESK_READ_TIMEOUT).
	DefaultReadTimeout = 30 * time.Second
	// DefaultWriteTimeout bounds one stalled write of an answer
	// (TAPDESK_WRITE_TIMEOUT).
	DefaultWriteTimeout = time.Minute
	// MaxReadHeaderTimeout bounds reading the headers (or the read timeout,
	// if shorter).
	MaxReadHeaderTimeout = 10 * time.Second
	// IdleTimeout closes a kept-alive connection nobody uses.
	IdleTimeout = 2 * time.Minute
)

// FormContentType is the only body encoding tapdesk accepts: what its own
// forms and an OAuth client's token request send. Multipart is refused
// outright, since parsing it spills file parts to temporary files.
const FormContentType = "application/x-www-form-urlencoded"

// BodyTooLarge is the refusal of a body over MaxFormBytes.
func BodyTooLarge() error {
	return Titledf(ETOOLARGE, "Form too large", "What you sent is larger than the %d KB a tapdesk form can hold, so it was not read. Shorten the text and send the form again.", MaxFormBytes>>10)
}

// BodyIncomplete is the refusal of a body that broke off before its end.
func BodyIncomplete() error {
	return Titledf(EINVALID, "Form incomplete", "What you sent arrived incomplete, so it was not read. Send the form again.")
}

// BodyTooSlow is the refusal of a body that did not arrive within the read
// timeout (a connection trickling it byte by byte).
func BodyTooSlow() error {
	return Titledf(ETIMEOUT, "Form arrived too slowly", "What you sent took too long to arrive, so it was not read. Check your connection and send the form again.")
}

// CheckFormBody checks what a request declares about its body before any of
// it is read: POSTs (and any request that carries a body at all, as a GET
// with one could still be parsed) must be form-encoded, and a declared length
// must fit MaxFormBytes. contentLength is -1 when not declared (chunked).
func CheckFormBody(method, contentType string, contentLength int64) error {
	if contentLength > MaxFormBytes {
		return BodyTooLarge()
	}
	if method != "POST" && method != "PUT" && method != "PATCH" && contentLength == 0 {
		return nil
	}
	media, _, err := mime.ParseMediaType(contentType)
	if err != nil || media != FormContentType {
		sent := "without a content type"
		if shown := strings.TrimSpace(contentType); shown != "" {
			if media != "" {
				shown = media
			}
			if len(shown) > 64 {
				shown = shown[:64] + "…"
			}
			sent = fmt.Sprintf("as %q", shown)
		}
		return Titledf(EUNSUPPORTED, "Not sent as a form", "tapdesk takes forms sent as %s only, the way its pages send them (no file uploads); this request was sent %s, so it was not read.", FormContentType, sent)
	}
	return nil
}

// ServiceRootProblem says what is wrong with the root URL of a Microsoft
// service given in a setting (the Graph base URL, the token authority; service
// names it in the sentence), ""
// if nothing is. tapdesk adds the version and every path itself, so the
// setting names the host alone: a root with /v1.0 starts fine and then fails
// every call with an answer that reads like bad credentials.
func ServiceRootProblem(raw, service, example string) string {
	raw = strings.TrimSpace(raw)
	if raw == "" {
		return ""
	}
	u, err := url.Parse(raw)
	if err != nil || u.Scheme != "https" || u.Host == "" || u.Opaque != "" {
		return fmt.Sprintf("%q is not an https URL like %s", raw, example)
	}
	if u.User != nil || u.RawQuery != "" || u.ForceQuery || u.Fragment != "" {
		return fmt.Sprintf("%q must be the %s host alone, like %s, without a user name, query or fragment", raw, service, example)
	}
	path := strings.Trim(u.EscapedPath(), "/")
	if path == "" {
		return ""
	}
	first, _, _ := strings.Cut(path, "/")
	if strings.EqualFold(first, "v1.0") || strings.EqualFold(first, "beta") {
		return fmt.Sprintf("%q must be the %s host without a version, like %s; leave off /%s (tapdesk adds the version itself)", raw, service, example, path)
	}
	return fmt.Sprintf("%q must be the %s host alone, like %s; leave off /%s (tapdesk adds every path itself)", raw, service, example, path)
}

// CompressPage says whether a page goes out gzip-compressed to a client
// that sent acceptEncoding. A page is compressed only if it holds no
// secret: compressing a secret next to text an attacker can put on the
// same page (a search, a ticket, a name) lets one who watches the
// encrypted sizes guess it a character at a time (BREACH). So a page that
// shows a pass or carries a link's token is never compressed, nor one
// whose forms carry a real CSRF token (a browser that sends Fetch Metadata
// gets echo's fixed placeholder instead: its own Sec-Fetch-Site header
// protects it). Nor is a page another site made the browser ask for
// (fetchSite, the Sec-Fetch-Site header, other than same-origin or none):
// that site chooses what a search page echoes, and could learn from the
// sizes what else the page shows. What is left gains much: a dashboard is
// about a fifth of its size gzipped, which a phone on a weak signal feels.
func CompressPage(acceptEncoding, fetchSite string, holdsSecret bool) bool {
	return !holdsSecret && (fetchSite == "same-origin" || fetchSite == "none") && acceptsGzip(acceptEncoding)
}

// acceptsGzip reads an Accept-Encoding header (RFC 9110, 12.5.3): gzip is
// acceptable if named, or covered by "*", with a weight above zero.
func acceptsGzip(header string) bool {
	if !strings.ContainsAny(header, ";*") {
		return namesGzip(header)
	}
	return weighsGzip(header)
}

// namesGzip is acceptsGzip for a header without weights or "*" (what
// browsers send): gzip is acceptable if one of the codings is it. It
// reads the header once, without splitting it.
func namesGzip(header string) bool {
	for header != "" {
		name, rest, _ := strings.Cut(header, ",")
		if isGzip(strings.TrimSpace(name)) {
			return true
		}
		header = rest
	}
	return false
}

// isGzip says whether a content coding's name is gzip's (x-gzip is its
// old alias, RFC 9110 8.4.1.3).
func isGzip(name string) bool {
	return strings.EqualFold(name, "gzip") || strings.EqualFold(name, "x-gzip")
}

// weighsGzip is acceptsGzip for any header.
func weighsGzip(header string) bool {
	gzip, star := -1.0, -1.0
	for part := range strings.SplitSeq(header, ",") {
		name, params, _ := strings.Cut(part, ";")
		q := 1.0
		for p := range strings.SplitSeq(params, ";") {
			k, v, ok := strings.Cut(strings.TrimSpace(p), "=")
			if ok && strings.EqualFold(strings.TrimSpace(k), "q") {
				if f, err := strconv.ParseFloat(strings.TrimSpace(v), 64); err == nil && f >= 0 && f <= 1 {
					q = f
				} else {
					q = 0 // a weight that does not parse accepts nothing
				}
			}
		}
		switch name = strings.TrimSpace(name); {
		case isGzip(name):
			gzip = max(gzip, q)
		case name == "*":
			star = max(star, q)
		}
	}
	if gzip >= 0 {
		return gzip > 0
	}
	return star > 0
}
