package demoidp_test

import (
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"
	"github.com/go-jose/go-jose/v4"
	"golang.org/x/oauth2"

	"github.com/tapdesk/tapdesk/signin/demoidp"
)

const (
	clientID = "tapdesk"
	secret   = "p@ss word+/=&"
)

var testKey = sync.OnceValue(func() *rsa.PrivateKey {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		panic(err)
	}
	return k
})

type fixture struct {
	srv      *httptest.Server
	idp      *demoidp.Provider
	callback string
	now      time.Time
	mu       sync.Mutex
}

func (f *fixture) clock() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.now
}

func (f *fixture) advance(d time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.now = f.now.Add(d)
}

// newFixture mounts the provider at /demo/idp/ without StripPrefix, as the
// main server does; strip mounts it the other way.
func newFixture(t *testing.T, strip bool, personas ...demoidp.Persona) *fixture {
	t.Helper()
	f := &fixture{now: time.Now()}
	mux := http.NewServeMux()
	f.srv = httptest.NewServer(mux)
	t.Cleanup(f.srv.Close)
	if len(personas) == 0 {
		personas = demoidp.DefaultPersonas()
	}
	var err error
	f.idp, err = demoidp.New(f.srv.URL+"/demo/idp", personas, demoidp.WithKey(testKey()), demoidp.WithClock(f.clock))
	if err != nil {
		t.Fatal(err)
	}
	f.callback = f.srv.URL + "/auth/callback"
	f.idp.RegisterClient(clientID, secret, f.callback)
	if strip {
		mux.Handle("/demo/idp/", http.StripPrefix("/demo/idp", f.idp.Handler()))
	} else {
		mux.Handle("/demo/idp/", f.idp.Handler())
	}
	return f
}

func (f *fixture) oauth(style oauth2.AuthStyle) *oauth2.Config {
	return &oauth2.Config{
		ClientID: clientID, ClientSecret: secret, RedirectURL: f.callback,
		Scopes: []string{"openid", "profile", "email"},
		Endpoint: oauth2.Endpoint{
			AuthURL: f.idp.Issuer() + "/authorize", TokenURL: f.idp.Issuer() + "/token", AuthStyle: style,
		},
	}
}

func noRedirect() *http.Client {
	return &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

// authorizeParams is what a relying party sends, PKCE and nonce included.
func (f *fixture) authorizeParams(verifier string) url.Values {
	return url.Values{
		"client_id": {clientID}, "redirect_uri": {f.callback}, "response_type": {"code"},
		"scope": {"openid profile email"}, "state": {"st"}, "nonce": {"n-0S6_WzA2Mj"},
		"code_challenge": {oauth2.S256ChallengeFromVerifier(verifier)}, "code_challenge_method": {"S256"},
	}
}

// code signs in as persona by POSTing the picker's fields directly and
// returns the code from the redirect.
func (f *fixture) code(t *testing.T, params url.Values, persona string) string {
	t.Helper()
	form := url.Values{}
	for k, v := range params {
		form[k] = v
	}
	form.Set("persona", persona)
	resp, err := noRedirect().PostForm(f.idp.Issuer()+"/authorize", form)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusFound {
		t.Fatalf("POST authorize: %d", resp.StatusCode)
	}
	loc, _ := url.Parse(resp.Header.Get("Location"))
	if loc.Query().Get("state") != params.Get("state") || loc.Query().Get("code") == "" {
		t.Fatalf("redirect %s", loc)
	}
	return loc.Query().Get("code")
}

func get(t *testing.T, u string) (*http.Response, []byte) {
	t.Helper()
	resp, err := noRedirect().Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, body
}

func TestDiscoveryAndJWKS(t *testing.T) {
	for _, strip := range []bool{false, true} {
		name := map[bool]string{false: "full paths", true: "behind StripPrefix"}[strip]
		t.Run(name, func(t *testing.T) {
			f := newFixture(t, strip)
			resp, body := get(t, f.idp.Issuer()+"/.well-known/openid-configuration")
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("status %d", resp.StatusCode)
			}
			var d map[string]any
			if err := json.Unmarshal(body, &d); err != nil {
				t.Fatal(err)
			}
			for k, want := range map[string]any{
				"issuer":                 f.srv.URL + "/demo/idp",
				"authorization_endpoint": f.srv.URL + "/demo/idp/authorize",
				"token_endpoint":         f.srv.URL + "/demo/idp/token",
				"jwks_uri":               f.srv.URL + "/demo/idp/jwks",
				"end_session_endpoint":   f.srv.URL + "/demo/idp/logout",
			} {
				if d[k] != want {
					t.Errorf("%s = %v, want %v", k, d[k], want)
				}
			}
			for k, want := range map[string]string{
				"response_types_supported":              "code",
				"id_token_signing_alg_values_supported": "RS256",
				"code_challenge_methods_supported":      "S256",
				"subject_types_supported":               "public",
			} {
				if l, _ := d[k].([]any); len(l) != 1 || l[0] != want {
					t.Errorf("%s = %v, want [%s]", k, d[k], want)
				}
			}

			resp, body = get(t, d["jwks_uri"].(string))
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("jwks status %d", resp.StatusCode)
			}
			var set jose.JSONWebKeySet
			if err := json.Unmarshal(body, &set); err != nil {
				t.Fatal(err)
			}
			if len(set.Keys) != 1 || set.Keys[0].KeyID == "" || set.Keys[0].Algorithm != "RS256" || !set.Keys[0].IsPublic() {
				t.Fatalf("jwks %s", body)
			}
		})
	}
}

