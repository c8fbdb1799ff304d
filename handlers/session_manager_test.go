package handlers

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/tapdesk/tapdesk"
)

// testSessions are Sessions over rows in memory; a failed save fails t.
func testSessions(t *testing.T, rows rowStore, secure bool) *Sessions {
	t.Helper()
	m := &Sessions{store: newSealedStore(rows, "session key of at least 32 chars.."),
		codec: sessionCodec{decoded: newSessionDecodeCache(4)}, lifetime: time.Hour, cookie: sessionCookie{name: "tapdesk_session", secure: secure},
		log:        slog.New(slog.DiscardHandler),
		saveFailed: func(_ *http.Request, err error) { t.Errorf("session not saved: %v", err) }}
	if secure {
		m.cookie.name = "__Host-tapdesk_session"
	}
	return m
}

// sessionRequest loads the session of token as the pipeline does and
// returns the request's context.
func sessionRequest(t *testing.T, m *Sessions, token string) *requestState {
	t.Helper()
	st := &requestState{Context: context.Background()}
	if err := m.load(st, &st.session, token); err != nil {
		t.Fatal(err)
	}
	st.sessionIn = true
	return st
}

// saveSession saves ctx's session into an answer and returns the answer.
func saveSession(m *Sessions, ctx context.Context) *httptest.ResponseRecorder {
	w := httptest.NewRecorder()
	m.save(ctx, w, httptest.NewRequest(http.MethodGet, "/", nil))
	return w
}

// The session's values are the decode cache's, handed to every request
// that reads the same row: a request that changes its session changes its
// own copy, never another request's or the cache's.
func TestSessionChangesStayInTheirRequest(t *testing.T) {
	rows := rowStore{}
	m := testSessions(t, rows, false)
	first := sessionRequest(t, m, "")
	m.Put(first, sessPrincipal, tapdesk.Principal{ObjectID: "o", Roles: []tapdesk.Role{tapdesk.RoleRequester}})
	m.Put(first, "flash", "hello")
	res := saveSession(m, first).Result()
	if len(res.Cookies()) != 1 {
		t.Fatalf("cookies: %v", res.Cookies())
	}
	token := res.Cookies()[0].Value

	sessionRequest(t, m, token) // decodes the row into the cache
	a, b := sessionRequest(t, m, token), sessionRequest(t, m, token)
	if !a.session.shared || !b.session.shared {
		t.Fatal("the second read of a row did not come from the decode cache: this test checks nothing")
	}
	if got := m.PopString(a, "flash"); got != "hello" {
		t.Fatalf("pop: %q", got)
	}
	m.Put(a, sessPrincipal, tapdesk.Principal{ObjectID: "someone else"})
	if m.GetString(b, "flash") != "hello" || m.Get(b, sessPrincipal).(tapdesk.Principal).ObjectID != "o" {
		t.Errorf("another request's change reached this one: %v", b.session.values)
	}
	if c := sessionRequest(t, m, token); m.GetString(c, "flash") != "hello" || m.Get(c, sessPrincipal).(tapdesk.Principal).ObjectID != "o" {
		t.Errorf("a request's change reached the cache: %v", c.session.values)
	}
	if w := saveSession(m, b); len(w.Result().Cookies()) != 0 {
		t.Error("a session only read was saved")
	}
}

// The cookie: the token and nothing else, HttpOnly, SameSite=Lax, path /,
// ending with the browser, __Host- and Secure over TLS; an answer that sets
// it is not cached with it. Renewing gives a new token and deletes the old
// row; destroying deletes the row and expires the cookie.
func TestSessionCookieRenewAndDestroy(t *testing.T) {
	rows := rowStore{}
	m := testSessions(t, rows, true)
	st := sessionRequest(t, m, "")
	m.Put(st, "flash", "hi")
	w := saveSession(m, st)
	set := w.Header().Get("Set-Cookie")
	for _, want := range []string{"__Host-tapdesk_session=", "Path=/", "HttpOnly", "Secure", "SameSite=Lax"} {
		if !strings.Contains(set, want) {
			t.Errorf("Set-Cookie %q lacks %s", set, want)
		}
	}
	if strings.Contains(set, "Expires") || strings.Contains(set, "Max-Age") || strings.Contains(set, "Domain") {
		t.Errorf("Set-Cookie %q outlives the browser or names a domain", set)
	}
	if cc := w.Header().Values("Cache-Control"); !strings.Contains(strings.Join(cc, ","), `no-cache="Set-Cookie"`) {
		t.Errorf("Cache-Control %q", cc)
	}
	old := w.Result().Cookies()[0].Value
	if len(old) != 43 {
		t.Errorf("token %q is not 32 random bytes", old)
	}

	st = sessionRequest(t, m, old)
	if err := m.RenewToken(st); err != nil {
		t.Fatal(err)
	}
	renewed := saveSession(m, st).Result().Cookies()[0].Value
	if renewed == old || len(rows) != 1 {
		t.Fatalf("renewed %q from %q, %d rows", renewed, old, len(rows))
	}
	if gone := sessionRequest(t, m, old); m.GetString(gone, "flash") != "" || gone.session.token != "" {
		t.Error("the token before renewal still opens the session")
	}
	st = sessionRequest(t, m, renewed)
	if m.GetString(st, "flash") != "hi" {
		t.Fatal("renewal lost the session's values")
	}
	if err := m.Destroy(st); err != nil {
		t.Fatal(err)
	}
	w = saveSession(m, st)
	if c := w.Result().Cookies(); len(c) != 1 || c[0].Value != "" || c[0].MaxAge >= 0 || len(rows) != 0 {
		t.Fatalf("after destroy: cookies %v, %d rows", c, len(rows))
	}
}

// A row that opens but does not decode (data from a version long gone) is
// no session: the person signs in again, and the log says why. The roles
// of a session decoded for one request are not the cache's, so not even a
// change in place reaches the next request.
func TestSessionUndecodableRowAndRoles(t *testing.T) {
	rows := rowStore{}
	m := testSessions(t, rows, false)
	var logs strings.Builder
	m.log = slog.New(slog.NewTextHandler(&logs, nil))
	ctx := context.Background()
	if err := m.store.CommitCtx(ctx, "old-token-0123456789", []byte("not a session"), time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	st := sessionRequest(t, m, "old-token-0123456789")
	if st.session.token != "" || len(st.session.values) != 0 {
		t.Errorf("an undecodable row gave a session: %+v", st.session)
	}
	if !strings.Contains(logs.String(), "session data did not decode") {
		t.Errorf("nothing logged: %q", logs.String())
	}

	st = sessionRequest(t, m, "")
	m.Put(st, sessPrincipal, tapdesk.Principal{ObjectID: "o", Roles: []tapdesk.Role{tapdesk.RoleRequester, tapdesk.RoleApprover}})
	token := saveSession(m, st).Result().Cookies()[0].Value
	decoder := sessionRequest(t, m, token) // a miss: this request's own map
	if decoder.session.shared {
		t.Fatal("the first read came from the cache: this test checks nothing")
	}
	m.Get(decoder, sessPrincipal).(tapdesk.Principal).Roles[0] = tapdesk.RoleAuditor
	if r := m.Get(sessionRequest(t, m, token), sessPrincipal).(tapdesk.Principal).Roles; r[0] != tapdesk.RoleRequester {
		t.Errorf("a change to one request's roles reached the cache: %v", r)
	}
}
