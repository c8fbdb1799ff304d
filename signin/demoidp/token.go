package demoidp

import (
	"cmp"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"time"
)

// serveToken is the token endpoint: authorization_code only, client
// authenticated by client_secret_post or client_secret_basic (one of them,
// not both), PKCE S256 verifier required. A code is good once: any attempt
// to redeem it, failed or not, uses it up, and a second attempt is refused
// with invalid_grant.
func (p *Provider) serveToken(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		tokenError(w, http.StatusBadRequest, "invalid_request", "unreadable form body")
		return
	}
	form := r.PostForm
	for _, name := range []string{"grant_type", "code", "redirect_uri", "code_verifier", "client_id", "client_secret"} {
		if len(form[name]) > 1 {
			tokenError(w, http.StatusBadRequest, "invalid_request", name+" given more than once")
			return
		}
	}

	clientID, ok := p.authenticateClient(w, r)
	if !ok {
		return
	}
	if gt := form.Get("grant_type"); gt != "authorization_code" {
		tokenError(w, http.StatusBadRequest, "unsupported_grant_type", "only grant_type=authorization_code is supported")
		return
	}
	verifier := form.Get("code_verifier")
	if verifier == "" {
		tokenError(w, http.StatusBadRequest, "invalid_request", "code_verifier is required (PKCE)")
		return
	}

	now := p.now()
	ac, problem := p.redeem(form.Get("code"), now)
	switch {
	case problem != "":
	case ac.clientID != clientID:
		problem = "code was issued to another client"
	case ac.redirectURI != form.Get("redirect_uri"):
		problem = "redirect_uri does not match the authorization request"
	case !pkceValue.MatchString(verifier) || !verifierMatches(verifier, ac.challenge):
		problem = "code_verifier does not match code_challenge"
	}
	if problem != "" {
		tokenError(w, http.StatusBadRequest, "invalid_grant", problem)
		return
	}

	idToken, err := p.signIDToken(ac, clientID, now)
	if err != nil {
		tokenError(w, http.StatusInternalServerError, "server_error", "signing the ID token failed")
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Pragma", "no-cache")
	writeJSON(w, http.StatusOK, map[string]any{
		// Opaque and accepted nowhere: tapdesk reads only the ID token.
		"access_token": randomToken(),
		"token_type":   "Bearer",
		"expires_in":   int(TokenLifetime / time.Second),
		"id_token":     idToken,
	})
}

// authenticateClient checks the client's secret, sent either in the body
// (client_secret_post) or as HTTP Basic (client_secret_basic, id and secret
// form-encoded first per RFC 6749 section 2.3.1). On failure it has already
// written the error.
func (p *Provider) authenticateClient(w http.ResponseWriter, r *http.Request) (string, bool) {
	id, secret, basic := r.BasicAuth()
	if basic {
		var err1, err2 error
		id, err1 = url.QueryUnescape(id)
		secret, err2 = url.QueryUnescape(secret)
		if err1 != nil || err2 != nil {
			clientError(w, basic, "malformed Basic credentials")
			return "", false
		}
		if r.PostForm.Get("client_secret") != "" {
			tokenError(w, http.StatusBadRequest, "invalid_request", "use one client authentication method, not two")
			return "", false
		}
		if bodyID := r.PostForm.Get("client_id"); bodyID != "" && bodyID != id {
			tokenError(w, http.StatusBadRequest, "invalid_request", "client_id differs from the authenticated client")
			return "", false
		}
	} else {
		id, secret = r.PostForm.Get("client_id"), r.PostForm.Get("client_secret")
	}
	if id == "" || secret == "" {
		clientError(w, basic, "client authentication is required")
		return "", false
	}
	c, ok := p.client(id)
	if !ok || subtle.ConstantTimeCompare([]byte(secret), []byte(c.secret)) != 1 {
		clientError(w, basic, "unknown client or wrong secret")
		return "", false
	}
	return id, true
}

// redeem marks the code used and returns what it stands for, or why not.
func (p *Provider) redeem(code string, now time.Time) (*authCode, string) {
	if code == "" {
		return nil, "code is missing"
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	ac, ok := p.codes[code]
	switch {
	case !ok:
		return nil, "unknown code"
	case ac.used:
		return nil, "code was already used"
	case now.After(ac.expires):
		delete(p.codes, code)
		return nil, "code expired"
	}
	ac.used = true
	return ac, ""
}

func verifierMatches(verifier, challenge string) bool {
	sum := sha256.Sum256([]byte(verifier))
	want := base64.RawURLEncoding.EncodeToString(sum[:])
	return subtle.ConstantTimeCompare([]byte(want), []byte(challenge)) == 1
}

// signIDToken makes an ID token shaped like an Entra v2.0 one. Profile and
// email claims follow the requested scopes, as at Entra.
func (p *Provider) signIDToken(ac *authCode, clientID string, now time.Time) (string, error) {
	ps := ac.persona
	amr := []string{"pwd", "mfa"}
	if ps.NoMFA {
		amr = []string{"pwd"}
	}
	c := map[string]any{
		"iss":       p.issuer,
		"sub":       ps.ObjectID,
		"aud":       clientID,
		"exp":       now.Add(TokenLifetime).Unix(),
		"iat":       now.Unix(),
		"nbf":       now.Unix(),
		"auth_time": ac.authTime.Unix(),
		"amr":       amr,
		"tid":       cmp.Or(ps.TenantID, TenantID),
		"oid":       ps.ObjectID,
		"ver":       "2.0",
	}
	if ac.nonce != "" {
		c["nonce"] = ac.nonce
	}
	if slices.Contains(ac.scopes, "profile") {
		c["preferred_username"] = ps.UPN
		c["name"] = ps.Name
	}
	if slices.Contains(ac.scopes, "email") && ps.Email != "" {
		c["email"] = ps.Email
	}
	if len(ps.Roles) > 0 {
		c["roles"] = ps.Roles
	}
	if len(ps.Groups) > 0 {
		c["groups"] = ps.Groups
	}
	payload, err := json.Marshal(c)
	if err != nil {
		return "", err
	}
	jws, err := p.signer.Sign(payload)
	if err != nil {
		return "", fmt.Errorf("demoidp: signing: %w", err)
	}
	return jws.CompactSerialize()
}

func tokenError(w http.ResponseWriter, status int, code, desc string) {
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, status, map[string]string{"error": code, "error_description": desc})
}

// clientError is invalid_client: 401, with a Basic challenge when the client
// tried Basic (RFC 6749 section 5.2).
func clientError(w http.ResponseWriter, basic bool, desc string) {
	if basic {
		w.Header().Set("WWW-Authenticate", `Basic realm="demoidp"`)
	}
	tokenError(w, http.StatusUnauthorized, "invalid_client", desc)
}