func TestPicker(t *testing.T) {
	f := newFixture(t, false)
	params := f.authorizeParams(oauth2.GenerateVerifier())
	params.Set("state", `"><script>alert(1)</script>`)
	params.Set("login_hint", "Avery.Approver@contoso.example")
	params.Set("prompt", "login")
	params.Set("max_age", "300")
	resp, body := get(t, f.idp.Issuer()+"/authorize?"+params.Encode())
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d: %s", resp.StatusCode, body)
	}
	if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "frame-ancestors 'none'") {
		t.Errorf("CSP %q", csp)
	}
	if resp.Header.Get("Cache-Control") != "no-store" {
		t.Error("picker may be cached")
	}
	if strings.Contains(string(body), "<script>") {
		t.Error("state reflected unescaped")
	}
	doc, err := goquery.NewDocumentFromReader(strings.NewReader(string(body)))
	if err != nil {
		t.Fatal(err)
	}
	if h := doc.Find("h1").Text(); h != "Demo sign-in" {
		t.Errorf("heading %q", h)
	}
	if note := doc.Find(`[role="note"]`).Text(); !strings.Contains(note, "DEMO") || !strings.Contains(note, "Microsoft Entra ID") {
		t.Errorf("demo note %q", note)
	}
	for _, p := range demoidp.DefaultPersonas() {
		btn := doc.Find(`[data-testid="persona-` + p.Key + `"]`)
		if btn.Length() != 1 {
			t.Fatalf("no button for %s", p.Key)
		}
		text := btn.Text()
		for _, want := range append([]string{p.Name, p.UPN, p.Description}, p.Roles...) {
			if !strings.Contains(text, want) {
				t.Errorf("%s button lacks %q", p.Key, want)
			}
		}
		_, focused := btn.Attr("autofocus")
		if focused != (p.Key == "approver") {
			t.Errorf("%s autofocus=%v; login_hint names approver", p.Key, focused)
		}
		form := btn.Closest("form")
		if form.AttrOr("method", "") != "post" || form.AttrOr("action", "") != "/demo/idp/authorize" {
			t.Errorf("%s form method %q action %q", p.Key, form.AttrOr("method", ""), form.AttrOr("action", ""))
		}
		var names []string
		form.Find(`input[type="hidden"]`).Each(func(_ int, s *goquery.Selection) {
			names = append(names, s.AttrOr("name", ""))
			if s.AttrOr("name", "") == "state" && s.AttrOr("value", "") != params.Get("state") {
				t.Errorf("state carried as %q", s.AttrOr("value", ""))
			}
		})
		want := []string{"client_id", "redirect_uri", "response_type", "scope", "state", "nonce", "code_challenge", "code_challenge_method", "prompt", "max_age", "persona"}
		if !slices.Equal(names, want) {
			t.Errorf("%s hidden fields %v, want %v", p.Key, names, want)
		}
	}

	resp, body = get(t, f.srv.URL+doc.Find(`link[rel="stylesheet"]`).AttrOr("href", ""))
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/css") || len(body) == 0 {
		t.Errorf("stylesheet: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
}

