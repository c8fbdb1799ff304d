package pagezip

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"strings"
	"testing"
)

// gunzip reads a gzip member with the standard library's reader, which
// checks the CRC-32 and the length.
func gunzip(t testing.TB, b []byte) []byte {
	t.Helper()
	r, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("not gzip: %v", err)
	}
	r.Multistream(false)
	got, err := io.ReadAll(r)
	if err != nil {
		t.Fatalf("reading the gzip member: %v", err)
	}
	if rest, _ := io.ReadAll(r); len(rest) != 0 {
		t.Fatalf("%d bytes after the member", len(rest))
	}
	return got
}

func page(nonce, body string) []byte {
	return []byte(`<!doctype html><html><head><script src="/static/app.js" nonce="` + nonce + `"></script></head><body>` +
		body + `<p data-nonce="` + nonce + `">end</p></body></html>`)
}

func TestWriteRoundTrips(t *testing.T) {
	rows := strings.Repeat(`<tr><td><a href="/requests/x">Nina Newhire</a></td><td>INC-4711</td></tr>`, 40)
	c := NewCache(8, 1<<20)
	for _, tc := range []struct {
		name, key, vary string
		page            []byte
	}{
		{"kept", "agent", "n0nce1", page("n0nce1", rows)},
		{"kept again, another nonce", "agent", "n0nce2", page("n0nce2", rows)},
		{"kept, the page changed", "agent", "n0nce3", page("n0nce3", rows+"<p>Request filed.</p>")},
		{"not kept", "", "n0nce4", page("n0nce4", rows)},
		{"no varying part", "other", "", page("n0nce5", rows)},
		{"vary absent", "third", "absent", page("n0nce6", rows)},
		{"empty page", "empty", "x", nil},
		{"only the varying part", "only", "abc", []byte("abc")},
		{"varying part at both ends", "ends", "ab", []byte("ab middle ab")},
		{"adjacent", "adj", "ab", []byte("ababab")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var dst bytes.Buffer
			c.Write(&dst, tc.key, tc.page, tc.vary)
			if got := gunzip(t, dst.Bytes()); !bytes.Equal(got, tc.page) {
				t.Fatalf("gunzipped:\n%s\nwant:\n%s", got, tc.page)
			}
			if len(tc.page) > 1000 && dst.Len() > len(tc.page)/4 {
				t.Errorf("%d bytes compressed to %d", len(tc.page), dst.Len())
			}
		})
	}
}

// TestKeptPageIsNotDeflatedAgain checks the point of the cache: a page that
// differs only in its nonce is written from the kept pieces, and a changed
// page is not.
func TestKeptPageIsNotDeflatedAgain(t *testing.T) {
	c := NewCache(8, 1<<20)
	rows := strings.Repeat("<li>row</li>", 200)
	var a, b bytes.Buffer
	c.Write(&a, "k", page("AAAA", rows), "AAAA")
	c.mu.Lock()
	first, _ := c.entries.Peek("k")
	c.mu.Unlock()
	c.Write(&b, "k", page("BBBB", rows), "BBBB")
	c.mu.Lock()
	second, _ := c.entries.Peek("k")
	c.mu.Unlock()
	if first != second {
		t.Fatal("the same page with another nonce was deflated again")
	}
	// The two responses differ exactly where the nonce is.
	if a.Len() != b.Len() || bytes.Equal(a.Bytes(), b.Bytes()) {
		t.Fatalf("responses of %d and %d bytes; want equal lengths, different bytes", a.Len(), b.Len())
	}
	if got := gunzip(t, b.Bytes()); !bytes.Equal(got, page("BBBB", rows)) {
		t.Fatal("the kept page came back wrong")
	}
	var changed bytes.Buffer
	c.Write(&changed, "k", page("CCCC", rows+"!"), "CCCC")
	if got := gunzip(t, changed.Bytes()); !bytes.Equal(got, page("CCCC", rows+"!")) {
		t.Fatal("a changed page was written from the old one")
	}
}

func TestCacheBounds(t *testing.T) {
	c := NewCache(3, 64<<10)
	for i := range 10 {
		var dst bytes.Buffer
		c.Write(&dst, fmt.Sprint(i), page("n", strings.Repeat(fmt.Sprint(i), 2000)), "n")
	}
	if n, size := c.Len(); n != 3 || size > 64<<10 {
		t.Errorf("%d pages, %d bytes kept; want 3, at most 64 KiB", n, size)
	}
	var dst bytes.Buffer
	big := page("n", strings.Repeat("x", 20<<10))
	c.Write(&dst, "big", big, "n")
	if got := gunzip(t, dst.Bytes()); !bytes.Equal(got, big) {
		t.Fatal("a page too large to keep came back wrong")
	}
	c.mu.Lock()
	_, kept := c.entries.Peek("big")
	c.mu.Unlock()
	if kept {
		t.Error("a page over a quarter of the bound was kept")
	}
}

func FuzzWrite(f *testing.F) {
	f.Add([]byte("<p>hello nonce world nonce</p>"), "nonce", []byte("<p>hello nonce</p>"))
	f.Add([]byte(""), "", []byte("x"))
	c := NewCache(4, 1<<20)
	f.Fuzz(func(t *testing.T, first []byte, vary string, second []byte) {
		for _, p := range [][]byte{first, second, first} {
			var dst bytes.Buffer
			c.Write(&dst, "k", p, vary)
			if got := gunzip(t, dst.Bytes()); !bytes.Equal(got, p) {
				t.Fatalf("gunzipped %q, want %q (vary %q)", got, p, vary)
			}
		}
	})
}

// BenchmarkWriteKept is a kept dashboard-sized page written with a new
// nonce, against deflating it whole (BenchmarkWriteNotKept).
func BenchmarkWriteKept(b *testing.B) {
	benchWrite(b, "k")
}

func BenchmarkWriteNotKept(b *testing.B) {
	benchWrite(b, "")
}

func benchWrite(b *testing.B, key string) {
	rows := strings.Repeat(`<tr><td><a class="row-link" href="/requests/e4yftxcqzsv4zdd66l2m3zcuvq"><bdi>Nina Newhire</bdi></a> `+
		`<span class="muted upn"><bdi>nina.newhire@contoso.example</bdi></span></td><td>INC-4711</td></tr>`, 40)
	p := page("mNMyF9+pcmOJ30tlU8p29g", rows)
	c := NewCache(8, 1<<20)
	var dst bytes.Buffer
	c.Write(&dst, key, p, "mNMyF9+pcmOJ30tlU8p29g")
	b.SetBytes(int64(len(p)))
	b.ReportAllocs()
	for b.Loop() {
		dst.Reset()
		c.Write(&dst, key, p, "mNMyF9+pcmOJ30tlU8p29g")
	}
	b.ReportMetric(float64(dst.Len()), "out-bytes")
}
