package signin_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"github.com/coreos/go-oidc/v3/oidc/oidctest"

	"github.com/tapdesk/tapdesk"
	"github.com/tapdesk/tapdesk/signin"
)

// stubIdP serves discovery and JWKS (go-oidc's oidctest) plus a token
// endpoint that answers with whatever the test case signs. It reaches claim
// shapes the demo provider never produces: Entra's optional amr, odd types,
// missing tid/oid, wrong audience.
type stubIdP struct {
	srv  *httptest.Server
	auth *signin.Authenticator

	mu      sync.Mutex
	respond func(w http.ResponseWriter)
	got     *http.Request // last token request, form parsed
}

func newStubIdP(t *testing.T, opts ...envOption) *stubIdP {
	t.Helper()
	s := &stubIdP{}
	op := &oidctest.Server{PublicKeys: []oidctest.PublicKey{{PublicKey: testKey().Public(), KeyID: "k1", Algorithm: oidc.RS256}}}
	mux := http.NewServeMux()
	mux.Handle("/", op)
	mux.HandleFunc("POST /token", func(w http.ResponseWriter, r *http.Request) {
		_ = r.ParseForm()
		s.mu.Lock()
		s.got = r
		respond := s.respond
		s.mu.Unlock()
		respond(w)
	})
	s.srv = httptest.NewServer(mux)
	t.Cleanup(s.srv.Close)
	op.SetIssuer(s.srv.URL)

	cfg := signin.Config{
		Issuer:       s.srv.URL,
		TenantID:     "tenant-1",
		ClientID:     clientID,
		ClientSecret: clientSecret,
		RedirectURL:  "http://localhost/auth/callback",
		HTTPClient:   s.srv.Client(),
	}
	for _, o := range opts {
		o(&cfg)
	}
	var err error
	if s.auth, err = signin.New(cfg); err != nil {
		t.Fatal(err)
	}
	return s
}

// claimsFor is an Entra-like ID token body for the attempt p.
func (s *stubIdP) claimsFor(p signin.Pending) map[string]any {
	now := time.Now()
	return map[string]any{
		"iss": s.srv.URL, "aud": clientID, "sub": "pairwise-sub-not-oid",
		"exp": now.Add(time.Hour).Unix(), "iat": now.Unix(), "nbf": now.Unix(),
		"nonce": p.Nonce, "auth_time": now.Unix(), "amr": []string{"pwd", "mfa"},
		"tid": "tenant-1", "oid": "object-1",
		"preferred_username": "pat@contoso.example", "name": "Pat", "email": "pat@contoso.example",
		"roles": []string{"Tap.Approver"},
	}
}

func (s *stubIdP) answer(status int, body map[string]any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.respond = func(w http.ResponseWriter) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_ = json.NewEncoder(w).Encode(body)
	}
}

func (s *stubIdP) answerToken(claims map[string]any) {
	b, _ := json.Marshal(claims)
	s.answer(http.StatusOK, map[string]any{
		"access_token": "at", "token_type": "Bearer", "expires_in": 3600,
		"id_token": oidctest.SignIDToken(testKey(), "k1", oidc.RS256, string(b)),
	})
}

// finish runs Begin and Finish with the token endpoint answering claims
// (after edit changes them).
func (s *stubIdP) finish(t *testing.T, opts signin.BeginOptions, edit func(map[string]any)) (tapdesk.Principal, error) {
	t.Helper()
	ctx := context.Background()
	_, p, err := s.auth.Begin(ctx, "/", opts)
	if err != nil {
		t.Fatal(err)
	}
	c := s.claimsFor(p)
	if edit != nil {
		edit(c)
	}
	s.answerToken(c)
	in, err := s.auth.Finish(ctx, p, url.Values{"code": {"the-code"}, "state": {p.State}})
	return in.Principal, err
}