func TestAuthorizeRefuses(t *testing.T) {
	f := newFixture(t, false)
	base := func() url.Values { return f.authorizeParams(oauth2.GenerateVerifier()) }

	// Until client and redirect URI check out, no redirect may happen.
	page := map[string]func(url.Values){
		"unknown client":        func(q url.Values) { q.Set("client_id", "evil") },
		"unregistered redirect": func(q url.Values) { q.Set("redirect_uri", "https://evil.example/cb") },
		"redirect prefix trick": func(q url.Values) { q.Set("redirect_uri", f.callback+"/../evil") },
		"no redirect":           func(q url.Values) { q.Del("redirect_uri") },
		"two redirects":         func(q url.Values) { q.Add("redirect_uri", "https://evil.example/cb") },
	}
	for name, edit := range page {
		t.Run(name, func(t *testing.T) {
			q := base()
			edit(q)
			resp, _ := get(t, f.idp.Issuer()+"/authorize?"+q.Encode())
			if resp.StatusCode != http.StatusBadRequest || resp.Header.Get("Location") != "" {
				t.Fatalf("status %d Location %q", resp.StatusCode, resp.Header.Get("Location"))
			}
		})
	}

	redirect := []struct {
		name, code string
		edit       func(url.Values)
	}{
		{"implicit flow", "unsupported_response_type", func(q url.Values) { q.Set("response_type", "token") }},
		{"no openid scope", "invalid_scope", func(q url.Values) { q.Set("scope", "profile") }},
		{"no PKCE", "invalid_request", func(q url.Values) { q.Del("code_challenge"); q.Del("code_challenge_method") }},
		{"plain PKCE", "invalid_request", func(q url.Values) { q.Set("code_challenge_method", "plain") }},
		{"short challenge", "invalid_request", func(q url.Values) { q.Set("code_challenge", "abc") }},
		{"bad max_age", "invalid_request", func(q url.Values) { q.Set("max_age", "-1") }},
		{"repeated state", "invalid_request", func(q url.Values) { q.Add("state", "two") }},
		{"prompt none", "login_required", func(q url.Values) { q.Set("prompt", "none") }},
	}
	for _, tt := range redirect {
		t.Run(tt.name, func(t *testing.T) {
			q := base()
			tt.edit(q)
			resp, _ := get(t, f.idp.Issuer()+"/authorize?"+q.Encode())
			if resp.StatusCode != http.StatusFound {
				t.Fatalf("status %d", resp.StatusCode)
			}
			loc, _ := url.Parse(resp.Header.Get("Location"))
			if !strings.HasPrefix(loc.String(), f.callback+"?") || loc.Query().Get("error") != tt.code ||
				loc.Query().Get("error_description") == "" || loc.Query().Get("code") != "" {
				t.Fatalf("redirect %s, want error %s", loc, tt.code)
			}
		})
	}

	t.Run("POST revalidates hidden fields", func(t *testing.T) {
		q := base()
		q.Set("redirect_uri", "https://evil.example/cb")
		q.Set("persona", "agent")
		resp, err := noRedirect().PostForm(f.idp.Issuer()+"/authorize", q)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest || resp.Header.Get("Location") != "" {
			t.Fatalf("status %d Location %q", resp.StatusCode, resp.Header.Get("Location"))
		}
	})

	t.Run("POST unknown persona", func(t *testing.T) {
		q := base()
		q.Set("persona", "mallory")
		resp, err := noRedirect().PostForm(f.idp.Issuer()+"/authorize", q)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest {
			t.Fatalf("status %d", resp.StatusCode)
		}
	})
}

