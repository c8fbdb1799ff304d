package demoidp

import (
	"errors"
	"html/template"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

// The provider's own session: picking a persona signs the browser in at the
// provider (a cookie naming a server-side record), as a real provider's
// password prompt would. Later authorization requests offer "Continue as"
// that person with the original auth_time, unless prompt=login or max_age
// asks for a new authentication; prompt=none succeeds only with a session.
// The end_session_endpoint (OpenID Connect RP-Initiated Logout 1.0) ends it.

// SessionLifetime is how long the provider remembers who signed in.
const SessionLifetime = 12 * time.Hour

type idpSession struct {
	persona  string // Persona.Key
	authTime time.Time
}

func (p *Provider) sessionCookieName() string { return "demoidp_session" }

func (p *Provider) cookiePath() string {
	if p.prefix == "" {
		return "/"
	}
	return p.prefix
}

// startSession signs the browser in at the provider as persona.
func (p *Provider) startSession(w http.ResponseWriter, persona string, now time.Time) {
	token := randomToken()
	p.mu.Lock()
	for k, s := range p.sessions {
		if now.Sub(s.authTime) > SessionLifetime {
			delete(p.sessions, k)
		}
	}
	p.sessions[token] = idpSession{persona: persona, authTime: now}
	p.mu.Unlock()
	http.SetCookie(w, &http.Cookie{Name: p.sessionCookieName(), Value: token, Path: p.cookiePath(),
		HttpOnly: true, Secure: strings.HasPrefix(p.issuer, "https://"), SameSite: http.SameSiteLaxMode})
}

// session returns the browser's session at the provider, if any.
func (p *Provider) session(r *http.Request, now time.Time) (idpSession, Persona, bool) {
	ck, err := r.Cookie(p.sessionCookieName())
	if err != nil || ck.Value == "" {
		return idpSession{}, Persona{}, false
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	s, ok := p.sessions[ck.Value]
	if !ok || now.Sub(s.authTime) > SessionLifetime {
		return idpSession{}, Persona{}, false
	}
	ps, ok := p.byKey[s.persona]
	return s, ps, ok
}

// endSession forgets the browser's session and clears its cookie.
func (p *Provider) endSession(w http.ResponseWriter, r *http.Request) {
	if ck, err := r.Cookie(p.sessionCookieName()); err == nil {
		p.mu.Lock()
		delete(p.sessions, ck.Value)
		p.mu.Unlock()
	}
	http.SetCookie(w, &http.Cookie{Name: p.sessionCookieName(), Value: "", Path: p.cookiePath(), MaxAge: -1,
		HttpOnly: true, Secure: strings.HasPrefix(p.issuer, "https://"), SameSite: http.SameSiteLaxMode})
}

// reusable reports whether the session may answer the authorization request
// without a new authentication.
func reusable(form url.Values, s idpSession, now time.Time) bool {
	if slices.Contains(strings.Fields(form.Get("prompt")), "login") {
		return false
	}
	if v := form.Get("max_age"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || now.Sub(s.authTime) > time.Duration(n)*time.Second {
			return false
		}
	}
	return true
}

// HasSession reports whether some browser is signed in at the provider as
// persona; tests use it to see sign-out end the session.
func (p *Provider) HasSession(persona string) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, s := range p.sessions {
		if s.persona == persona {
			return true
		}
	}
	return false
}

// RegisterPostLogoutRedirect allows a client's post_logout_redirect_uri
// values at the end_session_endpoint (exact string match). It panics on an
// unknown client, a programming error.
func (p *Provider) RegisterPostLogoutRedirect(clientID string, uris ...string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	c, ok := p.clients[clientID]
	if !ok {
		panic("demoidp: RegisterPostLogoutRedirect for unknown client " + clientID)
	}
	c.postLogoutURIs = append(slices.Clone(c.postLogoutURIs), uris...)
	p.clients[clientID] = c
}

// SetRoles changes the app roles a persona holds from now on, as an
// administrator removing an assignment in Entra would. Tokens already issued
// keep the roles they have. It reports whether the persona exists.
func (p *Provider) SetRoles(persona string, roles ...string) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	ps, ok := p.byKey[persona]
	if !ok {
		return false
	}
	ps.Roles = slices.Clone(roles)
	p.byKey[persona] = ps
	for i := range p.personas {
		if p.personas[i].Key == persona {
			p.personas[i] = ps
		}
	}
	return true
}

// serveEndSession is the end_session_endpoint. It checks id_token_hint (a
// token this provider signed for a client, expired or not), client_id (which
// must match the hint's audience) and post_logout_redirect_uri (which must
// be registered for that client), then ends the browser's session and
// redirects there with state, or shows a signed-out page. A request that
// does not check out ends the session too (being signed out is the safe
// side) but is never redirected: that would make the provider an open
// redirector.
func (p *Provider) serveEndSession(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	if r.Method == http.MethodPost {
		if err := r.ParseForm(); err == nil {
			q = r.PostForm
		}
	}
	p.endSession(w, r)
	clientID, err := p.logoutClient(q.Get("id_token_hint"), q.Get("client_id"))
	redirect := q.Get("post_logout_redirect_uri")
	if err == nil && redirect != "" {
		c, _ := p.client(clientID)
		if !slices.Contains(c.postLogoutURIs, redirect) {
			err = errors.New("post_logout_redirect_uri " + strconv.Quote(redirect) + " is not registered for this client")
		}
	}
	if err != nil {
		p.renderSignedOut(w, http.StatusBadRequest, "You are signed out of the demo identity provider, but the application's sign-out request was refused ("+err.Error()+"), so you are not sent back to it.")
		return
	}
	if redirect == "" {
		p.renderSignedOut(w, http.StatusOK, "You are signed out of the demo identity provider. You can close this window.")
		return
	}
	p.redirect(w, r, redirect, url.Values{"state": {q.Get("state")}})
}

// logoutClient finds the client of a sign-out request from the hint's
// audience and client_id; with neither, there is none ("").
func (p *Provider) logoutClient(hint, clientID string) (string, error) {
	if hint != "" {
		tok, err := jwt.ParseSigned(hint, []jose.SignatureAlgorithm{jose.RS256})
		var c jwt.Claims
		if err == nil {
			err = tok.Claims(&p.key.PublicKey, &c)
		}
		if err != nil || c.Issuer != p.issuer || len(c.Audience) != 1 {
			return "", errors.New("id_token_hint is not an ID token from this provider")
		}
		if clientID != "" && clientID != c.Audience[0] {
			return "", errors.New("client_id does not match the id_token_hint")
		}
		clientID = c.Audience[0]
	}
	if clientID == "" {
		return "", nil
	}
	if _, ok := p.client(clientID); !ok {
		return "", errors.New("unknown client_id " + strconv.Quote(clientID))
	}
	return clientID, nil
}

var signedOut = template.Must(template.New("signedout").Parse(`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Signed out</title>
<link rel="stylesheet" href="{{.Stylesheet}}">
</head>
<body>
<main>
<h1>Signed out</h1>
<p class="demo" role="note"><strong>DEMO</strong> This page stands in for Microsoft Entra ID.</p>
<p data-testid="signed-out">{{.Message}}</p>
</main>
</body>
</html>
`))

func (p *Provider) renderSignedOut(w http.ResponseWriter, status int, msg string) {
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'self'; base-uri 'none'; frame-ancestors 'none'")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = signedOut.Execute(w, struct{ Stylesheet, Message string }{p.prefix + "/style.css", msg})
}
