package demoidp_test

import (
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/tapdesk/tapdesk/signin/demoidp"
)

// browserClient keeps the provider's session cookie and does not follow
// redirects.
func browserClient() *http.Client {
	jar, _ := cookiejar.New(nil)
	return &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

func send(t *testing.T, c *http.Client, method, u string, form url.Values) (*http.Response, string) {
	t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, _ := http.NewRequest(method, u, body)
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

// signInAs picks persona in browser c and returns the ID token.
func (f *fixture) signInAs(t *testing.T, c *http.Client, persona string) string {
	t.Helper()
	v := oauth2.GenerateVerifier()
	form := f.authorizeParams(v)
	form.Set("persona", persona)
	resp, _ := send(t, c, http.MethodPost, f.idp.Issuer()+"/authorize", form)
	return f.redeem(t, resp, v)
}

func (f *fixture) redeem(t *testing.T, resp *http.Response, verifier string) string {
	t.Helper()
	if resp.StatusCode != http.StatusFound {
		t.Fatalf("authorize: status %d", resp.StatusCode)
	}
	loc, _ := url.Parse(resp.Header.Get("Location"))
	tok, err := f.oauth(oauth2.AuthStyleInParams).Exchange(t.Context(), loc.Query().Get("code"), oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatal(err)
	}
	return tok.Extra("id_token").(string)
}

func TestProviderSession(t *testing.T) {
	f := newFixture(t, false)
	c := browserClient()
	first := f.clock()
	f.signInAs(t, c, "agent")
	f.advance(10 * time.Minute)

	v := oauth2.GenerateVerifier()
	params := f.authorizeParams(v)
	_, page := send(t, c, http.MethodGet, f.idp.Issuer()+"/authorize?"+params.Encode(), nil)
	if !strings.Contains(page, `data-testid="continue-agent"`) {
		t.Fatalf("a signed-in browser is not offered to continue:\n%s", page)
	}
	// Continuing keeps the first authentication's time: it is not fresh.
	form := f.authorizeParams(v)
	form.Set("continue", "1")
	resp, _ := send(t, c, http.MethodPost, f.idp.Issuer()+"/authorize", form)
	claims := verifiedClaims(t, f, f.redeem(t, resp, v))
	if claims["auth_time"] != float64(first.Unix()) || claims["oid"] != "11111111-1111-4111-8111-000000000001" {
		t.Errorf("continued sign-in: auth_time %v oid %v, want %d and the agent", claims["auth_time"], claims["oid"], first.Unix())
	}

	for name, edit := range map[string]func(url.Values){
		"prompt=login":          func(q url.Values) { q.Set("prompt", "login") },
		"max_age shorter":       func(q url.Values) { q.Set("max_age", "300") },
		"another browser":       nil,
		"continue with max_age": func(q url.Values) { q.Set("max_age", "60") },
	} {
		t.Run(name, func(t *testing.T) {
			q, client := f.authorizeParams(v), c
			if edit == nil {
				client = browserClient()
			} else {
				edit(q)
			}
			_, page := send(t, client, http.MethodGet, f.idp.Issuer()+"/authorize?"+q.Encode(), nil)
			if strings.Contains(page, "continue-agent") {
				t.Error("offered to continue a session that may not answer this request")
			}
			// Posting continue=1 anyway (a forged form) is refused too.
			q.Set("continue", "1")
			if resp, _ := send(t, client, http.MethodPost, f.idp.Issuer()+"/authorize", q); resp.StatusCode != http.StatusBadRequest {
				t.Errorf("forced continue: status %d", resp.StatusCode)
			}
		})
	}

	t.Run("prompt=none", func(t *testing.T) {
		q := f.authorizeParams(v)
		q.Set("prompt", "none")
		resp, _ := send(t, c, http.MethodGet, f.idp.Issuer()+"/authorize?"+q.Encode(), nil)
		loc, _ := url.Parse(resp.Header.Get("Location"))
		if resp.StatusCode != http.StatusFound || loc.Query().Get("code") == "" {
			t.Errorf("prompt=none with a session: %d %s", resp.StatusCode, loc)
		}
	})

	t.Run("roles are read at each sign-in", func(t *testing.T) {
		if !f.idp.SetRoles("agent") {
			t.Fatal("no agent")
		}
		claims := verifiedClaims(t, f, f.signInAs(t, browserClient(), "agent"))
		if _, ok := claims["roles"]; ok {
			t.Errorf("roles %v after the assignment was removed", claims["roles"])
		}
	})
}

func TestEndSession(t *testing.T) {
	f := newFixture(t, false)
	back := f.srv.URL + "/"
	f.idp.RegisterPostLogoutRedirect(clientID, back)
	other := newFixture(t, false)
	foreign := other.signInAs(t, browserClient(), "agent")

	t.Run("signs out and goes back", func(t *testing.T) {
		c := browserClient()
		hint := f.signInAs(t, c, "agent")
		f.advance(2 * demoidp.TokenLifetime) // an expired hint still names the session
		q := url.Values{"id_token_hint": {hint}, "post_logout_redirect_uri": {back}, "state": {"s1"}, "client_id": {clientID}}
		resp, _ := send(t, c, http.MethodGet, f.idp.Issuer()+"/logout?"+q.Encode(), nil)
		if resp.StatusCode != http.StatusFound || resp.Header.Get("Location") != back+"?state=s1" {
			t.Fatalf("logout: %d to %q", resp.StatusCode, resp.Header.Get("Location"))
		}
		if f.idp.HasSession("agent") {
			t.Error("the provider still has the agent's session")
		}
		_, page := send(t, c, http.MethodGet, f.idp.Issuer()+"/authorize?"+f.authorizeParams(oauth2.GenerateVerifier()).Encode(), nil)
		if strings.Contains(page, "continue-agent") || !strings.Contains(page, "persona-agent") {
			t.Error("after sign-out the provider does not ask again who you are")
		}
	})

	refused := map[string]url.Values{
		"unregistered redirect": {"client_id": {clientID}, "post_logout_redirect_uri": {"https://evil.example/"}},
		"redirect, no client":   {"post_logout_redirect_uri": {back}},
		"foreign hint":          {"id_token_hint": {foreign}, "post_logout_redirect_uri": {back}},
		"garbage hint":          {"id_token_hint": {"not.a.token"}, "post_logout_redirect_uri": {back}},
		"hint for other client": {"id_token_hint": {"x"}, "client_id": {"someone-else"}, "post_logout_redirect_uri": {back}},
		"unknown client":        {"client_id": {"someone-else"}},
	}
	for name, q := range refused {
		t.Run(name, func(t *testing.T) {
			c := browserClient()
			if q.Get("id_token_hint") == "x" {
				q.Set("id_token_hint", f.signInAs(t, c, "agent"))
			} else {
				f.signInAs(t, c, "agent")
			}
			resp, page := send(t, c, http.MethodGet, f.idp.Issuer()+"/logout?"+q.Encode(), nil)
			if resp.StatusCode != http.StatusBadRequest || resp.Header.Get("Location") != "" {
				t.Errorf("status %d, Location %q", resp.StatusCode, resp.Header.Get("Location"))
			}
			if !strings.Contains(page, "You are signed out") || !strings.Contains(page, "refused") {
				t.Errorf("page does not say so:\n%s", page)
			}
		})
	}

	t.Run("no redirect asked", func(t *testing.T) {
		c := browserClient()
		f.signInAs(t, c, "agent")
		resp, page := send(t, c, http.MethodGet, f.idp.Issuer()+"/logout", nil)
		if resp.StatusCode != http.StatusOK || !strings.Contains(page, "You are signed out") {
			t.Errorf("status %d:\n%s", resp.StatusCode, page)
		}
	})
}
