package signin_test

import (
	"crypto/rand"
	"crypto/rsa"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"

	"github.com/tapdesk/tapdesk"
	"github.com/tapdesk/tapdesk/signin"
	"github.com/tapdesk/tapdesk/signin/demoidp"
)

const (
	clientID     = "tapdesk-test"
	clientSecret = "s3cret+/=&?"
)

// One key for the whole run: RSA generation is slow under -race.
var testKey = sync.OnceValue(func() *rsa.PrivateKey {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		panic(err)
	}
	return k
})

// clock is a movable clock, safe to read from server goroutines.
type clock struct {
	mu  sync.Mutex
	off time.Duration
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Now().Add(c.off)
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.off += d
}

// env is the demo provider mounted at /demo/idp of a test server, as in
// `tapdesk demo`, and a real Authenticator pointed at it.
type env struct {
	srv      *httptest.Server
	mux      *http.ServeMux
	idp      *demoidp.Provider
	auth     *signin.Authenticator
	clock    *clock // the relying party's
	idpClock *clock
	callback string
}

type envOption func(*signin.Config)

func newEnv(t *testing.T, personas []demoidp.Persona, opts ...envOption) *env {
	t.Helper()
	e := &env{mux: http.NewServeMux(), clock: &clock{}, idpClock: &clock{}}
	e.srv = httptest.NewServer(e.mux)
	t.Cleanup(e.srv.Close)
	e.callback = e.srv.URL + "/auth/callback"

	if personas == nil {
		personas = demoidp.DefaultPersonas()
	}
	var err error
	e.idp, err = demoidp.New(e.srv.URL+"/demo/idp", personas,
		demoidp.WithKey(testKey()), demoidp.WithClock(e.idpClock.Now))
	if err != nil {
		t.Fatal(err)
	}
	e.idp.RegisterClient(clientID, clientSecret, e.callback)
	e.mux.Handle("/demo/idp/", e.idp.Handler())

	cfg := signin.Config{
		Issuer:       e.idp.Issuer(),
		TenantID:     demoidp.TenantID,
		ClientID:     clientID,
		ClientSecret: clientSecret,
		RedirectURL:  e.callback,
		HTTPClient:   e.srv.Client(),
		Now:          e.clock.Now,
	}
	for _, o := range opts {
		o(&cfg)
	}
	if e.auth, err = signin.New(cfg); err != nil {
		t.Fatal(err)
	}
	return e
}

// browser is a client that, like a test of the real handlers, does not
// follow redirects so each hop can be checked.
func browser() *http.Client {
	return &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

// pick plays the person at the picker: GET the authorization URL, submit the
// persona's form, and return the query the provider sends to the callback.
func (e *env) pick(t *testing.T, authURL, persona string) url.Values {
	t.Helper()
	resp, err := browser().Get(authURL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET authorize: status %d", resp.StatusCode)
	}
	doc, err := goquery.NewDocumentFromReader(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	form := doc.Find(`form:has([data-testid="persona-` + persona + `"])`)
	if form.Length() != 1 {
		t.Fatalf("no form for persona %q", persona)
	}
	fields := url.Values{}
	form.Find("input").Each(func(_ int, s *goquery.Selection) {
		fields.Add(s.AttrOr("name", ""), s.AttrOr("value", ""))
	})
	resp2, err := browser().PostForm(e.srv.URL+form.AttrOr("action", ""), fields)
	if err != nil {
		t.Fatal(err)
	}
	resp2.Body.Close()
	if resp2.StatusCode != http.StatusFound {
		t.Fatalf("POST authorize: status %d", resp2.StatusCode)
	}
	loc, err := url.Parse(resp2.Header.Get("Location"))
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.SplitN(loc.String(), "?", 2)[0]; got != e.callback {
		t.Fatalf("redirected to %s, want the callback %s", got, e.callback)
	}
	return loc.Query()
}

// wantRefused checks that err is a refusal for reason with the given domain
// code and a message fit to show.
func wantRefused(t *testing.T, err, reason error, code string) {
	t.Helper()
	if err == nil {
		t.Fatalf("got no error, want %v", reason)
	}
	if !errors.Is(err, reason) {
		t.Fatalf("got %v, want reason %v", err, reason)
	}
	if got := tapdesk.ErrorCode(err); got != code {
		t.Fatalf("code %q, want %q (err %v)", got, code, err)
	}
	if msg := tapdesk.ErrorMessage(err); msg == "" || strings.Contains(msg, "Something failed on our side") {
		t.Fatalf("message %q is not a refusal sentence", msg)
	}
}
