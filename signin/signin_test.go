package signin_test

import (
	"bytes"
	"context"
	"encoding/gob"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/tapdesk/tapdesk"
	"github.com/tapdesk/tapdesk/signin"
	"github.com/tapdesk/tapdesk/signin/demoidp"
)

func TestSignIn(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, nil)

	tests := []struct {
		persona string
		oid     string
		roles   []tapdesk.Role
	}{
		{"agent", "11111111-1111-4111-8111-000000000001", []tapdesk.Role{tapdesk.RoleRequester}},
		{"approver", "11111111-1111-4111-8111-000000000003", []tapdesk.Role{tapdesk.RoleApprover}},
		{"admin", "11111111-1111-4111-8111-000000000006", []tapdesk.Role{tapdesk.RoleAuditor, tapdesk.RoleAdmin}},
	}
	for _, tt := range tests {
		t.Run(tt.persona, func(t *testing.T) {
			before := time.Now().Add(-time.Second).Truncate(time.Second)
			authURL, p, err := e.auth.Begin(ctx, "/requests/abc?tab=timeline", signin.BeginOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if p.Next != "/requests/abc?tab=timeline" {
				t.Errorf("Next = %q", p.Next)
			}
			u, _ := url.Parse(authURL)
			q := u.Query()
			for name, want := range map[string]string{
				"client_id":             clientID,
				"redirect_uri":          e.callback,
				"response_type":         "code",
				"scope":                 "openid profile email",
				"state":                 p.State,
				"nonce":                 p.Nonce,
				"code_challenge":        oauth2.S256ChallengeFromVerifier(p.Verifier),
				"code_challenge_method": "S256",
			} {
				if got := q.Get(name); got != want {
					t.Errorf("authorize %s = %q, want %q", name, got, want)
				}
			}
			if q.Has("max_age") || q.Has("prompt") {
				t.Errorf("unexpected max_age or prompt in %s", authURL)
			}
			if len(p.State) < 22 || len(p.Nonce) < 22 || p.State == p.Nonce {
				t.Errorf("state %q / nonce %q too short or equal", p.State, p.Nonce)
			}

			pr, err := e.auth.Finish(ctx, p, e.pick(t, authURL, tt.persona))
			if err != nil {
				t.Fatal(err)
			}
			if pr.TenantID != demoidp.TenantID || pr.ObjectID != tt.oid {
				t.Errorf("identity %s, want %s/%s", pr.Key(), demoidp.TenantID, tt.oid)
			}
			if !slices.Equal(pr.Roles, tt.roles) {
				t.Errorf("roles %v, want %v", pr.Roles, tt.roles)
			}
			if !pr.MFA {
				t.Error("MFA false, want true (amr has mfa)")
			}
			if pr.AuthTime.Before(before) || pr.AuthTime.After(time.Now()) {
				t.Errorf("AuthTime %v not around now", pr.AuthTime)
			}
			if pr.UPN == "" || pr.Name == "" || pr.Email == "" || !strings.HasSuffix(pr.UPN, "@contoso.example") {
				t.Errorf("display claims missing: %+v", pr)
			}
		})
	}
}

