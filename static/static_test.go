package static

import (
	"bytes"
	"compress/gzip"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestAcceptsGzip(t *testing.T) {
	for header, want := range map[string]bool{
		"":                        false,
		"gzip":                    true,
		"GZIP":                    true,
		"deflate, gzip;q=1.0, br": true,
		"gzip;q=0":                false,
		"gzip; q=0.000":           false,
		"gzip;q=0.5":              true,
		"x-gzip":                  true,
		"br, deflate":             false,
		"*":                       true,
		"*;q=0":                   false,
		"*, gzip;q=0":             false,
		"gzip;q=zero":             false,
		"identity":                false,
	} {
		if got := acceptsGzip([]string{header}); got != want {
			t.Errorf("Accept-Encoding %q: gzip %v, want %v", header, got, want)
		}
	}
}

func TestURLNamesTheContent(t *testing.T) {
	for _, name := range []string{"app.css", "app.js", "favicon.svg"} {
		u := URL(name)
		a, cache := lookup(strings.TrimPrefix(u, Prefix))
		if a == nil || cache != immutable || !bytes.Equal(a.plain, assets[name].plain) {
			t.Errorf("URL(%q) = %s, which serves another file or is not kept long", name, u)
		}
		if u == Prefix+name {
			t.Errorf("URL(%q) carries no hash", name)
		}
	}
	if URL("missing.css") != "/static/missing.css" {
		t.Errorf("URL of a file that is not embedded: %s", URL("missing.css"))
	}
	if _, err := load(files); err != nil {
		t.Fatal(err)
	}
}

func TestLookup(t *testing.T) {
	hashed := strings.TrimPrefix(URL("app.css"), Prefix)
	for name, want := range map[string]string{
		hashed:              immutable,
		"app.css":           revalidate,
		"app.0123abcd.css":  revalidate, // another release's
		"app.0123ABCD.css":  "",
		"app.0123abc.css":   "",
		"app.zzzzzzzz.css":  "",
		"nope.0123abcd.css": "",
		"nope.css":          "",
		"":                  "",
		"../static.go":      "",
		"static.go":         "",
	} {
		if _, cache := lookup(name); cache != want {
			t.Errorf("lookup(%q): cache %q, want %q", name, cache, want)
		}
	}
}

func TestServe(t *testing.T) {
	hashed := strings.TrimPrefix(URL("app.css"), Prefix)
	get := func(name string, header ...string) *httptest.ResponseRecorder {
		r := httptest.NewRequest(http.MethodGet, Prefix+name, nil)
		for i := 0; i+1 < len(header); i += 2 {
			r.Header.Set(header[i], header[i+1])
		}
		w := httptest.NewRecorder()
		if !Serve(w, r, name) {
			w.Code = http.StatusNotFound
		}
		return w
	}
	t.Run("gzip when asked", func(t *testing.T) {
		w := get(hashed, "Accept-Encoding", "gzip, br")
		if w.Header().Get("Content-Encoding") != "gzip" || w.Header().Get("Vary") != "Accept-Encoding" {
			t.Fatalf("headers %v", w.Header())
		}
		zr, err := gzip.NewReader(w.Body)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(zr)
		if !bytes.Equal(b, assets["app.css"].plain) {
			t.Error("the gzipped body is not app.css")
		}
	})
	t.Run("plain otherwise", func(t *testing.T) {
		w := get(hashed)
		if w.Header().Get("Content-Encoding") != "" || !bytes.Equal(w.Body.Bytes(), assets["app.css"].plain) {
			t.Errorf("headers %v", w.Header())
		}
		if w.Header().Get("Vary") != "Accept-Encoding" {
			t.Error("a compressible file does not say it varies with Accept-Encoding")
		}
	})
	t.Run("tiny files are not compressed", func(t *testing.T) {
		w := get(strings.TrimPrefix(URL("favicon.svg"), Prefix), "Accept-Encoding", "gzip")
		if w.Header().Get("Content-Encoding") != "" || w.Header().Get("Vary") != "" || w.Header().Get("Content-Type") != "image/svg+xml" {
			t.Errorf("headers %v", w.Header())
		}
	})
	t.Run("each encoding has its own ETag", func(t *testing.T) {
		plain, zipped := get(hashed).Header().Get("ETag"), get(hashed, "Accept-Encoding", "gzip").Header().Get("ETag")
		if plain == "" || plain == zipped {
			t.Fatalf("ETags %q and %q", plain, zipped)
		}
		if w := get(hashed, "Accept-Encoding", "gzip", "If-None-Match", zipped); w.Code != http.StatusNotModified || w.Body.Len() != 0 {
			t.Errorf("If-None-Match with the gzip ETag: %d", w.Code)
		}
		if w := get(hashed, "If-None-Match", zipped); w.Code != http.StatusOK {
			t.Errorf("the gzip ETag matched the plain body: %d", w.Code)
		}
	})
}
