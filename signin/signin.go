// Package signin signs people in to tapdesk with OpenID Connect: the
// authorization code flow with PKCE, state and nonce, against Microsoft Entra
// ID in production and against the demo provider (package signin/demoidp) in
// demo mode and tests.
//
// The package turns a verified ID token into a tapdesk.Principal and nothing
// more: the server-side session, cookies and the audit of sign-ins belong to
// the handlers. Between the redirect to the provider and the callback the
// handler keeps a Pending in the session; Finish checks the callback against
// it.
package signin

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/tapdesk/tapdesk"
)

// DefaultScopes are requested when Config.Scopes is empty. profile and email
// make Entra include preferred_username, name and email in the ID token.
var DefaultScopes = []string{oidc.ScopeOpenID, "profile", "email"}

// Config describes the app registration at the identity provider.
type Config struct {
	// Issuer is the provider's issuer URL, exactly as its discovery document
	// states it. For Entra: https://login.microsoftonline.com/{tenant-guid}/v2.0
	// (not "common" or "organizations": their issuer does not match).
	Issuer string
	// TenantID is the directory (tenant) id tapdesk serves: Finish refuses
	// an ID token whose tid claim names another tenant (a multi-tenant app
	// registration or an issuer pointed elsewhere would otherwise let in
	// accounts of any organisation). Required.
	TenantID     string
	ClientID     string
	ClientSecret string
	// RedirectURL is tapdesk's /auth/callback as registered at the provider.
	RedirectURL string
	// Scopes default to DefaultScopes; when set they must include "openid".
	Scopes []string
	// GroupRoles maps group object ids (from the groups claim) to roles, for
	// tenants that assign access by group rather than by app role.
	GroupRoles map[string]tapdesk.Role
	// HTTPClient is used for discovery, the JWKS and the token endpoint.
	// Optional; the default has a 30 second timeout.
	HTTPClient *http.Client
	// Now is the clock; optional (time.Now). Tests move it.
	Now tapdesk.Clock
	// PostLogoutRedirectURL is where the provider sends the browser back
	// after ending its session at sign-out (tapdesk's base URL). It must be
	// registered at the provider (for Entra: as a redirect URI of the app).
	// Optional: without it the provider shows its own signed-out page.
	PostLogoutRedirectURL string
	// AllowHTTP permits plain-http Issuer and RedirectURL on hosts other than
	// localhost. Only demo mode served on a non-loopback address needs it.
	AllowHTTP bool
}

// PendingLifetime is how long a sign-in may take between Begin and Finish.
const PendingLifetime = 10 * time.Minute

// authTimeSkew tolerates clocks that disagree a little when checking max_age.
const authTimeSkew = time.Minute

// Authenticator is the OpenID Connect relying party. It is safe for
// concurrent use.
type Authenticator struct {
	cfg    Config
	now    func() time.Time
	client *http.Client

	mu sync.Mutex
	rp *relyingParty // nil until discovery has succeeded once
}

// relyingParty is what discovery yields; it never changes once built.
type relyingParty struct {
	oauth    *oauth2.Config
	verifier *oidc.IDTokenVerifier
	// endSession is the provider's end_session_endpoint (OpenID Connect
	// RP-Initiated Logout 1.0), "" when its discovery document has none.
	endSession string
}

// New checks cfg and returns an Authenticator. It does not contact the
// provider: in demo mode the provider is served by the very server that is
// starting, so discovery happens on first use (or when Discover is called).
func New(cfg Config) (*Authenticator, error) {
	var problems []error
	if err := checkURL("issuer", cfg.Issuer, cfg.AllowHTTP); err != nil {
		problems = append(problems, err)
	} else if u, _ := url.Parse(cfg.Issuer); u.RawQuery != "" {
		problems = append(problems, errors.New("signin: issuer must not have a query"))
	}
	cfg.TenantID = strings.TrimSpace(cfg.TenantID)
	if cfg.TenantID == "" {
		problems = append(problems, errors.New("signin: tenant id is missing"))
	}
	if cfg.ClientID == "" {
		problems = append(problems, errors.New("signin: client id is missing"))
	}
	if cfg.ClientSecret == "" {
		problems = append(problems, errors.New("signin: client secret is missing"))
	}
	if err := checkURL("redirect URL", cfg.RedirectURL, cfg.AllowHTTP); err != nil {
		problems = append(problems, err)
	}
	if cfg.PostLogoutRedirectURL != "" {
		if err := checkURL("post-logout redirect URL", cfg.PostLogoutRedirectURL, cfg.AllowHTTP); err != nil {
			problems = append(problems, err)
		}
	}
	if len(cfg.Scopes) == 0 {
		cfg.Scopes = slices.Clone(DefaultScopes)
	} else {
		cfg.Scopes = slices.Clone(cfg.Scopes)
		if !slices.Contains(cfg.Scopes, oidc.ScopeOpenID) {
			problems = append(problems, errors.New(`signin: scopes must include "openid"`))
		}
	}
	cfg.GroupRoles = maps.Clone(cfg.GroupRoles)
	for group, role := range cfg.GroupRoles {
		if strings.TrimSpace(group) == "" {
			problems = append(problems, errors.New("signin: group roles: empty group id"))
		}
		if !slices.Contains(tapdesk.AllRoles, role) {
			problems = append(problems, fmt.Errorf("signin: group roles: group %s maps to unknown role %q", group, role))
		}
	}
	if err := errors.Join(problems...); err != nil {
		return nil, err
	}

	a := &Authenticator{cfg: cfg, now: cfg.Now, client: cfg.HTTPClient}
	if a.now == nil {
		a.now = time.Now
	}
	if a.client == nil {
		a.client = &http.Client{Timeout: 30 * time.Second}
	}
	return a, nil
}

