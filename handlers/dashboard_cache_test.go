package handlers

import (
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/a-h/templ"
	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"

	"github.com/tapdesk/tapdesk"
	"github.com/tapdesk/tapdesk/pagezip"
	"github.com/tapdesk/tapdesk/views"
)

func TestDashboardCache(t *testing.T) {
	now := time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)

	t.Run("an entry serves only under its count and before its deadline", func(t *testing.T) {
		c := newDashboardCache(8, 1<<20)
		c.put("a", dashboardEntry{gen: 5, built: now, until: now.Add(time.Minute), html: "lists"})
		if html, ok := c.get("a", 5, now.Add(59*time.Second)); !ok || html != "lists" {
			t.Fatalf("fresh entry: %q %v", html, ok)
		}
		for name, at := range map[string]struct {
			gen uint64
			now time.Time
		}{
			"after a write":         {6, now},
			"at its deadline":       {5, now.Add(time.Minute)},
			"with the clock behind": {5, now.Add(-time.Second)},
		} {
			if _, ok := c.get("a", at.gen, at.now); ok {
				t.Errorf("%s: the entry still serves", name)
			}
		}
		if _, ok := c.get("b", 5, now); ok {
			t.Error("another key is served a's entry")
		}
	})

	t.Run("a read under an older count does not replace a newer one", func(t *testing.T) {
		c := newDashboardCache(8, 1<<20)
		c.put("a", dashboardEntry{gen: 7, built: now, html: "new"})
		c.put("a", dashboardEntry{gen: 6, built: now, html: "old"})
		if html, ok := c.get("a", 7, now); !ok || html != "new" {
			t.Fatalf("got %q %v", html, ok)
		}
	})

	t.Run("the entry bound holds", func(t *testing.T) {
		c := newDashboardCache(16, 1<<20)
		for i := range 100 {
			c.put(fmt.Sprint("viewer ", i), dashboardEntry{gen: 1, built: now, html: "x"})
		}
		if n, _ := c.len(); n != 16 {
			t.Fatalf("%d entries kept, want 16", n)
		}
		if _, ok := c.get("viewer 99", 1, now); !ok {
			t.Error("the latest entry was dropped")
		}
	})

	t.Run("a page is kept only with the lists it was rendered around", func(t *testing.T) {
		c := newDashboardCache(8, 1<<20)
		c.put("a", dashboardEntry{gen: 1, built: now, html: "lists one"})
		c.keepPage("a", "lists one", &keptPage{csrf: "tok", before: "<p>", after: "</p>"})
		if pg, ok := c.page("a", "lists one", "tok"); !ok || pg.before != "<p>" || pg.after != "</p>" {
			t.Fatalf("kept page: %+v %v", pg, ok)
		}
		if _, ok := c.page("a", "lists one", "another token"); ok {
			t.Error("a page rendered for one CSRF token serves another")
		}
		if _, ok := c.page("b", "lists one", "tok"); ok {
			t.Error("another key is served a's page")
		}
		// A write replaced the lists: neither the old page nor one
		// rendered around the old lists may come back with the new ones.
		c.put("a", dashboardEntry{gen: 2, built: now, html: "lists two"})
		if _, ok := c.page("a", "lists two", "tok"); ok {
			t.Error("the page of the old lists serves the new ones")
		}
		c.keepPage("a", "lists one", &keptPage{csrf: "tok", before: "old", after: "old"})
		if _, ok := c.page("a", "lists two", "tok"); ok {
			t.Error("a page rendered around the old lists was kept with the new ones")
		}
		if _, b := c.len(); b != len("lists two") {
			t.Errorf("%d bytes counted, want %d", b, len("lists two"))
		}
	})

	t.Run("kept pages count toward the byte bound", func(t *testing.T) {
		c := newDashboardCache(16, 100)
		c.put("a", dashboardEntry{gen: 1, built: now, html: "aa"})
		c.put("b", dashboardEntry{gen: 1, built: now, html: "bb"})
		c.keepPage("b", "bb", &keptPage{before: strings.Repeat("x", 60), after: strings.Repeat("y", 37)})
		if n, b := c.len(); n != 1 || b != 99 {
			t.Fatalf("%d entries, %d bytes; want b's alone, 99 bytes", n, b)
		}
		if _, ok := c.page("b", "bb", ""); !ok {
			t.Error("the page just kept was dropped instead of the oldest entry")
		}
		// A page larger than the whole bound is not kept: it would empty
		// the cache, its own lists included.
		c.keepPage("b", "bb", &keptPage{before: strings.Repeat("z", 200)})
		if n, b := c.len(); n != 1 || b != 99 {
			t.Errorf("after a page over the bound: %d entries, %d bytes; want b's, 99 bytes", n, b)
		}
	})

	t.Run("the byte bound holds, replacing included", func(t *testing.T) {
		c := newDashboardCache(1000, 100<<10)
		page := strings.Repeat("x", 30<<10)
		for i := range 50 {
			c.put(fmt.Sprint("viewer ", i%7), dashboardEntry{gen: uint64(i), built: now, html: page})
			if n, size := c.len(); size > 100<<10 || size != n*len(page) {
				t.Fatalf("after %d puts: %d entries, %d bytes", i+1, n, size)
			}
		}
		c.put("huge", dashboardEntry{gen: 99, built: now, html: strings.Repeat("x", 200<<10)})
		if _, ok := c.get("huge", 99, now); ok {
			t.Error("an entry larger than the whole bound was kept")
		}
	})
}

