package handlers

import (
	"context"
	"hash/maphash"
	"slices"
	"sync"
	"time"

	"github.com/hashicorp/golang-lru/v2/simplelru"

	"github.com/tapdesk/tapdesk"
)

// Sessions are read on every page; most reads find the row as the last
// read left it. Two caches spare the query, the unsealing and the decoding
// then, without ever serving a session that has changed:
//
//   - sessionRowCache keeps unsealed rows, each with the database's count
//     of committed writes it was read under (store.DB.Generation). Every
//     session write (sign-in, token rotation, sign-out, recorded activity)
//     and every other committed write advances the count, so a row is
//     served from memory only while nothing at all was written since it
//     was read, and never past the row's own expiry. A sign-out or an
//     ended session is therefore seen by the very next request. On a
//     database other instances write, the count is trusted only while
//     their change feed is up; otherwise every read goes to the database.
//   - sessionDecodeCache keeps decoded session data by its exact bytes:
//     the same bytes decode to the same values, so it needs no
//     invalidation at all.
//
// Idle and lifetime limits are checked on every request by loadPrincipal,
// from the decoded sign-in and activity times, cached or not.

// sessionCacheEntries bounds each cache: sessions in use on one instance
// (a shift of agents, a few approvers), with room to spare.
const sessionCacheEntries = 1024

// cachedRows is a session store that says when a row expires and counts
// committed writes (store.SessionRows); only such a store's rows are kept.
type cachedRows interface {
	FindExpiryCtx(ctx context.Context, key string) ([]byte, time.Time, bool, error)
	Generation() (n uint64, trusted bool)
}

// sessionRowCache keeps unsealed session rows by the token's hash (never
// the token), as bytes: the row key's hex (storeKey) is needed only to read
// the database.
type sessionRowCache struct {
	mu   sync.Mutex
	rows *simplelru.LRU[tokenHash, sessionRow]
}

type sessionRow struct {
	gen    uint64
	expiry time.Time
	plain  []byte
}

func newSessionRowCache(n int) *sessionRowCache {
	c, _ := simplelru.NewLRU[tokenHash, sessionRow](n, nil)
	return &sessionRowCache{rows: c}
}

// get returns the row under key if it was read under gen and has not
// expired by now.
func (c *sessionRowCache) get(key tokenHash, gen uint64, now time.Time) ([]byte, bool) {
	c.mu.Lock()
	r, ok := c.rows.Get(key)
	c.mu.Unlock()
	if !ok || r.gen != gen || !now.Before(r.expiry) {
		return nil, false
	}
	return r.plain, true
}

func (c *sessionRowCache) put(key tokenHash, r sessionRow) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if old, ok := c.rows.Peek(key); ok && old.gen > r.gen {
		return
	}
	c.rows.Add(key, r)
}

// forget drops the row under key (its session was written or ended: the
// count has moved on, so it would not be served; this frees it at once).
func (c *sessionRowCache) forget(key tokenHash) {
	c.mu.Lock()
	c.rows.Remove(key)
	c.mu.Unlock()
}

func (c *sessionRowCache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.rows.Len()
}

// sessionDecodeCache keeps decoded session data by its bytes.
type sessionDecodeCache struct {
	seed maphash.Seed
	mu   sync.Mutex
	data *simplelru.LRU[uint64, decodedSession]
}

type decodedSession struct {
	encoded  string // the exact bytes, compared on every hit
	deadline time.Time
	values   map[string]any // handed out as it is: never changed after put
}

func newSessionDecodeCache(n int) *sessionDecodeCache {
	c, _ := simplelru.NewLRU[uint64, decodedSession](n, nil)
	return &sessionDecodeCache{seed: maphash.MakeSeed(), data: c}
}

// get returns the values b decodes to: the cache's own map, which the
// caller must not change (a session copies it first: session.own).
func (c *sessionDecodeCache) get(b []byte) (time.Time, map[string]any, bool) {
	h := maphash.Bytes(c.seed, b)
	c.mu.Lock()
	d, ok := c.data.Get(h)
	c.mu.Unlock()
	if !ok || d.encoded != string(b) {
		return time.Time{}, nil, false
	}
	return d.deadline, d.values, true
}

func (c *sessionDecodeCache) put(b []byte, deadline time.Time, values map[string]any) {
	kept := make(map[string]any, len(values))
	for k, v := range values {
		if p, ok := v.(tapdesk.Principal); ok {
			// The cache's own roles: neither an append nor a change in
			// place by one reader writes into another's (the request that
			// decoded these keeps the slice it decoded).
			p.Roles = slices.Clip(slices.Clone(p.Roles))
			v = p
		}
		kept[k] = v
	}
	d := decodedSession{encoded: string(b), deadline: deadline, values: kept}
	c.mu.Lock()
	c.data.Add(maphash.Bytes(c.seed, b), d)
	c.mu.Unlock()
}

func (c *sessionDecodeCache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.data.Len()
}
