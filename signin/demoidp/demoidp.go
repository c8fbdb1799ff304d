// Package demoidp is a small but real OpenID Connect provider for `tapdesk
// demo` and for tests. It stands in for Microsoft Entra ID: a persona picker
// instead of a password prompt, and ID tokens shaped like Entra's v2.0 tokens
// (tid, oid, roles, amr, auth_time), signed RS256 with a key made at start.
// Relying parties talk to it exactly as to a real provider: discovery, JWKS,
// authorization code with PKCE (S256 only) and nonce, client_secret_post or
// client_secret_basic at the token endpoint.
//
// Endpoints, under the issuer's path (for issuer http://host/demo/idp that is
// /demo/idp):
//
//	GET  /.well-known/openid-configuration  discovery
//	GET  /jwks                               public signing key
//	GET  /authorize                          persona picker
//	POST /authorize                          issue a code, 302 to redirect_uri
//	POST /token                              exchange the code for an ID token
//	GET  /logout                             end_session_endpoint: sign out
//	GET  /style.css                          the picker's stylesheet
//
// Picking a persona starts a session at the provider (see session.go), which
// later sign-ins may continue unless prompt=login or max_age forbid it; the
// end_session_endpoint ends it. Nothing is persisted; codes live in memory
// for a minute, sessions for SessionLifetime.
package demoidp

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/go-jose/go-jose/v4"
)

// Lifetimes. The code is short-lived as at real providers; tokens last an
// hour like Entra's.
const (
	CodeLifetime  = 60 * time.Second
	TokenLifetime = time.Hour
)

// Provider is the demo identity provider. It is safe for concurrent use.
type Provider struct {
	issuer   string
	prefix   string // path of the issuer URL, e.g. "/demo/idp"; "" at the root
	now      func() time.Time
	key      *rsa.PrivateKey
	keyID    string
	signer   jose.Signer
	personas []Persona
	byKey    map[string]Persona

	mu       sync.Mutex // guards the maps below, byKey and personas
	clients  map[string]client
	codes    map[string]*authCode
	sessions map[string]idpSession // by cookie value
}

type client struct {
	secret         string
	redirectURIs   []string
	postLogoutURIs []string
}

// Option adjusts a Provider made by New.
type Option func(*Provider)

// WithKey signs with key instead of a fresh RSA 2048 key, e.g. to keep
// tokens valid across restarts of a long demo.
func WithKey(key *rsa.PrivateKey) Option { return func(p *Provider) { p.key = key } }

// WithClock replaces time.Now: tests move the provider's clock to produce
// stale auth_time or expired codes.
func WithClock(now func() time.Time) Option { return func(p *Provider) { p.now = now } }