// Discover fetches the provider's discovery document if that has not yet
// succeeded. serve calls it at start to fail early on a wrong issuer; a
// failure is not cached, so a later sign-in tries again.
func (a *Authenticator) Discover(ctx context.Context) error {
	_, err := a.relyingParty(ctx)
	return err
}

// relyingParty returns the discovered configuration, discovering it first if
// needed. The lock is held across the HTTP call so that a burst of first
// sign-ins makes one discovery request, not one each.
func (a *Authenticator) relyingParty(ctx context.Context) (*relyingParty, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.rp != nil {
		return a.rp, nil
	}
	// The client travels in the context: go-oidc keeps it for later JWKS
	// fetches and x/oauth2 reads it from the same key.
	provider, err := oidc.NewProvider(a.httpContext(ctx), a.cfg.Issuer)
	if err != nil {
		return nil, fail(tapdesk.EUNAVAILABLE, ErrProviderUnavailable,
			"The sign-in service could not be reached. Try again in a minute; if it keeps happening, tell your administrator.",
			fmt.Errorf("discovery of %s: %w", a.cfg.Issuer, err))
	}
	endpoint := provider.Endpoint()
	// Sending the secret in the form body works with Entra and every test
	// provider; it also avoids the URL-encoding ambiguity of Basic auth.
	endpoint.AuthStyle = oauth2.AuthStyleInParams
	a.rp = &relyingParty{
		oauth: &oauth2.Config{
			ClientID:     a.cfg.ClientID,
			ClientSecret: a.cfg.ClientSecret,
			RedirectURL:  a.cfg.RedirectURL,
			Endpoint:     endpoint,
			Scopes:       a.cfg.Scopes,
		},
		verifier: provider.Verifier(&oidc.Config{ClientID: a.cfg.ClientID, Now: a.now}),
	}
	var extra struct {
		EndSession string `json:"end_session_endpoint"`
	}
	// A document without the field, or with one tapdesk would not send a
	// browser to, means sign-out ends only tapdesk's session.
	if err := provider.Claims(&extra); err == nil && extra.EndSession != "" {
		if u, err := url.Parse(extra.EndSession); err == nil && u.RawQuery == "" && checkURL("end_session_endpoint", extra.EndSession, a.cfg.AllowHTTP) == nil {
			a.rp.endSession = extra.EndSession
		}
	}
	return a.rp, nil
}

// EndSessionURL returns where to send the browser at sign-out so the
// provider ends its own session too (OpenID Connect RP-Initiated Logout
// 1.0): its end_session_endpoint with the ID token of the sign-in as
// id_token_hint (so the provider knows whose session, and need not ask),
// client_id, and post_logout_redirect_uri to come back to tapdesk. It
// returns "" when the provider offers no such endpoint or cannot be reached:
// tapdesk's own session is ended either way.
func (a *Authenticator) EndSessionURL(ctx context.Context, idTokenHint string) string {
	rp, err := a.relyingParty(ctx)
	if err != nil || rp.endSession == "" {
		return ""
	}
	q := url.Values{"client_id": {a.cfg.ClientID}}
	if idTokenHint != "" {
		q.Set("id_token_hint", idTokenHint)
	}
	if a.cfg.PostLogoutRedirectURL != "" {
		q.Set("post_logout_redirect_uri", a.cfg.PostLogoutRedirectURL)
	}
	return rp.endSession + "?" + q.Encode()
}

func (a *Authenticator) httpContext(ctx context.Context) context.Context {
	return oidc.ClientContext(ctx, a.client)
}

// checkURL accepts absolute http(s) URLs; plain http only for loopback hosts
// unless allowHTTP, because codes and tokens would otherwise cross the network
// in clear text.
func checkURL(name, raw string, allowHTTP bool) error {
	if raw == "" {
		return fmt.Errorf("signin: %s is missing", name)
	}
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
		return fmt.Errorf("signin: %s %q must be an absolute https URL", name, raw)
	}
	if u.User != nil || u.Fragment != "" {
		return fmt.Errorf("signin: %s %q must not contain user info or a fragment", name, raw)
	}
	if u.Scheme == "http" && !allowHTTP && !isLoopback(u.Hostname()) {
		return fmt.Errorf("signin: %s %q must use https (plain http is allowed for localhost only)", name, raw)
	}
	return nil
}

func isLoopback(host string) bool {
	if host == "localhost" || strings.HasSuffix(host, ".localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
