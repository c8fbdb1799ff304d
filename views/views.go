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
)

// WithNonce stores the per-request CSP nonce.
func WithNonce(ctx context.Context, nonce string) context.Context {
	return context.WithValue(ctx, nonceKey, nonce)
}

// WithCSRF stores the CSRF token forms must carry.
func WithCSRF(ctx context.Context, token string) context.Context {
	return context.WithValue(ctx, csrfKey, token)
}

func nonce(ctx context.Context) string { s, _ := ctx.Value(nonceKey).(string); return s }
func csrf(ctx context.Context) string  { s, _ := ctx.Value(csrfKey).(string); return s }

// Page is what the layout needs on every page.
type Page struct {
	Title string
	User  tapdesk.Principal // zero when anonymous
	Demo  bool
	Flash string
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

func roleNames(rs []tapdesk.Role) string {
	s := make([]string, len(rs))
	for i, r := range rs {
		s[i] = strings.TrimPrefix(string(r), "Tap.")
	}
	return strings.Join(s, ", ")
}

func yesNo(b bool) string {
	if b {
		return "Yes"
	}
	return "No"
}

func stateClass(s tapdesk.State) string { return "state state-" + string(s) }

func joinComma(s []string) string { return strings.Join(s, ", ") }