// Two people whose fields would run together into the same text still
// have different keys, and every field the lists depend on is in the key.
func TestViewerKey(t *testing.T) {
	base := tapdesk.Principal{TenantID: "t", ObjectID: "o", UPN: "u", Email: "e", Name: "n", Roles: []tapdesk.Role{tapdesk.RoleRequester}}
	seen := map[string]string{viewerKey(base): "base"}
	for name, p := range map[string]tapdesk.Principal{
		"tenant":     {TenantID: "t2", ObjectID: "o", UPN: "u", Email: "e", Name: "n", Roles: base.Roles},
		"object":     {TenantID: "t", ObjectID: "o2", UPN: "u", Email: "e", Name: "n", Roles: base.Roles},
		"run-on":     {TenantID: "to", ObjectID: "", UPN: "u", Email: "e", Name: "n", Roles: base.Roles},
		"roles":      {TenantID: "t", ObjectID: "o", UPN: "u", Email: "e", Name: "n", Roles: []tapdesk.Role{tapdesk.RoleApprover}},
		"more roles": {TenantID: "t", ObjectID: "o", UPN: "u", Email: "e", Name: "n", Roles: []tapdesk.Role{tapdesk.RoleRequester, tapdesk.RoleAuditor}},
		"upn":        {TenantID: "t", ObjectID: "o", UPN: "u2", Email: "e", Name: "n", Roles: base.Roles},
	} {
		k := viewerKey(p)
		if other, ok := seen[k]; ok {
			t.Errorf("%s has the key of %s", name, other)
		}
		seen[k] = name
	}
}

func TestSessionCaches(t *testing.T) {
	now := time.Now()
	t.Run("a row serves only under its count and before its expiry", func(t *testing.T) {
		c := newSessionRowCache(4)
		k := hashToken("k")
		c.put(k, sessionRow{gen: 3, expiry: now.Add(time.Minute), plain: []byte("data")})
		if b, ok := c.get(k, 3, now); !ok || string(b) != "data" {
			t.Fatalf("got %q %v", b, ok)
		}
		if _, ok := c.get(k, 4, now); ok {
			t.Error("served after a write")
		}
		if _, ok := c.get(k, 3, now.Add(time.Minute)); ok {
			t.Error("served at its expiry")
		}
		c.forget(k)
		if _, ok := c.get(k, 3, now); ok {
			t.Error("served after forget")
		}
		for i := range 10 {
			c.put(hashToken(fmt.Sprint(i)), sessionRow{gen: 3, expiry: now.Add(time.Minute)})
		}
		if n := c.len(); n != 4 {
			t.Errorf("%d rows kept, want 4", n)
		}
	})

	t.Run("decoded data is the caller's own and bounded", func(t *testing.T) {
		codec := sessionCodec{decoded: newSessionDecodeCache(4)}
		p := tapdesk.Principal{TenantID: "t", ObjectID: "o", Roles: []tapdesk.Role{tapdesk.RoleRequester}}
		b, err := codec.Encode(now, map[string]any{sessPrincipal: p, "flash": "hello"})
		if err != nil {
			t.Fatal(err)
		}
		_, first, err := codec.Decode(b)
		if err != nil {
			t.Fatal(err)
		}
		delete(first, "flash") // as Sessions.PopString does
		first[sessPrincipal] = tapdesk.Principal{ObjectID: "someone else"}
		_, second, err := codec.Decode(b)
		if err != nil {
			t.Fatal(err)
		}
		if second["flash"] != "hello" || second[sessPrincipal].(tapdesk.Principal).ObjectID != "o" {
			t.Fatalf("a change to one decoded copy reached the next: %v", second)
		}
		for i := range 10 {
			b, _ := codec.Encode(now, map[string]any{"flash": fmt.Sprint(i)})
			if _, _, err := codec.Decode(b); err != nil {
				t.Fatal(err)
			}
		}
		if n := codec.decoded.len(); n != 4 {
			t.Errorf("%d decoded sessions kept, want 4", n)
		}
	})
}