func TestToken(t *testing.T) {
	ctx := t.Context()

	t.Run("ID token claims", func(t *testing.T) {
		for _, style := range []oauth2.AuthStyle{oauth2.AuthStyleInParams, oauth2.AuthStyleInHeader} {
			f := newFixture(t, false)
			v := oauth2.GenerateVerifier()
			code := f.code(t, f.authorizeParams(v), "admin")
			tok, err := f.oauth(style).Exchange(ctx, code, oauth2.VerifierOption(v))
			if err != nil {
				t.Fatalf("auth style %d: %v", style, err)
			}
			if tok.TokenType != "Bearer" || tok.AccessToken == "" || tok.Expiry.IsZero() {
				t.Errorf("token %+v", tok)
			}
			claims := verifiedClaims(t, f, tok.Extra("id_token").(string))
			now := f.clock().Unix()
			want := map[string]any{
				"iss": f.idp.Issuer(), "aud": clientID,
				"sub": "11111111-1111-4111-8111-000000000006", "oid": "11111111-1111-4111-8111-000000000006",
				"tid": demoidp.TenantID, "nonce": "n-0S6_WzA2Mj", "ver": "2.0",
				"preferred_username": "ada.admin@contoso.example", "name": "Ada Admin", "email": "ada.admin@contoso.example",
				"iat": float64(now), "nbf": float64(now), "auth_time": float64(now),
				"exp": float64(now + int64(demoidp.TokenLifetime/time.Second)),
			}
			for k, w := range want {
				if claims[k] != w {
					t.Errorf("%s = %v, want %v", k, claims[k], w)
				}
			}
			if !equalStrings(claims["amr"], "pwd", "mfa") || !equalStrings(claims["roles"], "Tap.Admin", "Tap.Auditor") {
				t.Errorf("amr %v roles %v", claims["amr"], claims["roles"])
			}
			if _, ok := claims["groups"]; ok {
				t.Error("groups claim for a persona without groups")
			}
		}
	})

	t.Run("scopes gate profile and email", func(t *testing.T) {
		f := newFixture(t, false, demoidp.Persona{Key: "p", Name: "P", UPN: "p@x", Email: "p@x", ObjectID: "o", NoMFA: true})
		v := oauth2.GenerateVerifier()
		params := f.authorizeParams(v)
		params.Set("scope", "openid")
		code := f.code(t, params, "p")
		tok, err := f.oauth(oauth2.AuthStyleInParams).Exchange(ctx, code, oauth2.VerifierOption(v))
		if err != nil {
			t.Fatal(err)
		}
		claims := verifiedClaims(t, f, tok.Extra("id_token").(string))
		for _, k := range []string{"name", "preferred_username", "email", "roles"} {
			if _, ok := claims[k]; ok {
				t.Errorf("%s present with scope openid only / no roles", k)
			}
		}
		if !equalStrings(claims["amr"], "pwd") {
			t.Errorf("amr %v for NoMFA", claims["amr"])
		}
	})

	refused := []struct {
		name   string
		status int
		code   string
		// edit changes the token request; later() runs between code and exchange
		edit  func(f *fixture, form url.Values, req *http.Request)
		later func(f *fixture)
	}{
		{"wrong verifier", 400, "invalid_grant", func(_ *fixture, form url.Values, _ *http.Request) {
			form.Set("code_verifier", oauth2.GenerateVerifier())
		}, nil},
		{"no verifier", 400, "invalid_request", func(_ *fixture, form url.Values, _ *http.Request) { form.Del("code_verifier") }, nil},
		{"other redirect_uri", 400, "invalid_grant", func(_ *fixture, form url.Values, _ *http.Request) {
			form.Set("redirect_uri", "https://evil.example/cb")
		}, nil},
		{"unknown code", 400, "invalid_grant", func(_ *fixture, form url.Values, _ *http.Request) { form.Set("code", "nope") }, nil},
		{"expired code", 400, "invalid_grant", nil, func(f *fixture) { f.advance(demoidp.CodeLifetime + time.Second) }},
		{"wrong grant type", 400, "unsupported_grant_type", func(_ *fixture, form url.Values, _ *http.Request) {
			form.Set("grant_type", "password")
		}, nil},
		{"wrong secret", 401, "invalid_client", func(_ *fixture, form url.Values, _ *http.Request) {
			form.Set("client_secret", "guess")
		}, nil},
		{"no client auth", 401, "invalid_client", func(_ *fixture, form url.Values, _ *http.Request) {
			form.Del("client_secret")
		}, nil},
		{"two client auth methods", 400, "invalid_request", func(_ *fixture, _ url.Values, req *http.Request) {
			req.SetBasicAuth(url.QueryEscape(clientID), url.QueryEscape(secret))
		}, nil},
		{"code of another client", 400, "invalid_grant", func(f *fixture, form url.Values, _ *http.Request) {
			f.idp.RegisterClient("other", "other-secret", f.callback)
			form.Set("client_id", "other")
			form.Set("client_secret", "other-secret")
		}, nil},
	}
	for _, tt := range refused {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, false)
			v := oauth2.GenerateVerifier()
			code := f.code(t, f.authorizeParams(v), "agent")
			if tt.later != nil {
				tt.later(f)
			}
			form := url.Values{
				"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {f.callback},
				"code_verifier": {v}, "client_id": {clientID}, "client_secret": {secret},
			}
			req, _ := http.NewRequest(http.MethodPost, f.idp.Issuer()+"/token", nil)
			if tt.edit != nil {
				tt.edit(f, form, req)
			}
			status, body := postToken(t, req, form)
			if status != tt.status || body["error"] != tt.code || body["error_description"] == "" {
				t.Fatalf("got %d %v, want %d %s", status, body, tt.status, tt.code)
			}
		})
	}

	t.Run("code works once", func(t *testing.T) {
		f := newFixture(t, false)
		v := oauth2.GenerateVerifier()
		code := f.code(t, f.authorizeParams(v), "agent")
		form := url.Values{
			"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {f.callback},
			"code_verifier": {v}, "client_id": {clientID}, "client_secret": {secret},
		}
		newReq := func() *http.Request {
			r, _ := http.NewRequest(http.MethodPost, f.idp.Issuer()+"/token", nil)
			return r
		}
		if status, body := postToken(t, newReq(), form); status != http.StatusOK {
			t.Fatalf("first use: %d %v", status, body)
		}
		status, body := postToken(t, newReq(), form)
		if status != http.StatusBadRequest || body["error"] != "invalid_grant" || !strings.Contains(body["error_description"].(string), "already used") {
			t.Fatalf("second use: %d %v", status, body)
		}
	})

	t.Run("failed attempt uses the code up", func(t *testing.T) {
		f := newFixture(t, false)
		v := oauth2.GenerateVerifier()
		code := f.code(t, f.authorizeParams(v), "agent")
		cfg := f.oauth(oauth2.AuthStyleInParams)
		if _, err := cfg.Exchange(ctx, code, oauth2.VerifierOption(oauth2.GenerateVerifier())); err == nil {
			t.Fatal("wrong verifier accepted")
		}
		if _, err := cfg.Exchange(ctx, code, oauth2.VerifierOption(v)); err == nil {
			t.Fatal("code usable after a failed attempt: a verifier could be guessed repeatedly")
		}
	})
}