var personaKey = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,31}$`)

// New returns a provider for issuer (absolute URL, no trailing slash, no
// query) with the given personas; pass DefaultPersonas() for the demo tenant.
func New(issuer string, personas []Persona, opts ...Option) (*Provider, error) {
	u, err := url.Parse(issuer)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" ||
		u.RawQuery != "" || u.Fragment != "" || strings.HasSuffix(issuer, "/") {
		return nil, fmt.Errorf("demoidp: issuer %q must be an absolute http(s) URL without trailing slash, query or fragment", issuer)
	}
	if len(personas) == 0 {
		return nil, errors.New("demoidp: no personas")
	}
	p := &Provider{
		issuer:   issuer,
		prefix:   u.Path,
		now:      time.Now,
		byKey:    map[string]Persona{},
		clients:  map[string]client{},
		codes:    map[string]*authCode{},
		sessions: map[string]idpSession{},
	}
	oids := map[string]bool{}
	for _, ps := range personas {
		if !personaKey.MatchString(ps.Key) {
			return nil, fmt.Errorf("demoidp: persona key %q: want 1-32 of a-z 0-9 _ -", ps.Key)
		}
		if _, dup := p.byKey[ps.Key]; dup {
			return nil, fmt.Errorf("demoidp: persona key %q used twice", ps.Key)
		}
		if ps.ObjectID == "" || oids[ps.ObjectID] {
			return nil, fmt.Errorf("demoidp: persona %q: object id missing or used twice", ps.Key)
		}
		oids[ps.ObjectID] = true
		ps.Roles = slices.Clone(ps.Roles)
		ps.Groups = slices.Clone(ps.Groups)
		p.byKey[ps.Key] = ps
		p.personas = append(p.personas, ps)
	}
	for _, o := range opts {
		o(p)
	}
	if p.key == nil {
		if p.key, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
			return nil, fmt.Errorf("demoidp: generating key: %w", err)
		}
	} else if p.key.N.BitLen() < 2048 {
		return nil, errors.New("demoidp: key must have at least 2048 bits")
	}
	thumb, err := (&jose.JSONWebKey{Key: &p.key.PublicKey}).Thumbprint(crypto.SHA256)
	if err != nil {
		return nil, fmt.Errorf("demoidp: key thumbprint: %w", err)
	}
	p.keyID = base64.RawURLEncoding.EncodeToString(thumb)
	p.signer, err = jose.NewSigner(
		jose.SigningKey{Algorithm: jose.RS256, Key: jose.JSONWebKey{Key: p.key, KeyID: p.keyID}},
		(&jose.SignerOptions{}).WithType("JWT"))
	if err != nil {
		return nil, fmt.Errorf("demoidp: signer: %w", err)
	}
	return p, nil
}

// Issuer returns the issuer URL, as relying parties must configure it.
func (p *Provider) Issuer() string { return p.issuer }

// Personas returns the personas offered by the picker.
func (p *Provider) Personas() []Persona {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.personas)
}

func (p *Provider) persona(key string) (Persona, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	ps, ok := p.byKey[key]
	return ps, ok
}

// RegisterClient allows a relying party: its client id, secret and the exact
// redirect URIs it may use (compared as strings, as Entra does). Registering
// an id again replaces it. It panics on an empty id or secret or no redirect
// URI, which are programming errors.
func (p *Provider) RegisterClient(id, secret string, redirectURIs ...string) {
	if id == "" || secret == "" || len(redirectURIs) == 0 {
		panic("demoidp: RegisterClient needs an id, a secret and at least one redirect URI")
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.clients[id] = client{secret: secret, redirectURIs: slices.Clone(redirectURIs), postLogoutURIs: p.clients[id].postLogoutURIs}
}

func (p *Provider) client(id string) (client, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	c, ok := p.clients[id]
	return c, ok
}

// Handler serves the endpoints. It accepts both the full paths under the
// issuer (/demo/idp/authorize) and paths with that prefix already stripped
// (/authorize), so it can be mounted with or without http.StripPrefix. URLs
// it hands out (discovery, the picker's form action) are always the full ones.
func (p *Provider) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /.well-known/openid-configuration", p.serveDiscovery)
	mux.HandleFunc("GET /jwks", p.serveJWKS)
	mux.HandleFunc("GET /authorize", p.serveAuthorize)
	mux.HandleFunc("POST /authorize", p.serveAuthorizeSubmit)
	mux.HandleFunc("POST /token", p.serveToken)
	mux.HandleFunc("GET /logout", p.serveEndSession)
	mux.HandleFunc("POST /logout", p.serveEndSession)
	mux.HandleFunc("GET /style.css", serveStyle)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if rest, ok := strings.CutPrefix(r.URL.Path, p.prefix); ok && p.prefix != "" && strings.HasPrefix(rest, "/") {
			r2 := new(http.Request)
			*r2 = *r
			r2.URL = new(url.URL)
			*r2.URL = *r.URL
			r2.URL.Path = rest
			r2.URL.RawPath = ""
			r = r2
		}
		mux.ServeHTTP(w, r)
	})
}

func (p *Provider) endpoint(name string) string { return p.issuer + name }

func (p *Provider) serveDiscovery(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{
		"issuer":                                p.issuer,
		"authorization_endpoint":                p.endpoint("/authorize"),
		"token_endpoint":                        p.endpoint("/token"),
		"jwks_uri":                              p.endpoint("/jwks"),
		"end_session_endpoint":                  p.endpoint("/logout"),
		"response_types_supported":              []string{"code"},
		"response_modes_supported":              []string{"query"},
		"grant_types_supported":                 []string{"authorization_code"},
		"subject_types_supported":               []string{"public"},
		"id_token_signing_alg_values_supported": []string{"RS256"},
		"token_endpoint_auth_methods_supported": []string{"client_secret_post", "client_secret_basic"},
		"code_challenge_methods_supported":      []string{"S256"},
		"scopes_supported":                      []string{"openid", "profile", "email"},
		"claims_supported": []string{
			"iss", "sub", "aud", "exp", "iat", "nbf", "nonce", "auth_time", "amr",
			"tid", "oid", "preferred_username", "name", "email", "roles", "groups", "ver",
		},
		"prompt_values_supported": []string{"none", "login", "consent", "select_account"},
	})
}

func (p *Provider) serveJWKS(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{
		Key: &p.key.PublicKey, KeyID: p.keyID, Algorithm: string(jose.RS256), Use: "sig",
	}}})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		http.Error(w, "demoidp: encoding response failed", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// randomToken returns 256 random bits, URL-safe.
func randomToken() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b) // never fails: crypto/rand crashes the program instead
	return base64.RawURLEncoding.EncodeToString(b)
}