func TestFinishRefuses(t *testing.T) {
	ctx := context.Background()

	t.Run("state mismatch", func(t *testing.T) {
		e := newEnv(t, nil)
		authURL, p, _ := e.auth.Begin(ctx, "/", signin.BeginOptions{})
		q := e.pick(t, authURL, "agent")
		q.Set("state", q.Get("state")+"x")
		_, err := e.auth.Finish(ctx, p, q)
		wantRefused(t, err, signin.ErrStateMismatch, tapdesk.EUNAUTHORIZED)
	})

	t.Run("callback from another attempt", func(t *testing.T) {
		e := newEnv(t, nil)
		authURL, _, _ := e.auth.Begin(ctx, "/", signin.BeginOptions{})
		_, mine, _ := e.auth.Begin(ctx, "/", signin.BeginOptions{})
		_, err := e.auth.Finish(ctx, mine, e.pick(t, authURL, "agent"))
		wantRefused(t, err, signin.ErrStateMismatch, tapdesk.EUNAUTHORIZED)
	})

	t.Run("nonce tampered", func(t *testing.T) {
		e := newEnv(t, nil)
		authURL, p, _ := e.auth.Begin(ctx, "/", signin.BeginOptions{})
		q := e.pick(t, authURL, "agent")
		p.Nonce = "a-different-nonce-of-sufficient-length"
		_, err := e.auth.Finish(ctx, p, q)
		wantRefused(t, err, signin.ErrNonceMismatch, tapdesk.EUNAUTHORIZED)
	})

	t.Run("code used twice", func(t *testing.T) {
		e := newEnv(t, nil)
		authURL, p, _ := e.auth.Begin(ctx, "/", signin.BeginOptions{})
		q := e.pick(t, authURL, "agent")
		if _, err := e.auth.Finish(ctx, p, q); err != nil {
			t.Fatal(err)
		}
		_, err := e.auth.Finish(ctx, p, q)
		wantRefused(t, err, signin.ErrCodeRefused, tapdesk.EUNAUTHORIZED)
	})

	t.Run("wrong PKCE verifier", func(t *testing.T) {
		e := newEnv(t, nil)
		authURL, p, _ := e.auth.Begin(ctx, "/", signin.BeginOptions{})
		q := e.pick(t, authURL, "agent")
		p.Verifier = oauth2.GenerateVerifier()
		_, err := e.auth.Finish(ctx, p, q)
		wantRefused(t, err, signin.ErrCodeRefused, tapdesk.EUNAUTHORIZED)
	})

	t.Run("code expired at the provider", func(t *testing.T) {
		e := newEnv(t, nil)
		authURL, p, _ := e.auth.Begin(ctx, "/", signin.BeginOptions{})
		q := e.pick(t, authURL, "agent")
		e.idpClock.Advance(demoidp.CodeLifetime + time.Second)
		_, err := e.auth.Finish(ctx, p, q)
		wantRefused(t, err, signin.ErrCodeRefused, tapdesk.EUNAUTHORIZED)
	})

	t.Run("attempt older than ten minutes", func(t *testing.T) {
		e := newEnv(t, nil)
		authURL, p, _ := e.auth.Begin(ctx, "/", signin.BeginOptions{})
		q := e.pick(t, authURL, "agent")
		e.clock.Advance(signin.PendingLifetime + time.Second)
		_, err := e.auth.Finish(ctx, p, q)
		wantRefused(t, err, signin.ErrAttemptExpired, tapdesk.EUNAUTHORIZED)
	})

	t.Run("no attempt in the session", func(t *testing.T) {
		e := newEnv(t, nil)
		authURL, _, _ := e.auth.Begin(ctx, "/", signin.BeginOptions{})
		q := e.pick(t, authURL, "agent")
		_, err := e.auth.Finish(ctx, signin.Pending{}, q)
		wantRefused(t, err, signin.ErrAttemptExpired, tapdesk.EUNAUTHORIZED)
	})

	t.Run("provider error is not echoed", func(t *testing.T) {
		e := newEnv(t, nil)
		_, p, _ := e.auth.Begin(ctx, "/", signin.BeginOptions{})
		q := url.Values{
			"error":             {"access_denied"},
			"error_description": {"Call +1 555 0100 to unlock your account"},
			"state":             {p.State},
		}
		_, err := e.auth.Finish(ctx, p, q)
		wantRefused(t, err, signin.ErrProviderRefused, tapdesk.EUNAUTHORIZED)
		if msg := tapdesk.ErrorMessage(err); strings.Contains(msg, "555") {
			t.Errorf("message shows the provider's description: %q", msg)
		}
		if !strings.Contains(err.Error(), "555") {
			t.Errorf("log text lacks the provider's description: %q", err.Error())
		}
		q.Set("error", "<b>odd</b>")
		_, err = e.auth.Finish(ctx, p, q)
		if msg := tapdesk.ErrorMessage(err); strings.Contains(msg, "odd") {
			t.Errorf("message shows a crafted error code: %q", msg)
		}
	})

	t.Run("provider error redirect", func(t *testing.T) {
		// A real error from the provider: prompt=none cannot be honoured.
		e := newEnv(t, nil)
		authURL, p, _ := e.auth.Begin(ctx, "/", signin.BeginOptions{})
		resp, err := browser().Get(authURL + "&prompt=none")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		loc, _ := url.Parse(resp.Header.Get("Location"))
		_, err = e.auth.Finish(ctx, p, loc.Query())
		wantRefused(t, err, signin.ErrProviderRefused, tapdesk.EUNAUTHORIZED)
	})

	t.Run("no code", func(t *testing.T) {
		e := newEnv(t, nil)
		_, p, _ := e.auth.Begin(ctx, "/", signin.BeginOptions{})
		_, err := e.auth.Finish(ctx, p, url.Values{"state": {p.State}})
		wantRefused(t, err, signin.ErrCodeRefused, tapdesk.EUNAUTHORIZED)
	})

	t.Run("token signed by another key", func(t *testing.T) {
		// The provider signs with one key while its JWKS publishes another
		// provider's key: what a forged or substituted token looks like.
		e := newEnv(t, nil)
		impostor, err := demoidp.New(e.idp.Issuer(), demoidp.DefaultPersonas())
		if err != nil {
			t.Fatal(err)
		}
		e.mux.Handle("/demo/idp/jwks", impostor.Handler())
		authURL, p, _ := e.auth.Begin(ctx, "/", signin.BeginOptions{})
		_, err = e.auth.Finish(ctx, p, e.pick(t, authURL, "agent"))
		wantRefused(t, err, signin.ErrTokenInvalid, tapdesk.EUNAUTHORIZED)
	})
}

