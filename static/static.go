// Package static serves tapdesk's stylesheet, its small progressive-
// enhancement script and its icon, embedded in the binary.
//
// Each file is served under a name that carries a hash of its content
// (app.3f9c1a2b.css), which pages link to through URL: browsers and proxies
// may keep it for a year without asking again, and a new release links to
// new names. The plain names (app.css) keep working for bookmarks and old
// mail, but are revalidated on every use.
package static

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	"io/fs"
	"mime"
	"net/http"
	"path"
	"strconv"
	"strings"
	"sync"
	"time"
)

//go:embed *.css *.js *.svg
var files embed.FS

// assets are the embedded files, hashed once at start. They are part of
// the binary, so names computed from them cannot go stale as names
// generated at build time could; hashing takes microseconds. Each is
// compressed at its first request instead: gzip at its best level takes
// tens of milliseconds and allocates about a megabyte per file, which at
// start only grew the idle server's resident memory.
var assets = mustLoad(files)

const (
	// Prefix is where the files are mounted.
	Prefix = "/static/"
	// hashLen is how many hex digits of the content's SHA-256 go in a
	// name: enough that two releases of a file never share one.
	hashLen = 8
	// immutable is for hashed names: their content never changes.
	immutable = "public, max-age=31536000, immutable"
	// revalidate is for plain names and names with another release's hash:
	// they may be kept, but are checked (a 304 when unchanged) before use.
	revalidate = "public, no-cache"
	// gzipAtLeast is the smallest file worth compressing: below it the
	// header and the Vary cost more than they save.
	gzipAtLeast = 512
)

// asset is one embedded file, ready to serve.
type asset struct {
	hashedName  string // app.3f9c1a2b.css
	url         string // Prefix + hashedName, made once: every page links to it
	contentType string
	etag        string // of the plain bytes; gzipped ones add -gzip
	plain       []byte
	// gzipped is plain compressed, computed once at first use; nil when
	// compressing does not pay.
	gzipped func() []byte
}

// catalog holds the assets by plain name.
type catalog map[string]*asset

func mustLoad(fsys fs.FS) catalog {
	c, err := load(fsys)
	if err != nil {
		panic(fmt.Sprintf("static: %v", err)) // embedded at build time: cannot happen in a built binary
	}
	return c
}

func load(fsys fs.FS) (catalog, error) {
	c := catalog{}
	err := fs.WalkDir(fsys, ".", func(name string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(fsys, name)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(b)
		hash := hex.EncodeToString(sum[:])
		ext := path.Ext(name)
		a := &asset{
			hashedName:  strings.TrimSuffix(name, ext) + "." + hash[:hashLen] + ext,
			contentType: mime.TypeByExtension(ext),
			etag:        `"` + hash[:2*hashLen] + `"`,
			plain:       b,
		}
		a.url = Prefix + a.hashedName
		if a.contentType == "" {
			a.contentType = "application/octet-stream"
		}
		a.gzipped = sync.OnceValue(func() []byte { return compress(b) })
		c[name] = a
		return nil
	})
	return c, err
}

// compress returns b gzipped, or nil when b is tiny or does not shrink by
// a tenth (already compressed). Writing to memory at a valid level cannot
// fail; were it to, the file is served plain.
func compress(b []byte) []byte {
	if len(b) < gzipAtLeast {
		return nil
	}
	var buf bytes.Buffer
	zw, err := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	if err != nil {
		return nil
	}
	if _, err := zw.Write(b); err != nil {
		return nil
	}
	if err := zw.Close(); err != nil || buf.Len() > len(b)*9/10 {
		return nil
	}
	return buf.Bytes()
}

// URL is the address pages link the named file at (name as in this
// folder: "app.css"): its hashed name under Prefix. A name that is not
// embedded gets its plain address, which answers 404.
func URL(name string) string {
	if a, ok := assets[name]; ok {
		return a.url
	}
	return Prefix + name
}

// Serve answers a GET for the file at name (the path under Prefix) and
// says whether there is one; if not, nothing is written (the caller
// answers 404). A hashed name with another release's hash gets this
// release's file, revalidated: during a rolling upgrade a page from the
// other release still gets its styles, and nothing wrong is kept for a year.
func Serve(w http.ResponseWriter, r *http.Request, name string) bool {
	a, cache := lookup(name)
	if a == nil {
		return false
	}
	h := w.Header()
	h.Set("Cache-Control", cache)
	h.Set("Content-Type", a.contentType)
	body, etag := a.plain, a.etag
	if gz := a.gzipped(); gz != nil {
		h.Add("Vary", "Accept-Encoding")
		if acceptsGzip(r.Header.Values("Accept-Encoding")) {
			body, etag = gz, strings.TrimSuffix(a.etag, `"`)+`-gzip"`
			h.Set("Content-Encoding", "gzip")
		}
	}
	h.Set("ETag", etag)
	// ServeContent answers If-None-Match with 304, and ranges and HEAD.
	http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(body))
	return true
}

// lookup finds the asset at name and how long it may be kept.
func lookup(name string) (*asset, string) {
	if a, ok := assets[name]; ok {
		return a, revalidate
	}
	ext := path.Ext(name)
	stem, hash := path.Ext(strings.TrimSuffix(name, ext)), ""
	if len(stem) == hashLen+1 {
		hash = stem[1:]
	}
	if !isHex(hash) {
		return nil, ""
	}
	a, ok := assets[strings.TrimSuffix(name, stem+ext)+ext]
	switch {
	case !ok:
		return nil, ""
	case a.hashedName == name:
		return a, immutable
	}
	return a, revalidate
}

func isHex(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if !('0' <= r && r <= '9' || 'a' <= r && r <= 'f') {
			return false
		}
	}
	return true
}

// acceptsGzip says whether Accept-Encoding header values allow gzip: named
// (or as x-gzip) with a weight above zero, or covered by "*" when not named.
func acceptsGzip(values []string) bool {
	star := false
	for _, v := range values {
		for part := range strings.SplitSeq(v, ",") {
			coding, params, _ := strings.Cut(part, ";")
			coding = strings.ToLower(strings.TrimSpace(coding))
			ok := weight(params) > 0
			switch coding {
			case "gzip", "x-gzip":
				return ok
			case "*":
				star = ok
			}
		}
	}
	return star
}

// weight is the q parameter of an Accept-Encoding element (1 when absent,
// 0 when malformed).
func weight(params string) float64 {
	for p := range strings.SplitSeq(params, ";") {
		k, v, _ := strings.Cut(p, "=")
		if strings.EqualFold(strings.TrimSpace(k), "q") {
			q, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			if err != nil || q < 0 {
				return 0
			}
			return q
		}
	}
	return 1
}