func TestClaims(t *testing.T) {
	s := newStubIdP(t, func(c *signin.Config) {
		c.GroupRoles = map[string]tapdesk.Role{"g-req": tapdesk.RoleRequester}
	})
	none := signin.BeginOptions{}

	t.Run("identity is tid and oid", func(t *testing.T) {
		pr, err := s.finish(t, none, nil)
		if err != nil {
			t.Fatal(err)
		}
		if pr.Key() != "tenant-1/object-1" || pr.UPN != "pat@contoso.example" || pr.Name != "Pat" || pr.Email != "pat@contoso.example" {
			t.Errorf("principal %+v", pr)
		}
		if !pr.MFA || !slices.Equal(pr.Roles, []tapdesk.Role{tapdesk.RoleApprover}) {
			t.Errorf("MFA %v roles %v", pr.MFA, pr.Roles)
		}
	})

	t.Run("token request", func(t *testing.T) {
		if _, err := s.finish(t, none, nil); err != nil {
			t.Fatal(err)
		}
		s.mu.Lock()
		r := s.got
		s.mu.Unlock()
		f := r.PostForm
		if f.Get("grant_type") != "authorization_code" || f.Get("code") != "the-code" ||
			f.Get("client_id") != clientID || f.Get("client_secret") != clientSecret ||
			f.Get("redirect_uri") != "http://localhost/auth/callback" || len(f.Get("code_verifier")) < 43 {
			t.Errorf("token request form %v", f)
		}
		if r.Header.Get("Authorization") != "" {
			t.Error("client secret sent in a header; want AuthStyleInParams")
		}
	})

	ok := []struct {
		name  string
		edit  func(map[string]any)
		check func(*testing.T, tapdesk.Principal)
	}{
		{"amr missing means no MFA", func(c map[string]any) { delete(c, "amr") },
			func(t *testing.T, pr tapdesk.Principal) {
				if pr.MFA {
					t.Error("MFA true")
				}
			}},
		{"amr without mfa", func(c map[string]any) { c["amr"] = []string{"pwd", "rsa"} },
			func(t *testing.T, pr tapdesk.Principal) {
				if pr.MFA {
					t.Error("MFA true")
				}
			}},
		{"roles as one string", func(c map[string]any) { c["roles"] = "Tap.Auditor" },
			func(t *testing.T, pr tapdesk.Principal) {
				if !slices.Equal(pr.Roles, []tapdesk.Role{tapdesk.RoleAuditor}) {
					t.Errorf("roles %v", pr.Roles)
				}
			}},
		{"odd entries in roles dropped", func(c map[string]any) { c["roles"] = []any{1, "Tap.Admin", nil, "Tap.Admin", "Admin"} },
			func(t *testing.T, pr tapdesk.Principal) {
				if !slices.Equal(pr.Roles, []tapdesk.Role{tapdesk.RoleAdmin}) {
					t.Errorf("roles %v", pr.Roles)
				}
			}},
		{"no roles", func(c map[string]any) { delete(c, "roles") },
			func(t *testing.T, pr tapdesk.Principal) {
				if len(pr.Roles) != 0 {
					t.Errorf("roles %v", pr.Roles)
				}
			}},
		{"group roles", func(c map[string]any) { c["groups"] = []string{"g-other", "g-req"} },
			func(t *testing.T, pr tapdesk.Principal) {
				if !slices.Equal(pr.Roles, []tapdesk.Role{tapdesk.RoleRequester, tapdesk.RoleApprover}) {
					t.Errorf("roles %v", pr.Roles)
				}
			}},
		{"fractional auth_time", func(c map[string]any) { c["auth_time"] = 1767225600.5 },
			func(t *testing.T, pr tapdesk.Principal) {
				if want := time.Unix(1767225600, 5e8); !pr.AuthTime.Equal(want) {
					t.Errorf("AuthTime %v, want %v", pr.AuthTime, want)
				}
			}},
	}
	for _, tt := range ok {
		t.Run(tt.name, func(t *testing.T) {
			pr, err := s.finish(t, none, tt.edit)
			if err != nil {
				t.Fatal(err)
			}
			tt.check(t, pr)
		})
	}

	refused := []struct {
		name   string
		opts   signin.BeginOptions
		edit   func(map[string]any)
		reason error
	}{
		{"no tid", none, func(c map[string]any) { delete(c, "tid") }, signin.ErrNoIdentity},
		{"no oid", none, func(c map[string]any) { delete(c, "oid") }, signin.ErrNoIdentity},
		{"another tenant", none, func(c map[string]any) { c["tid"] = "tenant-2" }, signin.ErrWrongTenant},
		{"empty tid", none, func(c map[string]any) { c["tid"] = "" }, signin.ErrNoIdentity},
		{"oid not a string", none, func(c map[string]any) { c["oid"] = 42 }, signin.ErrTokenInvalid},
		{"no nonce", none, func(c map[string]any) { delete(c, "nonce") }, signin.ErrNonceMismatch},
		{"other audience", none, func(c map[string]any) { c["aud"] = "another-app" }, signin.ErrTokenInvalid},
		{"other issuer", none, func(c map[string]any) { c["iss"] = "https://login.example/other" }, signin.ErrTokenInvalid},
		{"expired", none, func(c map[string]any) { c["exp"] = time.Now().Add(-time.Minute).Unix() }, signin.ErrTokenInvalid},
		{"max_age without auth_time", signin.BeginOptions{MaxAge: 5 * time.Minute},
			func(c map[string]any) { delete(c, "auth_time") }, signin.ErrSignInTooOld},
		{"max_age exceeded beyond skew", signin.BeginOptions{MaxAge: 5 * time.Minute},
			func(c map[string]any) { c["auth_time"] = time.Now().Add(-7 * time.Minute).Unix() }, signin.ErrSignInTooOld},
	}
	for _, tt := range refused {
		t.Run(tt.name, func(t *testing.T) {
			_, err := s.finish(t, tt.opts, tt.edit)
			wantRefused(t, err, tt.reason, tapdesk.EUNAUTHORIZED)
		})
	}

	t.Run("max_age within skew", func(t *testing.T) {
		_, err := s.finish(t, signin.BeginOptions{MaxAge: 5 * time.Minute},
			func(c map[string]any) { c["auth_time"] = time.Now().Add(-5*time.Minute - 30*time.Second).Unix() })
		if err != nil {
			t.Fatal(err)
		}
	})
}

func TestTokenEndpointAnswers(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name   string
		status int
		body   map[string]any
		reason error
		code   string
	}{
		{"no id_token", http.StatusOK, map[string]any{"access_token": "at", "token_type": "Bearer"}, signin.ErrTokenInvalid, tapdesk.EUNAUTHORIZED},
		{"invalid_grant", http.StatusBadRequest, map[string]any{"error": "invalid_grant"}, signin.ErrCodeRefused, tapdesk.EUNAUTHORIZED},
		{"provider failing", http.StatusBadGateway, map[string]any{"error": "server_error"}, signin.ErrProviderUnavailable, tapdesk.EUNAVAILABLE},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newStubIdP(t)
			_, p, err := s.auth.Begin(ctx, "/", signin.BeginOptions{})
			if err != nil {
				t.Fatal(err)
			}
			s.answer(tt.status, tt.body)
			_, err = s.auth.Finish(ctx, p, url.Values{"code": {"c"}, "state": {p.State}})
			wantRefused(t, err, tt.reason, tt.code)
		})
	}
}