func TestUnregisteredRedirectRefused(t *testing.T) {
	ctx := context.Background()
	for name, opt := range map[string]envOption{
		"unknown redirect_uri": func(c *signin.Config) { c.RedirectURL = strings.Replace(c.RedirectURL, "/auth/callback", "/evil", 1) },
		"unknown client_id":    func(c *signin.Config) { c.ClientID = "someone-else" },
	} {
		t.Run(name, func(t *testing.T) {
			e := newEnv(t, nil, opt)
			authURL, _, err := e.auth.Begin(ctx, "/", signin.BeginOptions{})
			if err != nil {
				t.Fatal(err)
			}
			resp, err := browser().Get(authURL)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusBadRequest || resp.Header.Get("Location") != "" {
				t.Fatalf("status %d, Location %q; want 400 and no redirect", resp.StatusCode, resp.Header.Get("Location"))
			}
		})
	}
}

func TestGroupRoles(t *testing.T) {
	const helpdeskGroup, approverGroup = "aaaaaaaa-0000-4000-8000-000000000001", "aaaaaaaa-0000-4000-8000-000000000002"
	personas := []demoidp.Persona{{
		Key: "grouped", Name: "Gus Grouped", UPN: "gus@contoso.example", ObjectID: "22222222-2222-4222-8222-000000000001",
		Roles:  []string{"Tap.Auditor", "Tap.Superuser", "tap.admin"}, // unknown or miscased roles are dropped
		Groups: []string{helpdeskGroup, approverGroup, "unmapped-group"},
		NoMFA:  true,
	}}
	e := newEnv(t, personas, func(c *signin.Config) {
		c.GroupRoles = map[string]tapdesk.Role{helpdeskGroup: tapdesk.RoleRequester, approverGroup: tapdesk.RoleApprover}
	})
	ctx := context.Background()
	authURL, p, _ := e.auth.Begin(ctx, "/", signin.BeginOptions{})
	pr, err := e.auth.Finish(ctx, p, e.pick(t, authURL, "grouped"))
	if err != nil {
		t.Fatal(err)
	}
	want := []tapdesk.Role{tapdesk.RoleRequester, tapdesk.RoleApprover, tapdesk.RoleAuditor}
	if !slices.Equal(pr.Roles, want) {
		t.Errorf("roles %v, want %v", pr.Roles, want)
	}
	if pr.MFA {
		t.Error("MFA true for amr [pwd]")
	}
}

