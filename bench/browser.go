package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"time"

	"github.com/PuerkitoBio/goquery"
)

// browser is one signed-in person: a cookie jar over a shared transport.
// It never follows redirects by itself, so each response is timed alone.
type browser struct {
	base   string
	client *http.Client
}

// page is one response, read whole, with the time it took and the server's
// own account of it (the Server-Timing header, when the server sends one).
type page struct {
	status   int
	location string
	body     string
	url      string
	took     time.Duration
	timing   serverTiming
}

func newBrowser(base string, transport http.RoundTripper) *browser {
	jar, _ := cookiejar.New(nil)
	return &browser{base: base, client: &http.Client{
		Jar: plainJar{jar}, Transport: transport, Timeout: 60 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}}
}

// plainJar keeps Secure cookies for plain http too: serve, measured
// on loopback without its TLS-terminating proxy, sets its cookies Secure
// (__Host-) as behind https.
type plainJar struct{ http.CookieJar }

func (j plainJar) SetCookies(u *url.URL, cs []*http.Cookie) {
	for _, c := range cs {
		c.Secure = false
	}
	j.CookieJar.SetCookies(u, cs)
}

func (b *browser) abs(path string) string {
	if strings.HasPrefix(path, "http://") || strings.HasPrefix(path, "https://") {
		return path
	}
	return b.base + path
}

func (b *browser) do(ctx context.Context, method, path string, form url.Values) (page, error) {
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequestWithContext(ctx, method, b.abs(path), body)
	if err != nil {
		return page{}, err
	}
	req.Header.Set("User-Agent", "tapdesk-bench")
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	start := time.Now()
	res, err := b.client.Do(req)
	if err != nil {
		return page{}, fmt.Errorf("%s %s: %w", method, path, err)
	}
	raw, err := io.ReadAll(res.Body)
	res.Body.Close()
	took := time.Since(start)
	if err != nil {
		return page{}, fmt.Errorf("%s %s: %w", method, path, err)
	}
	p := page{status: res.StatusCode, body: string(raw), url: req.URL.String(), took: took,
		timing: parseServerTiming(res.Header.Values("Server-Timing"))}
	if loc := res.Header.Get("Location"); loc != "" {
		ref, err := req.URL.Parse(loc)
		if err != nil {
			return p, fmt.Errorf("%s %s: bad Location %q", method, path, loc)
		}
		p.location = ref.String()
	}
	return p, nil
}

func (b *browser) get(ctx context.Context, path string) (page, error) {
	return b.do(ctx, http.MethodGet, path, nil)
}

// follow gets path and follows redirects (sign-in, untimed set-up).
func (b *browser) follow(ctx context.Context, method, path string, form url.Values) (page, error) {
	p, err := b.do(ctx, method, path, form)
	for hops := 0; err == nil && p.location != "" && p.status >= 300 && p.status < 400; hops++ {
		if hops == 10 {
			return p, fmt.Errorf("%s: too many redirects", path)
		}
		p, err = b.get(ctx, p.location)
	}
	return p, err
}

// signIn goes through the demo identity provider's persona picker, as the
// end-to-end tests do.
func (b *browser) signIn(ctx context.Context, persona string) error {
	p, err := b.follow(ctx, http.MethodGet, "/auth/login", nil)
	if err != nil {
		return err
	}
	if p.status != http.StatusOK || !strings.Contains(p.url, "/authorize") {
		return fmt.Errorf("sign-in as %s: expected the demo picker, got %d at %s", persona, p.status, p.url)
	}
	doc, err := goquery.NewDocumentFromReader(strings.NewReader(p.body))
	if err != nil {
		return err
	}
	form := doc.Find(`[data-testid="persona-` + persona + `"]`).Closest("form")
	if form.Length() == 0 {
		return fmt.Errorf("sign-in: no persona %s on the picker", persona)
	}
	vals := url.Values{}
	form.Find("input").Each(func(_ int, s *goquery.Selection) { vals.Set(s.AttrOr("name", ""), s.AttrOr("value", "")) })
	pu, _ := url.Parse(p.url)
	action, _ := pu.Parse(form.AttrOr("action", "authorize"))
	p, err = b.follow(ctx, http.MethodPost, action.String(), vals)
	if err != nil {
		return err
	}
	if p.status != http.StatusOK || strings.Contains(p.url, "/authorize") {
		return fmt.Errorf("sign-in as %s ended at %d %s", persona, p.status, p.url)
	}
	return nil
}

// cookieHeader is the session as a Cookie header, for wrk.
func (b *browser) cookieHeader() string {
	u, _ := url.Parse(b.base + "/")
	var parts []string
	for _, c := range b.client.Jar.Cookies(u) {
		parts = append(parts, c.Name+"="+c.Value)
	}
	return strings.Join(parts, "; ")
}

// formValues are the hidden fields (the CSRF token) of the first form
// matching selector, and its action.
func formValues(body, selector string) (action string, vals url.Values, err error) {
	doc, err := goquery.NewDocumentFromReader(strings.NewReader(body))
	if err != nil {
		return "", nil, err
	}
	form := doc.Find(selector).First()
	if form.Length() == 0 {
		return "", nil, errors.New("no form " + selector + " on the page: " + snippet(body))
	}
	vals = url.Values{}
	form.Find("input[type=hidden]").Each(func(_ int, s *goquery.Selection) {
		vals.Set(s.AttrOr("name", ""), s.AttrOr("value", ""))
	})
	return form.AttrOr("action", ""), vals, nil
}

// snippet is the readable text of a page, shortened, for error messages.
func snippet(body string) string {
	doc, err := goquery.NewDocumentFromReader(strings.NewReader(body))
	text := body
	if err == nil {
		text = doc.Find("main").Text()
		if strings.TrimSpace(text) == "" {
			text = doc.Text()
		}
	}
	text = strings.Join(strings.Fields(text), " ")
	if len(text) > 300 {
		text = text[:300] + "…"
	}
	return text
}
