package signin_test

import (
	"net/url"
	"strings"
	"testing"

	"github.com/tapdesk/tapdesk/signin"
)

// Sign-out at the provider: its end_session_endpoint from discovery, with
// the ID token of the sign-in as id_token_hint and tapdesk's base URL to come
// back to.
func TestEndSessionURL(t *testing.T) {
	ctx := t.Context()
	var back string
	e := newEnv(t, nil, func(c *signin.Config) {
		back = strings.TrimSuffix(c.RedirectURL, "/auth/callback")
		c.PostLogoutRedirectURL = back
	})
	authURL, p, err := e.auth.Begin(ctx, "/", signin.BeginOptions{})
	if err != nil {
		t.Fatal(err)
	}
	in, err := e.auth.Finish(ctx, p, e.pick(t, authURL, "agent"))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Count(in.IDToken, ".") != 2 {
		t.Fatalf("the sign-in does not carry its ID token: %q", in.IDToken)
	}
	u, err := url.Parse(e.auth.EndSessionURL(ctx, in.IDToken))
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	if u.Scheme+"://"+u.Host+u.Path != e.idp.Issuer()+"/logout" || q.Get("id_token_hint") != in.IDToken ||
		q.Get("client_id") != clientID || q.Get("post_logout_redirect_uri") != back {
		t.Errorf("end-session URL %s", u)
	}

	t.Run("provider without end_session_endpoint", func(t *testing.T) {
		s := newStubIdP(t)
		if got := s.auth.EndSessionURL(ctx, in.IDToken); got != "" {
			t.Errorf("end-session URL %q for a provider that offers none", got)
		}
	})

	t.Run("bad post-logout redirect URL", func(t *testing.T) {
		_, err := signin.New(signin.Config{Issuer: e.idp.Issuer(), ClientID: clientID, ClientSecret: clientSecret,
			RedirectURL: e.callback, PostLogoutRedirectURL: "http://tapdesk.example.com"})
		if err == nil || !strings.Contains(err.Error(), "post-logout redirect URL") {
			t.Errorf("plain-http post-logout URL accepted: %v", err)
		}
	})
}
