package handlers

import (
	"cmp"
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/tapdesk/tapdesk"
)

// Session limits by default: a helpdesk PC left signed in is signed out after
// half an hour without use, and nobody stays signed in for more than a
// working day without authenticating again (which also re-reads their roles).
const (
	DefaultSessionIdleTimeout = 30 * time.Minute
	DefaultSessionLifetime    = 8 * time.Hour
)

// NewSessions returns server-side sessions kept in the database. The cookie
// holds only a random token; the database holds a hash of it and the data
// sealed under the session key and bound to the token (sealedStore), so a
// copy of the database neither hands out sessions nor reveals sign-in state
// (PKCE verifiers, identities, ID tokens).
//
// idle and lifetime (0: the defaults) are enforced, against the handler's
// clock and with an audit event, by loadPrincipal; here they make the store
// forget the rows. A session is not written on every request to push an
// idle deadline on (a page that only reads would then write):
// loadPrincipal records activity at most once a step
// (tapdesk.SessionActivityStep) instead, and each write of a row keeps it
// for idle from then on (sealedStore.forgetIdle).
//
// rows (store.SessionRows) keeps the rows; expired ones are deleted every
// sessionCleanupInterval until the returned stop is called.
func NewSessions(rows SessionRows, log *slog.Logger, secure bool, sessionKey string, idle, lifetime time.Duration) (*Sessions, func()) {
	sealed := newSealedStore(rows, sessionKey)
	sealed.forgetIdle = cmp.Or(idle, DefaultSessionIdleTimeout)
	m := &Sessions{store: sealed, codec: sessionCodec{decoded: newSessionDecodeCache(sessionCacheEntries)},
		lifetime: cmp.Or(lifetime, DefaultSessionLifetime), cookie: sessionCookie{name: "tapdesk_session", secure: secure}, log: log,
		saveFailed: func(r *http.Request, err error) {
			// The answer's header is going out with the page decided:
			// writing another answer then would mix two, so the failure is
			// only logged. The next request's read of the session meets
			// the same store and is answered by Handler.sessionLoadFailed.
			log.ErrorContext(r.Context(), "session store failed: the session was not saved", "request_id", tapdesk.RequestIDFrom(r.Context()),
				"method", r.Method, "path", r.URL.Path, "err", err)
		}}
	if secure {
		m.cookie.name = "__Host-tapdesk_session"
	}
	return m, cleanExpiredSessions(rows, log)
}

// SessionRows is where sessions are kept (store.SessionRows).
type SessionRows interface {
	sessionRowStore
	DeleteExpired(ctx context.Context) error
}

// sessionCleanupInterval is how often expired session rows are deleted.
const sessionCleanupInterval = 10 * time.Minute

// cleanExpiredSessions deletes expired rows every sessionCleanupInterval
// until the returned stop is called.
func cleanExpiredSessions(rows SessionRows, log *slog.Logger) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		tick := time.NewTicker(sessionCleanupInterval)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
				if err := rows.DeleteExpired(ctx); err != nil && ctx.Err() == nil {
					log.Warn("delete expired sessions", "err", err)
				}
			}
		}
	}()
	return func() { cancel(); <-done }
}

// sessionTimes are when the session's sign-in happened and when it was last
// used, by the handler's clock.
type sessionTimes struct {
	SignedIn time.Time
	LastSeen time.Time
}

// ended says why a session with these times is over at now (for the audit
// trail, and a sentence for the person), or "" if it is not. A signed-in
// session without times (made before they were kept) is over: its age is
// unknown.
func (t sessionTimes) ended(now time.Time, idle, lifetime time.Duration) (why, sentence string) {
	switch {
	case t.SignedIn.IsZero() || t.LastSeen.IsZero():
		return "session without sign-in time", "You were signed out: your session had ended. Sign in again."
	case now.Sub(t.SignedIn) >= lifetime:
		return "session older than " + lifetime.String(),
			fmt.Sprintf("You were signed out: a sign-in lasts at most %s. Sign in again.", tapdesk.HumanDuration(lifetime))
	case now.Sub(t.LastSeen) >= idle:
		return "session idle for more than " + idle.String(),
			fmt.Sprintf("You were signed out after %s without activity. Sign in again.", tapdesk.HumanDuration(idle))
	}
	return "", ""
}
