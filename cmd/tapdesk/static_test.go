package main

import (
	"bytes"
	"compress/gzip"
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"
)

// plainGet sends one GET without following redirects or unzipping, with the
// given headers (name, value pairs).
func plainGet(t *testing.T, url string, header ...string) (*http.Response, []byte) {
	t.Helper()
	return plainDo(t, http.MethodGet, url, header...)
}

// plainDo is plainGet with another method.
func plainDo(t *testing.T, method, url string, header ...string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	c := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{DisableCompression: true},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	res, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return res, body
}

var (
	hashedCSS = regexp.MustCompile(`^/static/app\.[0-9a-f]{8}\.css$`)
	hashedJS  = regexp.MustCompile(`^/static/app\.[0-9a-f]{8}\.js$`)
)

// pageAssets are the stylesheet and script addresses the page b shows links.
func pageAssets(t *testing.T, b *browser) (css, js string) {
	t.Helper()
	css = b.doc().Find(`link[rel="stylesheet"]`).AttrOr("href", "")
	js = b.doc().Find(`script[src]`).AttrOr("src", "")
	if !hashedCSS.MatchString(css) || !hashedJS.MatchString(js) {
		t.Fatalf("the page links its stylesheet at %q and its script at %q, not at content-hashed names", css, js)
	}
	return css, js
}

// TestProbesAndStaticFilesSkipTheSession: with a valid session cookie,
// probes and static files answer without the session store: with its
// table gone they still answer, set no cookie (session or CSRF), and keep
// the security headers and the request log. A page, the control, fails.
func TestProbesAndStaticFilesSkipTheSession(t *testing.T) {
	d := startTestDemo(t)
	agent := d.browser(t)
	agent.signIn("/", "agent")
	css, js := pageAssets(t, agent)
	cookie := demoSessionCookie + "=" + sessionCookie(t, agent)

	// Any read or write of the session store now fails.
	write(t, attacker(t, d), `ALTER TABLE sessions RENAME TO sessions_elsewhere`)
	// A change made past tapdesk is seen once noted (as the change feed
	// notes other instances' writes); until then, pages use the sessions
	// they have kept read (handlers' sessionRowCache).
	d.app.db.NoteExternalChange()
	if res, _ := plainGet(t, d.baseURL+"/", "Cookie", cookie); res.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("control: the dashboard answered %d without its session store; the test cannot see store use", res.StatusCode)
	}

	for path, want := range map[string]int{
		"/healthz": 200, "/readyz": 200, css: 200, js: 200, "/static/app.css": 200,
		"/static/favicon.svg": 200, "/favicon.ico": http.StatusMovedPermanently, "/static/nope.css": 404,
	} {
		t.Run(path, func(t *testing.T) {
			res, body := plainGet(t, d.baseURL+path, "Cookie", cookie)
			if res.StatusCode != want {
				t.Fatalf("status %d, want %d (the session store was used?)\n%s", res.StatusCode, want, body)
			}
			if sc := res.Header.Values("Set-Cookie"); len(sc) > 0 {
				t.Errorf("sets cookies %q", sc)
			}
			if !strings.Contains(res.Header.Get("Content-Security-Policy"), "nonce-") || res.Header.Get("X-Content-Type-Options") != "nosniff" {
				t.Errorf("lacks the security headers: %v", res.Header)
			}
		})
	}
	if logs := d.logs.String(); !strings.Contains(logs, "route=/static/*") || !strings.Contains(logs, "route=/healthz") {
		t.Error("probes and static files are not in the request log")
	}
	if _, body := plainGet(t, d.baseURL+"/static/nope.css"); !bytes.Contains(body, []byte(`data-testid="error"`)) {
		t.Errorf("an unknown file gets no 404 page:\n%s", body)
	}
}

