package handlers

import (
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/golang-lru/v2/simplelru"

	"github.com/tapdesk/tapdesk"
	"github.com/tapdesk/tapdesk/pagezip"
)

// Bounds of the dashboard cache: an entry per person who opened the
// dashboard lately, the least recently used dropped first. A helpdesk's
// shift is tens of people; an entry is a few kB (an approver's list of 200
// pending requests about 100 kB), so the byte bound is what holds when
// lists are long.
const (
	dashboardCacheEntries = 512
	dashboardCacheBytes   = 16 << 20
)

// dashboardCache keeps each person's rendered dashboard lists with the
// database's count of committed writes they were read under
// (store.DB.Generation). An entry serves only while that count is
// unchanged, so any committed write (a request filed, decided, cancelled,
// expired by the sweep, a session written) makes every person's next
// dashboard read again: coarse, but nothing that changes a list can be
// missed, and between writes (most of the time) a reload costs nothing.
type dashboardCache struct {
	mu      sync.Mutex // guards entries and bytes
	entries *simplelru.LRU[string, dashboardEntry]
	bytes   int
	maxByte int
}

// dashboardEntry is one person's rendered lists, and the whole page
// around them once it has been sent (keptPage).
type dashboardEntry struct {
	gen   uint64    // the database's write count when the lists were read
	built time.Time // when they were read, by the handler's clock
	until time.Time // when time alone changes them (a deadline); zero: never
	html  string
	page  *keptPage
}

// keptPage is the plain dashboard page around an entry's lists, cut where
// its nonce was: sent again as before + the request's nonce + after. It
// was rendered for the CSRF token csrf (the sign-out form carries it).
// zip is the same deflated, if the request that kept it was sent it
// compressed (renderKept). Nothing in it changes once kept.
type keptPage struct {
	csrf, before, after string
	zip                 *pagezip.Cut
	// The page's Content-Length as sent, plain and compressed: the nonce,
	// the one part that differs, is always as long.
	length, zipLength keptLength
}

// keptLength is a Content-Length value kept for the next answer of the
// same length, shared by the answers (nothing changes a header value in
// place, and a one-element slice never grows in place).
type keptLength struct{ v atomic.Pointer[lengthValue] }

type lengthValue struct {
	n     int
	value []string
}

// of is the Content-Length value of n bytes.
func (k *keptLength) of(n int) []string {
	if v := k.v.Load(); v != nil && v.n == n {
		return v.value
	}
	v := &lengthValue{n: n, value: []string{strconv.Itoa(n)}}
	k.v.Store(v)
	return v.value
}

// size is what an entry holds, in bytes, for the byte bound.
func (e dashboardEntry) size() int {
	n := len(e.html)
	if pg := e.page; pg != nil {
		n += len(pg.csrf) + len(pg.before) + len(pg.after)
		if pg.zip != nil {
			n += pg.zip.Size()
		}
	}
	return n
}

func newDashboardCache(entries, maxBytes int) *dashboardCache {
	c := &dashboardCache{maxByte: maxBytes}
	// The LRU calls back from inside its own calls, made with c.mu held.
	c.entries, _ = simplelru.NewLRU(entries, func(_ string, e dashboardEntry) { c.bytes -= e.size() })
	return c
}

// get returns the lists kept for key, if they were read under gen and time
// has not changed them by now.
func (c *dashboardCache) get(key string, gen uint64, now time.Time) (string, bool) {
	c.mu.Lock()
	e, ok := c.entries.Get(key)
	c.mu.Unlock()
	if !ok || e.gen != gen || now.Before(e.built) || (!e.until.IsZero() && !now.Before(e.until)) {
		return "", false
	}
	return e.html, true
}

// put keeps e for key, replacing what was there, and drops the least
// recently used entries while the total is over the byte bound.
func (c *dashboardCache) put(key string, e dashboardEntry) {
	if len(e.html) > c.maxByte {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if old, ok := c.entries.Peek(key); ok {
		if old.gen > e.gen {
			return // a read under a newer count got here first
		}
		c.bytes -= old.size() // replacing does not call back
	}
	c.entries.Add(key, e)
	c.bytes += e.size()
	c.bound()
}

// bound drops the least recently used entries while the total is over the
// byte bound. c.mu is held.
func (c *dashboardCache) bound() {
	for c.bytes > c.maxByte {
		if _, _, ok := c.entries.RemoveOldest(); !ok {
			break
		}
	}
}

// page returns the page kept around key's lists, if those are still html
// (the lists the caller was given for this request) and the page was
// rendered for the CSRF token csrf.
func (c *dashboardCache) page(key, html, csrf string) (*keptPage, bool) {
	c.mu.Lock()
	e, ok := c.entries.Peek(key)
	c.mu.Unlock()
	// Strings compare their pointers first: the lists just handed out
	// are the very string kept, so this costs no byte compare.
	if !ok || e.page == nil || e.html != html || e.page.csrf != csrf {
		return nil, false
	}
	return e.page, true
}

// keepPage keeps pg around key's lists, if they are still html: an entry
// replaced meanwhile (a write, a deadline) has other lists, and the page
// of the old ones must not come back with it.
func (c *dashboardCache) keepPage(key, html string, pg *keptPage) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.entries.Peek(key)
	if !ok || e.html != html {
		return
	}
	old := e.size()
	e.page = pg
	if e.size() > c.maxByte {
		return // an entry larger than the whole bound would empty the cache
	}
	c.entries.Add(key, e) // replacing: no call back, the place in line kept as a use
	c.bytes += e.size() - old
	c.bound()
}

// len is how many people's lists are kept, and their size.
func (c *dashboardCache) len() (entries, bytes int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.entries.Len(), c.bytes
}

// viewerKey names everything about p that the lists depend on: identity
// and roles (which lists, whose requests, which they may decide), and the
// display fields for good measure. Each field is length-prefixed, so no
// choice of values makes two people's keys equal.
func viewerKey(p tapdesk.Principal) string {
	var b strings.Builder
	n := len(p.TenantID) + len(p.ObjectID) + len(p.UPN) + len(p.Email) + len(p.Name) + 5*4
	for _, r := range p.Roles {
		n += len(r) + 4
	}
	b.Grow(n) // one allocation for the key (most lengths take 1-3 digits and a colon)
	field := func(s string) {
		b.WriteString(strconv.Itoa(len(s)))
		b.WriteByte(':')
		b.WriteString(s)
	}
	field(p.TenantID)
	field(p.ObjectID)
	field(p.UPN)
	field(p.Email)
	field(p.Name)
	for _, r := range p.Roles {
		field(string(r))
	}
	return b.String()
}
