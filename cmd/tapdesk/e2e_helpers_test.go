package main

import (
	"bytes"
	"compress/gzip"
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"

	"github.com/tapdesk/tapdesk/entra/fakegraph"
	"github.com/tapdesk/tapdesk/internal/pgtest"
	"github.com/tapdesk/tapdesk/signin/demoidp"
)

// createTAP is the Graph call that creates a pass, as the fake records it.
const createTAP = "POST /v1.0/users/*/authentication/temporaryAccessPassMethods"

// syncBuffer collects log output from many goroutines.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// testDemo is a running demo on a free loopback port with its logs captured.
type testDemo struct {
	*demoEnv
	logs *syncBuffer
}

// dualPersona holds both the requester and approver roles, to test that
// separation of duty holds for one person with two hats. Her object id is
// Priya Patel's in the sample tenant.
var dualPersona = demoidp.Persona{Key: "dual", Name: "Priya Patel", UPN: "priya.patel@contoso.example",
	Email: "priya.patel@contoso.example", Roles: []string{"Tap.Requester", "Tap.Approver"}}

func startTestDemo(t testing.TB) *testDemo {
	t.Helper()
	return startTestDemoWith(t, nil)
}

// startTestDemoWith lets a test change the demo's options first.
func startTestDemoWith(t testing.TB, change func(*demoOptions)) *testDemo {
	t.Helper()
	priya, ok := fakegraph.SampleTenant().LookupUser("priya.patel@contoso.example")
	if !ok {
		t.Fatal("sample tenant lacks priya.patel")
	}
	dual := dualPersona
	dual.ObjectID = priya.ID
	o := demoOptions{Addr: "127.0.0.1:0", DBPath: filepath.Join(t.TempDir(), "tapdesk.db"),
		MailInterval: 50 * time.Millisecond, Personas: append(demoidp.DefaultPersonas(), dual)}
	// Under pgtest.Backends' postgres subtest the demo runs on a fresh
	// PostgreSQL database.
	if pgtest.OnPostgres(t) {
		o.DBPath = pgtest.URL(t)
	}
	if change != nil {
		change(&o)
	}
	d, _ := runTestDemo(t, o)
	// The sweep that runs at start calls Graph (passes made outside
	// tapdesk); tests that count Graph calls start once it is done.
	select {
	case <-d.app.firstSweep:
	case <-time.After(60 * time.Second):
		t.Fatal("the demo's first sweep did not finish")
	}
	return d
}

// runTestDemo starts a demo with o, logging at debug level into the
// testDemo's logs unless o names a logger, and runs it until the test ends
// or stop stops it (as SIGTERM would), once.
func runTestDemo(t testing.TB, o demoOptions) (d *testDemo, stop func()) {
	t.Helper()
	logs := &syncBuffer{}
	if o.Logger == nil {
		o.Logger = slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	ctx, cancel := context.WithCancel(context.Background())
	env, err := startDemo(ctx, o)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- env.run(ctx) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("demo stopped with: %v", err)
			}
		})
	}
	t.Cleanup(stop)
	return &testDemo{demoEnv: env, logs: logs}, stop
}

// startStoppableDemo is startTestDemoWith with the stop in the test's
// hands, and without waiting for the first sweep (a test may hold it up).
func startStoppableDemo(t *testing.T, change func(*demoOptions)) (*testDemo, func()) {
	t.Helper()
	o := demoOptions{Addr: "127.0.0.1:0", DBPath: filepath.Join(t.TempDir(), "tapdesk.db"), MailInterval: 50 * time.Millisecond}
	change(&o)
	return runTestDemo(t, o)
}

// withoutOutsidePass runs the demo on the sample tenant without the pass
// for Nina made in the admin center (fakegraph.WithoutOutsidePass): nothing
// is found outside tapdesk, so no alert is raised by the start alone.
func withoutOutsidePass(o *demoOptions) {
	o.Tenant = fakegraph.SampleTenant(fakegraph.WithoutOutsidePass)
}

// userID returns the object id of a sample-tenant user by UPN.
func (d *testDemo) userID(t *testing.T, upn string) string {
	t.Helper()
	u, ok := d.fake.Tenant().LookupUser(upn)
	if !ok {
		t.Fatalf("no %s in the sample tenant", upn)
	}
	return u.ID
}

// browser is one person's browser: a cookie jar, following redirects.
type browser struct {
	t      testing.TB
	base   string
	client *http.Client
	last   *http.Response
	body   string
	// header is sent with every request (as a real browser's Fetch
	// Metadata and Accept-Encoding); a gzip answer to it is read
	// decompressed, and encoding says it came so.
	header   http.Header
	encoding string
}

func (d *testDemo) browser(t testing.TB) *browser {
	jar, _ := cookiejar.New(nil)
	return &browser{t: t, base: d.baseURL, client: &http.Client{Jar: jar, Timeout: 30 * time.Second}}
}

// with returns the same browser reporting failures to t (for subtests).
func (b *browser) with(t *testing.T) *browser {
	c := *b
	c.t = t
	return &c
}