// TestStaticFilesAreKeptAndCompressed: the hashed names are kept a year,
// gzipped for clients that take it, typed and revalidated by ETag; the
// plain names still answer but are revalidated on every use.
func TestStaticFilesAreKeptAndCompressed(t *testing.T) {
	d := startTestDemo(t)
	agent := d.browser(t)
	agent.signIn("/", "agent")
	css, js := pageAssets(t, agent)
	const year = "public, max-age=31536000, immutable"

	plain, plainBody := plainGet(t, d.baseURL+css)
	if got := plain.Header.Get("Cache-Control"); got != year {
		t.Errorf("%s: Cache-Control %q, want %q", css, got, year)
	}
	if got := plain.Header.Get("Content-Type"); !strings.HasPrefix(got, "text/css") {
		t.Errorf("%s: Content-Type %q", css, got)
	}
	if got := plain.Header.Get("Content-Encoding"); got != "" {
		t.Errorf("%s: %s without Accept-Encoding", css, got)
	}

	zipped, zippedBody := plainGet(t, d.baseURL+css, "Accept-Encoding", "gzip, deflate, br")
	if zipped.Header.Get("Content-Encoding") != "gzip" || zipped.Header.Get("Vary") != "Accept-Encoding" {
		t.Fatalf("%s with Accept-Encoding gzip: %v", css, zipped.Header)
	}
	zr, err := gzip.NewReader(bytes.NewReader(zippedBody))
	if err != nil {
		t.Fatal(err)
	}
	unzipped, err := io.ReadAll(zr)
	if err != nil || !bytes.Equal(unzipped, plainBody) || len(zippedBody) >= len(plainBody) {
		t.Errorf("the gzipped stylesheet (%d bytes) is not the stylesheet (%d bytes) made smaller: %v", len(zippedBody), len(plainBody), err)
	}

	etag := zipped.Header.Get("ETag")
	if res, body := plainGet(t, d.baseURL+css, "Accept-Encoding", "gzip", "If-None-Match", etag); res.StatusCode != http.StatusNotModified || len(body) != 0 {
		t.Errorf("If-None-Match %s: %d with %d bytes, want 304 and none", etag, res.StatusCode, len(body))
	}

	script, _ := plainGet(t, d.baseURL+js, "Accept-Encoding", "gzip")
	if got := script.Header.Get("Content-Type"); !strings.Contains(got, "javascript") || script.Header.Get("Cache-Control") != year {
		t.Errorf("%s: Content-Type %q, Cache-Control %q", js, got, script.Header.Get("Cache-Control"))
	}

	old, oldBody := plainGet(t, d.baseURL+"/static/app.css")
	if old.StatusCode != http.StatusOK || !bytes.Equal(oldBody, plainBody) || old.Header.Get("Cache-Control") != "public, no-cache" {
		t.Errorf("/static/app.css: %d, Cache-Control %q", old.StatusCode, old.Header.Get("Cache-Control"))
	}
	if res, _ := plainGet(t, d.baseURL+"/static/app.css", "If-None-Match", old.Header.Get("ETag")); res.StatusCode != http.StatusNotModified {
		t.Errorf("/static/app.css revalidated: %d, want 304", res.StatusCode)
	}
}

// TestStaticAndProbesAnswerHEAD: probes, static files and the icon answer
// HEAD as GET, without a body (echo routes HEAD apart from GET), and
// without the session (no cookie set).
func TestStaticAndProbesAnswerHEAD(t *testing.T) {
	d := startTestDemo(t)
	agent := d.browser(t)
	agent.signIn("/", "agent")
	css, _ := pageAssets(t, agent)

	for path, want := range map[string]int{
		"/healthz": 200, "/readyz": 200, css: 200, "/static/favicon.svg": 200,
		"/favicon.ico": http.StatusMovedPermanently,
	} {
		t.Run(path, func(t *testing.T) {
			get, _ := plainGet(t, d.baseURL+path, "Accept-Encoding", "gzip")
			head, body := plainDo(t, http.MethodHead, d.baseURL+path, "Accept-Encoding", "gzip")
			if head.StatusCode != want || get.StatusCode != want {
				t.Fatalf("HEAD %d, GET %d, want %d", head.StatusCode, get.StatusCode, want)
			}
			if len(body) != 0 {
				t.Errorf("HEAD answered with a body of %d bytes", len(body))
			}
			for _, h := range []string{"Content-Type", "Cache-Control", "ETag", "Content-Encoding", "Location"} {
				if head.Header.Get(h) != get.Header.Get(h) {
					t.Errorf("%s: HEAD %q, GET %q", h, head.Header.Get(h), get.Header.Get(h))
				}
			}
			if sc := head.Header.Values("Set-Cookie"); len(sc) > 0 {
				t.Errorf("HEAD sets cookies %q (the session was used)", sc)
			}
		})
	}
	if head, _ := plainDo(t, http.MethodHead, d.baseURL+css); head.Header.Get("ETag") == "" || !strings.HasPrefix(head.Header.Get("Content-Type"), "text/css") {
		t.Errorf("HEAD %s: %v", css, head.Header)
	}
}
