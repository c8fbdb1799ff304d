// Package views renders tapdesk's pages with templ. Components take small
// view-model structs; only the CSP nonce and the CSRF token travel in the
// context.
package views

import (
	"context"
	"strings"
	"time"

	"github.com/tapdesk/tapdesk"
)

type ctxKey int

const (
	nonceKey ctxKey = iota
	csrfKey
	pageKey
)

// WithNonce stores the per-request CSP nonce.
func WithNonce(ctx context.Context, nonce string) context.Context {
	return context.WithValue(ctx, nonceKey, nonce)
}

// WithCSRF stores the CSRF token forms must carry.
func WithCSRF(ctx context.Context, token string) context.Context {
	return context.WithValue(ctx, csrfKey, token)
}

// WithNonceAndCSRF stores both at once (one context value, for every page
// rendered: handlers.render).
func WithNonceAndCSRF(ctx context.Context, nonce, csrf string) context.Context {
	return context.WithValue(ctx, pageKey, &pageSecrets{nonce: nonce, csrf: csrf})
}

// pageSecrets are the nonce and CSRF token as WithNonceAndCSRF stores them.
type pageSecrets struct{ nonce, csrf string }

func nonce(ctx context.Context) string {
	if s, ok := ctx.Value(nonceKey).(string); ok {
		return s
	}
	if p, ok := ctx.Value(pageKey).(*pageSecrets); ok {
		return p.nonce
	}
	return ""
}

func csrf(ctx context.Context) string {
	if s, ok := ctx.Value(csrfKey).(string); ok {
		return s
	}
	if p, ok := ctx.Value(pageKey).(*pageSecrets); ok {
		return p.csrf
	}
	return ""
}

// Page is what the layout needs on every page.
type Page struct {
	Title string
	User  tapdesk.Principal // zero when anonymous
	Demo  bool
	Flash string
	// Threat is heightened-threat mode; every page shows a banner while it
	// is on (titles-threat slice).
	Threat tapdesk.ThreatMode
	// ThreatUnread: the mode could not be read for this page; the banner
	// says so instead (tapdesk.ThreatModeUnreadSentence).
	ThreatUnread bool
}

func (p Page) can(r tapdesk.Role) bool { return p.User.Has(r) }

func utc(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format("2006-01-02 15:04 UTC")
}

func utcPtr(t *time.Time) string {
	if t == nil {
		return ""
	}
	return utc(*t)
}

func yesNo(b bool) string {
	if b {
		return "Yes"
	}
	return "No"
}

func stateClass(s tapdesk.State) string { return "state state-" + string(s) }

func joinComma(s []string) string { return strings.Join(s, ", ") }