func (b *browser) do(req *http.Request) *browser {
	b.t.Helper()
	req.Header.Set("User-Agent", "tapdesk-e2e")
	for k, v := range b.header {
		req.Header[k] = v
	}
	res, err := b.client.Do(req)
	if err != nil {
		b.t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer res.Body.Close()
	// Go's client decompresses by itself only what it asked for itself.
	var body io.Reader = res.Body
	b.encoding = res.Header.Get("Content-Encoding")
	if b.encoding == "gzip" {
		zr, err := gzip.NewReader(res.Body)
		if err != nil {
			b.t.Fatalf("%s %s: a gzip answer that is not gzip: %v", req.Method, req.URL, err)
		}
		body = zr
	}
	raw, err := io.ReadAll(body)
	if err != nil {
		b.t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	b.last, b.body = res, string(raw)
	return b
}

func (b *browser) get(path string) *browser {
	b.t.Helper()
	req, _ := http.NewRequest(http.MethodGet, b.abs(path), nil)
	return b.do(req)
}

func (b *browser) post(path string, form url.Values) *browser {
	b.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, b.abs(path), strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return b.do(req)
}

func (b *browser) abs(path string) string {
	if strings.HasPrefix(path, "http") {
		return path
	}
	return b.base + path
}

// submit posts the form matched by selector on the current page, with its
// hidden fields (CSRF token included) plus the given values.
func (b *browser) submit(selector string, values url.Values) *browser {
	b.t.Helper()
	form := b.doc().Find(selector).First()
	if form.Length() == 0 {
		b.t.Fatalf("no form %q on %s:\n%s", selector, b.last.Request.URL, b.body)
	}
	vals := url.Values{}
	form.Find("input[type=hidden]").Each(func(_ int, s *goquery.Selection) {
		vals.Set(s.AttrOr("name", ""), s.AttrOr("value", ""))
	})
	for k, v := range values {
		vals[k] = v
	}
	action := form.AttrOr("action", b.last.Request.URL.Path)
	if !strings.HasPrefix(action, "http") && !strings.HasPrefix(action, "/") {
		b.t.Fatalf("relative form action %q", action)
	}
	return b.post(action, vals)
}

func (b *browser) doc() *goquery.Document {
	b.t.Helper()
	doc, err := goquery.NewDocumentFromReader(strings.NewReader(b.body))
	if err != nil {
		b.t.Fatal(err)
	}
	return doc
}

func (b *browser) text(selector string) string {
	return strings.TrimSpace(b.doc().Find(selector).First().Text())
}

func (b *browser) status(want int) *browser {
	b.t.Helper()
	if b.last.StatusCode != want {
		b.t.Fatalf("%s %s: status %d, want %d\n%s", b.last.Request.Method, b.last.Request.URL, b.last.StatusCode, want, b.body)
	}
	return b
}

func (b *browser) contains(s string) *browser {
	b.t.Helper()
	if !strings.Contains(b.body, s) {
		b.t.Fatalf("page %s lacks %q:\n%s", b.last.Request.URL, s, b.body)
	}
	return b
}

func (b *browser) path() string { return b.last.Request.URL.Path }

// signIn goes through the demo OIDC provider as persona, starting at path
// (which redirects anonymous people to sign-in).
func (b *browser) signIn(path, persona string) *browser {
	b.t.Helper()
	b.get(path).status(http.StatusOK)
	if !strings.Contains(b.last.Request.URL.Path, "/demo/idp/authorize") {
		b.t.Fatalf("expected the demo sign-in page, got %s", b.last.Request.URL)
	}
	form := b.doc().Find(`[data-testid="persona-` + persona + `"]`).Closest("form")
	if form.Length() == 0 {
		b.t.Fatalf("no persona %s on the picker", persona)
	}
	vals := url.Values{}
	form.Find("input").Each(func(_ int, s *goquery.Selection) { vals.Set(s.AttrOr("name", ""), s.AttrOr("value", "")) })
	action := form.AttrOr("action", "/demo/idp/authorize")
	if !strings.HasPrefix(action, "http") {
		u := *b.last.Request.URL
		ref, _ := url.Parse(action)
		action = u.ResolveReference(ref).String()
	}
	return b.post(action, vals).status(http.StatusOK)
}

// shownPass is the pass a reveal page shows: the text of its pass output
// (sel), which is the pass's one occurrence in the page. ok is false when
// the page shows none.
func shownPass(sel *goquery.Selection) (pass string, ok bool) {
	if sel.Length() == 0 {
		return "", false
	}
	pass = strings.TrimSpace(sel.Text())
	return pass, pass != ""
}

// issuedFor runs the flow up to the pass on d: agent (signed in) files a
// request for upn, the approver approves it, the agent reveals the pass.
// It returns the request's path and the pass shown.
func issuedFor(t *testing.T, d *testDemo, agent *browser, upn, justification string) (reqPath, pass string) {
	t.Helper()
	reqPath = fileRequestFor(t, agent, upn, justification)
	approveAs(t, d, reqPath, "approver")
	agent.get(reqPath).submit(`form[action$="/reveal"]`, nil).status(http.StatusOK)
	pass, ok := shownPass(agent.doc().Find(`[data-testid="pass"]`))
	if !ok || len(pass) < 8 {
		t.Fatalf("the reveal page shows no pass:\n%s", agent.body)
	}
	return reqPath, pass
}

// eventually waits until ok, for half a minute at most.
func eventually(t *testing.T, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// serveConns serves each connection ln accepts with serve, in a goroutine
// of its own, and closes it after; ln closes when the test ends.
func serveConns(t testing.TB, ln net.Listener, serve func(net.Conn)) {
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer conn.Close()
				serve(conn)
			}()
		}
	}()
}
