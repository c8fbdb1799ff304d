package fakegraph

import (
	"crypto/subtle"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

// The token authority: just enough of login.microsoftonline.com for MSAL's
// client-credentials flow with instance discovery disabled, which calls
// {base}/{tenant}/v2.0/.well-known/openid-configuration and then
// {base}/{tenant}/oauth2/v2.0/token.

const tokenLifetime = time.Hour

func (s *Server) serveAuthority(w http.ResponseWriter, r *http.Request, segs []string) {
	if len(segs) == 0 || !s.isTenant(segs[0]) {
		tenant := ""
		if len(segs) > 0 {
			tenant = segs[0]
		}
		s.oauthError(w, http.StatusBadRequest, "invalid_request", 90002,
			fmt.Sprintf("Tenant '%s' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud.", tenant))
		return
	}
	rest := strings.Join(segs[1:], "/")
	switch {
	case r.Method == http.MethodGet && (rest == "v2.0/.well-known/openid-configuration" || rest == ".well-known/openid-configuration"):
		s.serveDiscovery(w, r, segs[0])
	case r.Method == http.MethodPost && rest == "oauth2/v2.0/token":
		s.serveToken(w, r)
	default:
		http.NotFound(w, r)
	}
}

func (s *Server) isTenant(id string) bool {
	s.tenant.mu.Lock()
	defer s.tenant.mu.Unlock()
	return strings.EqualFold(id, s.tenant.ID) || (s.tenant.Domain != "" && strings.EqualFold(id, s.tenant.Domain))
}

func (s *Server) serveDiscovery(w http.ResponseWriter, r *http.Request, tenant string) {
	// MSAL requires the issuer's host to be the authority's host.
	base := baseURL(r) + "/" + strings.ToLower(tenant)
	writeJSON(w, http.StatusOK, map[string]any{
		"issuer":                                base + "/v2.0",
		"authorization_endpoint":                base + "/oauth2/v2.0/authorize",
		"token_endpoint":                        base + "/oauth2/v2.0/token",
		"device_authorization_endpoint":         base + "/oauth2/v2.0/devicecode",
		"end_session_endpoint":                  base + "/oauth2/v2.0/logout",
		"jwks_uri":                              base + "/discovery/v2.0/keys",
		"token_endpoint_auth_methods_supported": []string{"client_secret_post", "private_key_jwt", "client_secret_basic"},
		"response_types_supported":              []string{"code", "id_token", "code id_token", "id_token token"},
		"subject_types_supported":               []string{"pairwise"},
		"id_token_signing_alg_values_supported": []string{"RS256"},
		"scopes_supported":                      []string{"openid", "profile", "email", "offline_access"},
		"tenant_region_scope":                   "EU",
		"cloud_instance_name":                   "microsoftonline.com",
	})
}

func (s *Server) serveToken(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		s.oauthError(w, http.StatusBadRequest, "invalid_request", 900144, "The request body must contain the following parameter: 'grant_type'.")
		return
	}
	clientID, secret, basic := r.BasicAuth()
	if !basic {
		clientID, secret = r.PostForm.Get("client_id"), r.PostForm.Get("client_secret")
	}
	s.tenant.mu.Lock()
	wantID, wantSecret, domain := s.tenant.ClientID, s.tenant.ClientSecret, s.tenant.Domain
	certs := slices.Clone(s.tenant.ClientCertificates)
	s.tenant.mu.Unlock()

	// Certificate credentials: a JWT signed with the app's private key.
	if r.PostForm.Get("client_assertion_type") == "urn:ietf:params:oauth:client-assertion-type:jwt-bearer" {
		if err := checkAssertion(r.PostForm.Get("client_assertion"), clientID, certs, s.now()); err != nil {
			s.oauthError(w, http.StatusUnauthorized, "invalid_client", 700027,
				"Client assertion failed signature validation or is not valid: "+err.Error())
			return
		}
		secret = wantSecret // the assertion stands in for the secret
	}

	switch gt := r.PostForm.Get("grant_type"); {
	case gt != "client_credentials":
		s.oauthError(w, http.StatusBadRequest, "unsupported_grant_type", 70003,
			fmt.Sprintf("The app requested an unsupported grant type '%s'.", gt))
		return
	case !strings.EqualFold(clientID, wantID):
		s.oauthError(w, http.StatusBadRequest, "unauthorized_client", 700016,
			fmt.Sprintf("Application with identifier '%s' was not found in the directory '%s'.", clientID, domain))
		return
	case secret == "":
		s.oauthError(w, http.StatusUnauthorized, "invalid_client", 7000216,
			"'client_assertion', 'client_secret' or 'request' is required for the 'client_credentials' grant type.")
		return
	case subtle.ConstantTimeCompare([]byte(secret), []byte(wantSecret)) != 1:
		s.oauthError(w, http.StatusUnauthorized, "invalid_client", 7000215,
			fmt.Sprintf("Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '%s'.", wantID))
		return
	}
	scope := r.PostForm.Get("scope")
	if !strings.Contains(scope, "/.default") {
		s.oauthError(w, http.StatusBadRequest, "invalid_scope", 1002012,
			fmt.Sprintf("The provided value for scope %s is not valid. Client credential flows must have a scope value with /.default suffixed to the resource identifier (application ID URI).", scope))
		return
	}

	tok := "fakegraph." + randomHex(24)
	s.mu.Lock()
	s.tokens[tok] = time.Now().Add(tokenLifetime)
	s.mu.Unlock()
	secs := int(tokenLifetime/time.Second) - 1
	writeJSON(w, http.StatusOK, map[string]any{
		"token_type":     "Bearer",
		"expires_in":     secs,
		"ext_expires_in": secs,
		"access_token":   tok,
	})
}

