// Package pagezip sends a page gzip-compressed without compressing it on
// every request. Pages differ from one response to the next only in a few
// bytes (the content security policy's nonce); the rest is deflated once
// per distinct page and kept, and each response copies those deflated
// pieces around the varying bytes, which go out as stored (uncompressed)
// deflate blocks.
//
// A deflate stream may be made of byte-aligned pieces deflated apart: each
// piece ends with an empty stored block (a sync flush), none refers back
// across its start, and only the last block is marked final (RFC 1951,
// 3.2.3 and 3.2.4). The gzip trailer's CRC-32 and length are those of the
// whole page (RFC 1952, 2.3).
package pagezip

import (
	"bytes"
	"encoding/binary"
	"hash/crc32"
	"sync"

	"github.com/hashicorp/golang-lru/v2/simplelru"
	"github.com/klauspost/compress/flate"
)

// header is a gzip member's header: deflate, no flags, no time, no extra
// flags, unknown operating system.
var header = [10]byte{0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 255}

// final is an empty stored block marked final: the stream's end.
var final = [5]byte{1, 0, 0, 0xff, 0xff}

// maxVary is the longest varying string written stored: a stored block
// holds at most 65,535 bytes, and a nonce is a few dozen.
const maxVary = 1 << 10

// Cache keeps, per key, the last page written under it, deflated in
// pieces. It is safe for concurrent use.
type Cache struct {
	mu      sync.Mutex // guards entries and bytes
	entries *simplelru.LRU[string, *entry]
	bytes   int
	max     int // bound of bytes kept; a page over a quarter of it is not kept
}

// entry is one page cut where its varying string stood: pieces[i] is the
// page's text between occurrences, deflated[i] the same deflated.
type entry struct {
	pieces   [][]byte
	deflated [][]byte
	size     int
}

// NewCache keeps at most n pages and about maxBytes of them (raw and
// deflated).
func NewCache(n, maxBytes int) *Cache {
	c := &Cache{max: maxBytes}
	c.entries, _ = simplelru.NewLRU(n, func(_ string, e *entry) { c.bytes -= e.size })
	return c
}

// Len is how many pages are kept and the bytes they take.
func (c *Cache) Len() (pages, bytes int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.entries.Len(), c.bytes
}

// Write appends page to dst as one gzip member. Every occurrence of vary
// (which should be a string no two responses share, such as a nonce) is
// written uncompressed; the text between is deflated, or copied deflated
// from the cache when page is, but for vary, the page last written under
// key. An empty key keeps nothing; an empty vary makes the whole page one
// piece.
func (c *Cache) Write(dst *bytes.Buffer, key string, page []byte, vary string) {
	if len(vary) > maxVary {
		vary = ""
	}
	var e *entry
	if c != nil && key != "" {
		c.mu.Lock()
		e, _ = c.entries.Get(key)
		c.mu.Unlock()
		if e != nil && !e.matches(page, vary) {
			e = nil
		}
	}
	if e == nil {
		keep := c != nil && key != ""
		e = cut(page, vary, keep)
		if keep {
			c.put(key, e)
		}
	}
	member(dst, e.deflated, vary, crc32.ChecksumIEEE(page), len(page))
}

// member appends one gzip member to dst: the deflated pieces with vary
// stored between each two, and the trailer of a text of n bytes whose
// CRC-32 is crc.
func member(dst *bytes.Buffer, deflated [][]byte, vary string, crc uint32, n int) {
	size := len(header) + len(final) + 8 + (len(deflated)-1)*(5+len(vary))
	for _, d := range deflated {
		size += len(d)
	}
	dst.Grow(size)
	dst.Write(header[:])
	for i, d := range deflated {
		if i > 0 {
			stored(dst, vary)
		}
		dst.Write(d)
	}
	dst.Write(final[:])
	var trailer [8]byte
	binary.LittleEndian.PutUint32(trailer[:4], crc)
	binary.LittleEndian.PutUint32(trailer[4:], uint32(n))
	dst.Write(trailer[:])
}

// matches reports whether page, cut at each occurrence of vary, is e's
// pieces, without copying page.
func (e *entry) matches(page []byte, vary string) bool {
	rest := page
	for i, p := range e.pieces {
		if len(rest) < len(p) || !bytes.Equal(rest[:len(p)], p) {
			return false
		}
		rest = rest[len(p):]
		if i == len(e.pieces)-1 {
			return len(rest) == 0
		}
		if !bytes.HasPrefix(rest, []byte(vary)) {
			return false
		}
		rest = rest[len(vary):]
	}
	return false
}

// cut makes page's entry: its pieces between occurrences of vary, each
// deflated, and copied if the entry is to be kept.
func cut(page []byte, vary string, keep bool) *entry {
	e := &entry{}
	rest := page
	for {
		i := -1
		if vary != "" {
			i = bytes.Index(rest, []byte(vary))
		}
		if i < 0 {
			e.add(rest, keep)
			return e
		}
		e.add(rest[:i], keep)
		rest = rest[i+len(vary):]
	}
}

func (e *entry) add(p []byte, keep bool) {
	if keep {
		p = bytes.Clone(p)
	}
	d := deflate(p)
	e.pieces = append(e.pieces, p)
	e.deflated = append(e.deflated, d)
	e.size += len(p) + len(d)
}

// writers are deflaters at the fastest level: a kept page is deflated once,
// a page not kept on every response, and the few percent a slower level
// saves on HTML do not pay for that.
var writers = sync.Pool{New: func() any {
	w, _ := flate.NewWriter(nil, flate.BestSpeed)
	return w
}}

// stored writes s as stored blocks, not final, into a byte-aligned
// stream: one block unless s is longer than a block holds (65,535 bytes).
func stored(dst *bytes.Buffer, s string) {
	for {
		part := s[:min(len(s), 0xffff)]
		n := uint16(len(part))
		dst.Write([]byte{0, byte(n), byte(n >> 8), byte(^n), byte(^n >> 8)})
		dst.WriteString(part)
		if s = s[len(part):]; s == "" {
			return
		}
	}
}

func (c *Cache) put(key string, e *entry) {
	if e.size > c.max/4 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if old, ok := c.entries.Peek(key); ok {
		c.bytes -= old.size // replacing does not call back
	}
	c.entries.Add(key, e)
	c.bytes += e.size
	for c.bytes > c.max {
		if _, _, ok := c.entries.RemoveOldest(); !ok {
			break
		}
	}
}
