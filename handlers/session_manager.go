package handlers

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"log/slog"
	"maps"
	"net/http"
	"time"
)

// Sessions keeps server-side sessions (NewSessions): the browser holds a
// random token in a cookie, the store (sealedStore) a row keyed by its hash
// with the data sealed to it. Each request's session lives in its
// requestState, loaded by the pipeline (loadSession) and saved as the
// answer's header goes out.
//
// It does what scs's SessionManager did for tapdesk, with the same cookie,
// the same token and the same rows (a session signed in before the change
// stays signed in), without its per-request costs: scs put each session in
// a context of its own, made a map of its values for every request, and
// boxed its context key on every call (nine allocations on every page).
// Here the session is a value inside the request's state, and its values
// are the decode cache's map, copied only by a request that changes them.
type Sessions struct {
	store    *sealedStore
	codec    sessionCodec
	lifetime time.Duration
	cookie   sessionCookie
	log      *slog.Logger
	// saveFailed is told of a session that could not be saved as the
	// answer's header went out (NewSessions logs it).
	saveFailed func(*http.Request, error)
}

// sessionCookie is how the session's cookie is written: __Host- and Secure
// over TLS, HttpOnly, SameSite=Lax, path /, no Expires (it ends with the
// browser; the server ends it sooner).
type sessionCookie struct {
	name   string
	secure bool
}

// sessionStatus is what a request did to its session.
type sessionStatus uint8

const (
	sessionUnmodified sessionStatus = iota
	sessionModified                 // to be saved, under a new token if it has none
	sessionDestroyed                // its row deleted, its cookie to be expired
)

// session is one request's session.
type session struct {
	token    string // "" until the session is first saved
	deadline time.Time
	values   map[string]any
	// shared: values is the decode cache's own map, read by other requests:
	// it is copied before the first change (own).
	shared bool
	status sessionStatus
}

// sessionKey finds a request's session in its context (requestState).
type sessionKey struct{}

// load reads the session of token (the cookie's, "" if none) into s: a
// new, empty one if there is none, or if its data does not open or decode
// (a rotated session key, an altered row, data from a version long gone).
// Only a failing store is an error.
func (m *Sessions) load(ctx context.Context, s *session, token string) error {
	*s = session{}
	if token != "" {
		b, found, err := m.store.FindCtx(ctx, token)
		if err != nil {
			return err
		}
		if found {
			deadline, values, shared, err := m.codec.decodeShared(b)
			if err == nil {
				*s = session{token: token, deadline: deadline, values: values, shared: shared}
				return nil
			}
			// The person signs in again; a deployment that cannot read
			// its sessions shows here, not only as people signed out.
			m.log.WarnContext(ctx, "session data did not decode: a new session starts", "err", err)
		}
	}
	s.deadline = m.newDeadline()
	return nil
}

// newDeadline is when a session started now ends.
func (m *Sessions) newDeadline() time.Time { return time.Now().Add(m.lifetime).UTC() }

// of is the session of the request ctx belongs to. Reaching for a session
// where the pipeline loaded none (sessionless routes) is a bug.
func (m *Sessions) of(ctx context.Context) *session {
	s, ok := ctx.Value(sessionKey{}).(*session)
	if !ok || s == nil {
		panic("handlers: no session loaded for this request")
	}
	return s
}

// own makes s's values its own to change.
func (s *session) own() {
	if s.shared || s.values == nil {
		s.values = maps.Clone(s.values)
		if s.values == nil {
			s.values = map[string]any{}
		}
		s.shared = false
	}
}

// Get is the value under key (nil if none).
func (m *Sessions) Get(ctx context.Context, key string) any { return m.of(ctx).values[key] }

// GetString is the string under key ("" if none, or not a string).
func (m *Sessions) GetString(ctx context.Context, key string) string {
	v, _ := m.Get(ctx, key).(string)
	return v
}

// Put sets key to val; the session is saved with the answer.
func (m *Sessions) Put(ctx context.Context, key string, val any) {
	s := m.of(ctx)
	s.own()
	s.values[key] = val
	s.status = sessionModified
}

// Remove deletes key, if the session has it.
func (m *Sessions) Remove(ctx context.Context, key string) { m.Pop(ctx, key) }

// Pop is the value under key, removed from the session.
func (m *Sessions) Pop(ctx context.Context, key string) any {
	s := m.of(ctx)
	v, ok := s.values[key]
	if ok {
		s.own()
		delete(s.values, key)
		s.status = sessionModified
	}
	return v
}

// PopString is Pop of a string ("" if none, or not a string).
func (m *Sessions) PopString(ctx context.Context, key string) string {
	v, _ := m.Pop(ctx, key).(string)
	return v
}

// RenewToken gives the session a new token, its row under the old one
// deleted, and a new lifetime: done at sign-in, so a token planted in a
// browser beforehand (session fixation) is worth nothing after it.
func (m *Sessions) RenewToken(ctx context.Context) error {
	s := m.of(ctx)
	if err := m.deleteRow(ctx, s); err != nil {
		return err
	}
	token, err := newSessionToken()
	if err != nil {
		return err
	}
	s.own()
	s.token, s.deadline, s.status = token, m.newDeadline(), sessionModified
	return nil
}

// Destroy deletes the session's row and empties it; its cookie is expired
// with the answer. Anything put afterwards starts a new session.
func (m *Sessions) Destroy(ctx context.Context) error {
	s := m.of(ctx)
	if err := m.deleteRow(ctx, s); err != nil {
		return err
	}
	*s = session{deadline: m.newDeadline(), values: map[string]any{}, status: sessionDestroyed}
	return nil
}

// deleteRow deletes the row of s's token, if it has been saved under one.
func (m *Sessions) deleteRow(ctx context.Context, s *session) error {
	if s.token == "" {
		return nil
	}
	return m.store.DeleteCtx(ctx, s.token)
}

// save writes what the request did to its session as the answer's header
// goes out: a changed session is stored (under a new token if it has
// none) and its cookie set; a destroyed one's cookie is expired.
func (m *Sessions) save(ctx context.Context, w http.ResponseWriter, r *http.Request) {
	s := m.of(ctx)
	switch s.status {
	case sessionModified:
		if s.token == "" {
			token, err := newSessionToken()
			if err != nil {
				m.saveFailed(r, err)
				return
			}
			s.token = token
		}
		b, err := m.codec.Encode(s.deadline, s.values)
		if err == nil {
			err = m.store.CommitCtx(ctx, s.token, b, s.deadline)
		}
		if err != nil {
			m.saveFailed(r, err)
			return
		}
		m.writeCookie(w, s.token)
	case sessionDestroyed:
		m.writeCookie(w, "")
	}
}

// writeCookie sets the session's cookie to token, or expires it ("").
// The answer is marked not to be cached with the cookie.
func (m *Sessions) writeCookie(w http.ResponseWriter, token string) {
	c := &http.Cookie{Name: m.cookie.name, Value: token, Path: "/", HttpOnly: true, Secure: m.cookie.secure, SameSite: http.SameSiteLaxMode}
	if token == "" {
		c.Expires, c.MaxAge = time.Unix(1, 0), -1
	}
	h := w.Header()
	h.Add("Set-Cookie", c.String())
	h.Add("Cache-Control", `no-cache="Set-Cookie"`)
}

// newSessionToken is 256 random bits, as scs made them, so tokens already
// in browsers look like new ones.
func newSessionToken() (string, error) {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(b[:]), nil
}