func TestFreshSignIn(t *testing.T) {
	ctx := context.Background()

	t.Run("asks for max_age and prompt=login", func(t *testing.T) {
		e := newEnv(t, nil)
		authURL, p, err := e.auth.Begin(ctx, "/approve/tok", signin.BeginOptions{MaxAge: 5 * time.Minute, ForceLogin: true})
		if err != nil {
			t.Fatal(err)
		}
		u, _ := url.Parse(authURL)
		if u.Query().Get("max_age") != "300" || u.Query().Get("prompt") != "login" || p.MaxAge != 300 {
			t.Fatalf("url %s, MaxAge %d", authURL, p.MaxAge)
		}
		if _, err := e.auth.Finish(ctx, p, e.pick(t, authURL, "approver")); err != nil {
			t.Fatalf("fresh sign-in refused: %v", err)
		}
	})

	t.Run("stale auth_time refused", func(t *testing.T) {
		e := newEnv(t, nil)
		e.idpClock.Advance(-20 * time.Minute) // the provider says the sign-in was 20 minutes ago
		authURL, p, _ := e.auth.Begin(ctx, "/", signin.BeginOptions{MaxAge: 5 * time.Minute})
		_, err := e.auth.Finish(ctx, p, e.pick(t, authURL, "approver"))
		wantRefused(t, err, signin.ErrSignInTooOld, tapdesk.EUNAUTHORIZED)
		if msg := tapdesk.ErrorMessage(err); !strings.Contains(msg, "5 minutes") {
			t.Errorf("message %q does not say the limit", msg)
		}
	})

	t.Run("same auth_time fine without max_age", func(t *testing.T) {
		e := newEnv(t, nil)
		e.idpClock.Advance(-20 * time.Minute)
		authURL, p, _ := e.auth.Begin(ctx, "/", signin.BeginOptions{})
		if _, err := e.auth.Finish(ctx, p, e.pick(t, authURL, "approver")); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("sub-second max_age rounds up", func(t *testing.T) {
		e := newEnv(t, nil)
		_, p, _ := e.auth.Begin(ctx, "/", signin.BeginOptions{MaxAge: time.Millisecond})
		if p.MaxAge != 1 {
			t.Fatalf("MaxAge %d, want 1", p.MaxAge)
		}
	})
}

func TestSafeNext(t *testing.T) {
	tests := []struct{ in, want string }{
		{"/", "/"},
		{"/ok?x=1", "/ok?x=1"},
		{"/requests/abc#timeline", "/requests/abc#timeline"},
		{"/approve/tok_en-1?next=//x", "/approve/tok_en-1?next=//x"},
		{"/users?q=a%2Fb", "/users?q=a%2Fb"},
		{"", "/"},
		{"//evil.com", "/"},
		{"///evil.com", "/"},
		{"/\\evil.com", "/"},
		{"\\\\evil.com", "/"},
		{"/ok\\..\\x", "/"},
		{"https://evil.com", "/"},
		{"http:/evil.com", "/"},
		{"javascript:alert(1)", "/"},
		{"JavaScript:alert(1)//", "/"},
		{"evil.com/path", "/"},
		{"ok", "/"},
		{"/\t/evil.com", "/"},
		{"/\n/evil.com", "/"},
		{"/ok\r\nSet-Cookie: x=y", "/"},
		{"/\x00", "/"},
		{"/\u0085x", "/"},
		{" /ok", "/"},
		{"/" + strings.Repeat("a", 3000), "/"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			if got := signin.SafeNext(tt.in); got != tt.want {
				t.Errorf("SafeNext(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
	t.Run("Begin applies it", func(t *testing.T) {
		e := newEnv(t, nil)
		_, p, _ := e.auth.Begin(context.Background(), "//evil.com", signin.BeginOptions{})
		if p.Next != "/" {
			t.Errorf("Next = %q", p.Next)
		}
	})
}

func TestNewRefusesBadConfig(t *testing.T) {
	good := signin.Config{
		Issuer:       "https://login.microsoftonline.com/5f1d3c2a-7b4e-4c1a-9e8f-0a1b2c3d4e5f/v2.0",
		TenantID:     "5f1d3c2a-7b4e-4c1a-9e8f-0a1b2c3d4e5f",
		ClientID:     "id",
		ClientSecret: "secret",
		RedirectURL:  "https://tapdesk.example/auth/callback",
	}
	if _, err := signin.New(good); err != nil {
		t.Fatalf("good config refused: %v", err)
	}
	tests := map[string]func(*signin.Config){
		"no issuer":             func(c *signin.Config) { c.Issuer = "" },
		"relative issuer":       func(c *signin.Config) { c.Issuer = "/demo/idp" },
		"http issuer":           func(c *signin.Config) { c.Issuer = "http://idp.example/x" },
		"issuer with query":     func(c *signin.Config) { c.Issuer += "?x=1" },
		"no tenant id":          func(c *signin.Config) { c.TenantID = " " },
		"no client id":          func(c *signin.Config) { c.ClientID = "" },
		"no secret":             func(c *signin.Config) { c.ClientSecret = "" },
		"no redirect":           func(c *signin.Config) { c.RedirectURL = "" },
		"http redirect":         func(c *signin.Config) { c.RedirectURL = "http://tapdesk.example/auth/callback" },
		"scopes without openid": func(c *signin.Config) { c.Scopes = []string{"profile"} },
		"unknown group role":    func(c *signin.Config) { c.GroupRoles = map[string]tapdesk.Role{"g": "Tap.Root"} },
	}
	for name, mutate := range tests {
		t.Run(name, func(t *testing.T) {
			cfg := good
			mutate(&cfg)
			if _, err := signin.New(cfg); err == nil {
				t.Fatal("accepted")
			}
		})
	}
	t.Run("http on localhost or when allowed", func(t *testing.T) {
		for _, c := range []signin.Config{
			{Issuer: "http://localhost:8080/demo/idp", RedirectURL: "http://127.0.0.1:8080/auth/callback"},
			{Issuer: "http://demo.lan:8080/demo/idp", RedirectURL: "http://demo.lan:8080/auth/callback", AllowHTTP: true},
		} {
			c.TenantID, c.ClientID, c.ClientSecret = "t", "id", "secret"
			if _, err := signin.New(c); err != nil {
				t.Errorf("%s refused: %v", c.Issuer, err)
			}
		}
	})
}

// TestLazyDiscovery: in demo mode the provider lives in the server that is
// starting, so New must not need it, and a failed discovery must be retried.
func TestLazyDiscovery(t *testing.T) {
	ctx := context.Background()
	var up atomic.Bool
	e := newEnv(t, nil)
	var discoveries atomic.Int32
	e.mux.HandleFunc("/demo/idp/.well-known/openid-configuration", func(w http.ResponseWriter, r *http.Request) {
		discoveries.Add(1)
		if !up.Load() {
			http.Error(w, "starting", http.StatusServiceUnavailable)
			return
		}
		e.idp.Handler().ServeHTTP(w, r)
	})

	_, _, err := e.auth.Begin(ctx, "/", signin.BeginOptions{})
	wantRefused(t, err, signin.ErrProviderUnavailable, tapdesk.EUNAVAILABLE)
	if err := e.auth.Discover(ctx); err == nil {
		t.Fatal("Discover succeeded against a provider that is down")
	}
	up.Store(true)
	if err := e.auth.Discover(ctx); err != nil {
		t.Fatalf("Discover after the provider came up: %v", err)
	}
	authURL, p, err := e.auth.Begin(ctx, "/", signin.BeginOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.auth.Finish(ctx, p, e.pick(t, authURL, "agent")); err != nil {
		t.Fatal(err)
	}
	if n := discoveries.Load(); n != 3 {
		t.Errorf("%d discovery requests, want 3 (two failed, one cached)", n)
	}
}

func TestPendingGob(t *testing.T) {
	e := newEnv(t, nil)
	_, p, _ := e.auth.Begin(context.Background(), "/x", signin.BeginOptions{MaxAge: time.Minute})
	var buf bytes.Buffer
	if err := gob.NewEncoder(&buf).Encode(p); err != nil {
		t.Fatal(err)
	}
	var got signin.Pending
	if err := gob.NewDecoder(&buf).Decode(&got); err != nil {
		t.Fatal(err)
	}
	if got.State != p.State || got.Nonce != p.Nonce || got.Verifier != p.Verifier ||
		got.Next != p.Next || got.MaxAge != p.MaxAge || !got.Created.Equal(p.Created) {
		t.Fatalf("round trip: got %+v, want %+v", got, p)
	}
}