func postToken(t *testing.T, req *http.Request, form url.Values) (int, map[string]any) {
	t.Helper()
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	body := form.Encode()
	req.ContentLength = int64(len(body))
	req.Body = io.NopCloser(strings.NewReader(body))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&out)
	if resp.StatusCode != http.StatusOK && resp.Header.Get("Cache-Control") != "no-store" {
		t.Error("error response may be cached")
	}
	if resp.StatusCode == http.StatusUnauthorized && req.Header.Get("Authorization") != "" && resp.Header.Get("WWW-Authenticate") == "" {
		t.Error("401 to Basic auth without WWW-Authenticate")
	}
	return resp.StatusCode, out
}

// verifiedClaims checks the signature against the published JWKS and
// returns the claims.
func verifiedClaims(t *testing.T, f *fixture, raw string) map[string]any {
	t.Helper()
	_, body := get(t, f.idp.Issuer()+"/jwks")
	var set jose.JSONWebKeySet
	if err := json.Unmarshal(body, &set); err != nil {
		t.Fatal(err)
	}
	jws, err := jose.ParseSigned(raw, []jose.SignatureAlgorithm{jose.RS256})
	if err != nil {
		t.Fatal(err)
	}
	kid := jws.Signatures[0].Header.KeyID
	keys := set.Key(kid)
	if len(keys) != 1 {
		t.Fatalf("kid %q not in JWKS", kid)
	}
	if typ := jws.Signatures[0].Header.ExtraHeaders["typ"]; typ != "JWT" {
		t.Errorf("typ %v", typ)
	}
	payload, err := jws.Verify(keys[0].Key)
	if err != nil {
		t.Fatal(err)
	}
	var claims map[string]any
	if err := json.Unmarshal(payload, &claims); err != nil {
		t.Fatal(err)
	}
	return claims
}

