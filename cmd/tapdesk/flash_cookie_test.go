package main

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// setCookies are the cookies named name that res sets.
func setCookies(res *http.Response, name string) []*http.Cookie {
	var out []*http.Cookie
	for _, c := range res.Cookies() {
		if c.Name == name {
			out = append(out, c)
		}
	}
	return out
}

// TestFlashWritesNoSession: the message shown once after a redirect
// travels in a sealed cookie of its own, so neither the action that sets it
// nor the page that shows it writes the session (each did, one to put it and
// one to drop it); it is shown once, and a cookie not sealed by tapdesk
// shows nothing.
func TestFlashWritesNoSession(t *testing.T) {
	d := startTestDemo(t)
	agent := d.browser(t)
	agent.signIn("/", "agent")
	req := fileRequestFor(t, agent, "nina.newhire@contoso.example", "Lost phone, needs to re-register")
	agent.get(req).status(http.StatusOK)
	agent.client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }

	agent.submit(`form[action$="/cancel"]`, nil).status(http.StatusSeeOther)
	if got := setCookies(agent.last, "tapdesk_session"); len(got) > 0 {
		t.Errorf("cancelling wrote the session (Set-Cookie %v)", got[0])
	}
	flash := setCookies(agent.last, "tapdesk_flash")
	if len(flash) != 1 || !flash[0].HttpOnly || flash[0].SameSite != http.SameSiteLaxMode || flash[0].MaxAge <= 0 {
		t.Fatalf("the flash cookie is %v, want one, HttpOnly, SameSite=Lax, with a lifetime", flash)
	}
	if strings.Contains(flash[0].Value, "cancelled") {
		t.Errorf("the flash cookie holds its message in clear: %q", flash[0].Value)
	}
	next := agent.last.Header.Get("Location")

	agent.get(next).status(http.StatusOK)
	if f := agent.text(`[data-testid="flash"]`); f != "Request cancelled." {
		t.Errorf("flash %q after cancelling", f)
	}
	if got := setCookies(agent.last, "tapdesk_session"); len(got) > 0 {
		t.Errorf("the page showing the flash wrote the session (Set-Cookie %v)", got[0])
	}
	if del := setCookies(agent.last, "tapdesk_flash"); len(del) != 1 || del[0].MaxAge >= 0 {
		t.Errorf("the page showing the flash did not delete its cookie: %v", del)
	}
	agent.get(next).status(http.StatusOK)
	if f := agent.text(`[data-testid="flash"]`); f != "" {
		t.Errorf("the flash came back on the next page: %q", f)
	}

	// The same cookie sent again (a copy kept), or one altered, shows nothing
	// it was not sealed to show: the copy is within its lifetime, so it shows
	// its own message again at most, never another's.
	base, _ := url.Parse(d.baseURL)
	for name, value := range map[string]string{
		"altered": flash[0].Value[:len(flash[0].Value)-2] + "AA",
		"forged":  "UmVxdWVzdCBjYW5jZWxsZWQu",
	} {
		agent.client.Jar.SetCookies(base, []*http.Cookie{{Name: "tapdesk_flash", Value: value, Path: "/"}})
		agent.get(next).status(http.StatusOK)
		if f := agent.text(`[data-testid="flash"]`); f != "" {
			t.Errorf("%s flash cookie shown: %q", name, f)
		}
	}
}