// oauthError writes an Entra token-endpoint error.
func (s *Server) oauthError(w http.ResponseWriter, status int, code string, aadsts int, desc string) {
	rid := w.Header().Get("request-id")
	now := time.Now().UTC()
	writeJSON(w, status, map[string]any{
		"error": code,
		"error_description": fmt.Sprintf("AADSTS%d: %s Trace ID: %s Correlation ID: %s Timestamp: %s",
			aadsts, desc, rid, w.Header().Get("client-request-id"), now.Format("2006-01-02 15:04:05Z")),
		"error_codes":    []int{aadsts},
		"timestamp":      now.Format("2006-01-02 15:04:05Z"),
		"trace_id":       rid,
		"correlation_id": w.Header().Get("client-request-id"),
		"error_uri":      fmt.Sprintf("https://login.microsoftonline.com/error?code=%d", aadsts),
	})
}

// authorized checks the bearer token on a Graph call, answering 401 as
// Graph does when it is missing, unknown or expired.
func (s *Server) authorized(w http.ResponseWriter, r *http.Request) bool {
	tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	msg := ""
	switch {
	case !ok || strings.TrimSpace(tok) == "":
		msg = "Access token is empty."
	default:
		s.mu.Lock()
		exp, found := s.tokens[tok]
		s.mu.Unlock()
		switch {
		case !found:
			msg = "Access token validation failure. Invalid audience."
		case time.Now().After(exp):
			msg = "Lifetime validation failed, the token is expired."
		default:
			return true
		}
	}
	w.Header().Set("WWW-Authenticate", `Bearer realm="", authorization_uri="https://login.microsoftonline.com/common/oauth2/authorize", client_id="00000003-0000-0000-c000-000000000000"`)
	s.graphError(w, r, http.StatusUnauthorized, "InvalidAuthenticationToken", msg)
	return false
}

// checkAssertion verifies a client assertion (RFC 7523) against the
// certificates registered for the app, as Entra does for certificate
// credentials.
func checkAssertion(raw, clientID string, certsPEM []string, now time.Time) error {
	tok, err := jwt.ParseSigned(raw, []jose.SignatureAlgorithm{jose.RS256, jose.PS256})
	if err != nil {
		return fmt.Errorf("not a signed JWT: %v", err)
	}
	for _, p := range certsPEM {
		block, _ := pem.Decode([]byte(p))
		if block == nil {
			continue
		}
		cert, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			continue
		}
		var c jwt.Claims
		if err := tok.Claims(cert.PublicKey, &c); err != nil {
			continue
		}
		if c.Issuer != clientID || c.Subject != clientID {
			return errors.New("iss and sub must be the client id")
		}
		audOK := false
		for _, a := range c.Audience {
			audOK = audOK || strings.HasSuffix(strings.ToLower(a), "/oauth2/v2.0/token")
		}
		if !audOK {
			return errors.New("aud must be the token endpoint")
		}
		if err := c.ValidateWithLeeway(jwt.Expected{Time: now}, 5*time.Minute); err != nil {
			return err
		}
		return nil
	}
	return errors.New("no registered certificate verifies the signature")
}