func equalStrings(v any, want ...string) bool {
	l, ok := v.([]any)
	if !ok || len(l) != len(want) {
		return false
	}
	for i := range l {
		if l[i] != want[i] {
			return false
		}
	}
	return true
}

func TestNew(t *testing.T) {
	good := demoidp.DefaultPersonas()
	bad := map[string]struct {
		issuer   string
		personas []demoidp.Persona
		opts     []demoidp.Option
	}{
		"relative issuer":  {"/demo/idp", good, nil},
		"trailing slash":   {"http://localhost/demo/idp/", good, nil},
		"issuer query":     {"http://localhost/demo/idp?x", good, nil},
		"no personas":      {"http://localhost/demo/idp", nil, nil},
		"duplicate key":    {"http://localhost/demo/idp", append(good, good[0]), nil},
		"bad key":          {"http://localhost/demo/idp", []demoidp.Persona{{Key: "A B", ObjectID: "o"}}, nil},
		"no object id":     {"http://localhost/demo/idp", []demoidp.Persona{{Key: "a"}}, nil},
		"shared object id": {"http://localhost/demo/idp", []demoidp.Persona{{Key: "a", ObjectID: "o"}, {Key: "b", ObjectID: "o"}}, nil},
		"small key":        {"http://localhost/demo/idp", good, []demoidp.Option{demoidp.WithKey(smallKey(t))}},
	}
	for name, tt := range bad {
		t.Run(name, func(t *testing.T) {
			if _, err := demoidp.New(tt.issuer, tt.personas, tt.opts...); err == nil {
				t.Fatal("accepted")
			}
		})
	}

	t.Run("default personas", func(t *testing.T) {
		want := map[string]string{
			"agent": "11111111-1111-4111-8111-000000000001", "agent2": "11111111-1111-4111-8111-000000000002",
			"approver": "11111111-1111-4111-8111-000000000003", "approver2": "11111111-1111-4111-8111-000000000004",
			"approver3": "11111111-1111-4111-8111-000000000007",
			"auditor":   "11111111-1111-4111-8111-000000000005", "admin": "11111111-1111-4111-8111-000000000006",
		}
		got := map[string]string{}
		for _, p := range demoidp.DefaultPersonas() {
			got[p.Key] = p.ObjectID
		}
		if len(got) != len(want) {
			t.Fatalf("personas %v", got)
		}
		for k, oid := range want {
			if got[k] != oid {
				t.Errorf("%s oid %s, want %s", k, got[k], oid)
			}
		}
	})

	t.Run("RegisterClient needs id, secret and redirect", func(t *testing.T) {
		p, err := demoidp.New("http://localhost/demo/idp", good, demoidp.WithKey(testKey()))
		if err != nil {
			t.Fatal(err)
		}
		defer func() {
			if recover() == nil {
				t.Error("no panic")
			}
		}()
		p.RegisterClient("id", "secret")
	})
}

func smallKey(t *testing.T) *rsa.PrivateKey {
	t.Helper()
	// 1024 bits: rsa.GenerateKey refuses less, and the provider must refuse this.
	k, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Skip("cannot make a 1024-bit key here:", err)
	}
	return k
}