// renderKept runs the page's template once for a person's kept lists and
// token, and sends the kept page with each request's own nonce after
// that; other lists, another token or a nonce not on the page run it
// again.
func TestRenderKeptRunsTheTemplateOnce(t *testing.T) {
	h := &Handler{now: time.Now, lists: newDashboardCache(8, 1<<20), pages: pagezip.NewCache(8, 1<<20), fixedHeaders: newSecurityHeaderValues()}
	renders := 0
	agent := tapdesk.Principal{ObjectID: "oid-agent", Name: "Alex Agent", Roles: []tapdesk.Role{tapdesk.RoleRequester}}
	page := func(lists string) templ.Component {
		return templ.ComponentFunc(func(ctx context.Context, w io.Writer) error {
			renders++
			return views.DashboardPage(views.Page{Title: "Dashboard", User: agent}, templ.Raw(lists), nil, nil).Render(ctx, w)
		})
	}
	e := echo.New()
	send := func(lists, nonce, token string, gz bool) string {
		t.Helper()
		rec := httptest.NewRecorder()
		req := httptest.NewRequest(http.MethodGet, "/", nil)
		if gz { // a browser: the page goes out compressed
			req.Header.Set(echo.HeaderAcceptEncoding, "gzip")
			req.Header.Set(echo.HeaderSecFetchSite, "same-origin")
		}
		c := e.NewContext(req, rec)
		stateOf(c).nonce = nonce
		c.Set(ctxCSRF, token)
		if err := h.renderKept(c, "viewer", lists, func() templ.Component { return page(lists) }); err != nil {
			t.Fatal(err)
		}
		if got := rec.Header().Get(echo.HeaderContentEncoding) == "gzip"; got != gz {
			t.Fatalf("sent compressed: %v, want %v", got, gz)
		}
		if n := rec.Header().Get(echo.HeaderContentLength); n != strconv.Itoa(rec.Body.Len()) {
			t.Fatalf("Content-Length %s for %d bytes", n, rec.Body.Len())
		}
		if !gz {
			return rec.Body.String()
		}
		r, err := gzip.NewReader(rec.Body)
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(r)
		if err != nil {
			t.Fatalf("gunzipping the page: %v", err)
		}
		return string(b)
	}
	load := func(lists, nonce, token string) string {
		t.Helper()
		return send(lists, nonce, token, false)
	}
	lists := strings.Repeat("<li>row</li>", 3)
	h.lists.put("viewer", dashboardEntry{gen: 1, built: time.Now(), html: lists})
	var first string
	for i, nonce := range []string{"AAAAAAAAAAAAAAAAAAAAAA", "BBBBBBBBBBBBBBBBBBBBBB", "CCCCCCCCCCCCCCCCCCCCCC"} {
		got := load(lists, nonce, "tok")
		if !strings.Contains(got, `nonce="`+nonce+`"`) || strings.Count(got, nonce) != 1 || !strings.Contains(got, `value="tok"`) || !strings.Contains(got, lists) {
			t.Fatalf("load %d:\n%s", i+1, got)
		}
		if got = strings.Replace(got, nonce, "NONCE", 1); i == 0 {
			first = got
		} else if got != first {
			t.Fatalf("load %d differs from the first beyond the nonce:\n%s\n%s", i+1, got, first)
		}
	}
	if renders != 1 {
		t.Fatalf("the template ran %d times for three loads of the same page, want 1", renders)
	}
	if got := load(lists, "DDDDDDDDDDDDDDDDDDDDDD", "other"); !strings.Contains(got, `value="other"`) || renders != 2 {
		t.Fatalf("another token: %q after %d renders", got, renders)
	}
	other := strings.Repeat("<li>new row</li>", 2)
	h.lists.put("viewer", dashboardEntry{gen: 2, built: time.Now(), html: other})
	if got := load(other, "EEEEEEEEEEEEEEEEEEEEEE", "other"); !strings.Contains(got, other) || strings.Contains(got, lists) || renders != 3 {
		t.Fatalf("new lists: %q after %d renders", got, renders)
	}

	// Compressed: a page kept by a plain request is rendered once more
	// to be kept deflated too; from then on both kinds of request are
	// sent the kept page, the same apart from the nonce.
	const placeholder = middleware.CSRFUsingSecFetchSite
	plain := load(other, "FFFFFFFFFFFFFFFFFFFFFF", placeholder)
	if renders != 4 {
		t.Fatalf("%d renders, want 4", renders)
	}
	for i, nonce := range []string{"GGGGGGGGGGGGGGGGGGGGGG", "HHHHHHHHHHHHHHHHHHHHHH"} {
		got := send(other, nonce, placeholder, true)
		if strings.Count(got, nonce) != 1 || strings.Replace(got, nonce, "FFFFFFFFFFFFFFFFFFFFFF", 1) != plain {
			t.Fatalf("compressed load %d differs from the plain one beyond the nonce:\n%s\n%s", i+1, got, plain)
		}
	}
	if got := load(other, "IIIIIIIIIIIIIIIIIIIIII", placeholder); strings.Replace(got, "IIIIIIIIIIIIIIIIIIIIII", "FFFFFFFFFFFFFFFFFFFFFF", 1) != plain {
		t.Fatalf("a plain load after compressed ones:\n%s", got)
	}
	if renders != 5 {
		t.Fatalf("the template ran %d times, want 5: once more to keep the page deflated", renders)
	}
	// The deflated page counts toward the byte bound.
	pg, _ := h.lists.page("viewer", other, placeholder)
	if _, b := h.lists.len(); pg == nil || pg.zip == nil || b != len(other)+len(placeholder)+len(pg.before)+len(pg.after)+pg.zip.Size() {
		t.Fatalf("%d bytes counted for the kept page %+v", b, pg)
	}
	// New lists after the page was kept deflated: the new page, compressed.
	third := strings.Repeat("<li>third row</li>", 2)
	h.lists.put("viewer", dashboardEntry{gen: 3, built: time.Now(), html: third})
	if got := send(third, "JJJJJJJJJJJJJJJJJJJJJJ", placeholder, true); !strings.Contains(got, third) || strings.Contains(got, other) || renders != 6 {
		t.Fatalf("new lists after a deflated page: %q after %d renders", got, renders)
	}
	// A page with a real CSRF token is a secret: never compressed, even
	// to a browser that asks, nor kept deflated (send checks the header).
	for _, nonce := range []string{"KKKKKKKKKKKKKKKKKKKKKK", "LLLLLLLLLLLLLLLLLLLLLL"} {
		rec := httptest.NewRecorder()
		req := httptest.NewRequest(http.MethodGet, "/", nil)
		req.Header.Set(echo.HeaderAcceptEncoding, "gzip")
		req.Header.Set(echo.HeaderSecFetchSite, "same-origin")
		c := e.NewContext(req, rec)
		stateOf(c).nonce = nonce
		c.Set(ctxCSRF, "real-token")
		if err := h.renderKept(c, "viewer", third, func() templ.Component { return page(third) }); err != nil {
			t.Fatal(err)
		}
		if enc := rec.Header().Get(echo.HeaderContentEncoding); enc != "" || !strings.Contains(rec.Body.String(), `value="real-token"`) {
			t.Fatalf("a page with a real token went out with Content-Encoding %q:\n%.200q", enc, rec.Body.String())
		}
	}
	if pg, _ := h.lists.page("viewer", third, "real-token"); pg == nil || pg.zip != nil {
		t.Fatalf("the page with a real token: %+v", pg)
	}
}

// TestKeptLength: a kept page's Content-Length value is made once for its
// length, and made again for another.
func TestKeptLength(t *testing.T) {
	var k keptLength
	a := k.of(2478)
	if len(a) != 1 || a[0] != "2478" {
		t.Fatalf("of(2478) = %q", a)
	}
	if b := k.of(2478); &b[0] != &a[0] {
		t.Error("the same length made a new value")
	}
	if b := k.of(2479); len(b) != 1 || b[0] != "2479" {
		t.Errorf("another length: %q", b)
	}
	if allocs := testing.AllocsPerRun(100, func() { k.of(2479) }); allocs != 0 {
		t.Errorf("a kept length takes %v allocations", allocs)
	}
}
