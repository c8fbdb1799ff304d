// Package ratelimit keeps the pace of limited actions (tapdesk.RateLimits)
// in memory, one token bucket (golang.org/x/time/rate) per limit and key.
// It counts for one instance: tapdesk uses it on SQLite, where one instance
// runs. On PostgreSQL, where several may run behind a load balancer, they
// count together in the database instead (store.RateLimiter).
package ratelimit

import (
	"context"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/tapdesk/tapdesk"
)

type bucketKey struct {
	limit string
	key   string
}

type bucket struct {
	lim *rate.Limiter
	key bucketKey
	at  int // index in its table's order, for removal in O(1)
}

func newBucket(l tapdesk.RateLimit, count int, k bucketKey) *bucket {
	every := rate.Every(l.Window / time.Duration(count))
	return &bucket{lim: rate.NewLimiter(every, count), key: k}
}

// idle reports whether dropping the bucket changes nothing: it is full
// again, as a new one would be.
func (b *bucket) idle(now time.Time) bool {
	return b.lim.TokensAt(now) >= float64(b.lim.Burst())
}

// table holds buckets by key, and in a slice that a cursor walks to drop
// idle ones a few at a time.
type table struct {
	by     map[bucketKey]*bucket
	order  []*bucket
	cursor int
}

func newTable() table { return table{by: map[bucketKey]*bucket{}} }

func (t *table) add(b *bucket) {
	b.at = len(t.order)
	t.order = append(t.order, b)
	t.by[b.key] = b
}

// sweep looks at up to n buckets from the cursor on and drops the idle ones.
func (t *table) sweep(now time.Time, n int) {
	for ; n > 0 && len(t.order) > 0; n-- {
		if t.cursor >= len(t.order) {
			t.cursor = 0
		}
		b := t.order[t.cursor]
		if !b.idle(now) {
			t.cursor++
			continue
		}
		// The last bucket takes the dropped one's place, and is looked at next.
		last := t.order[len(t.order)-1]
		last.at = b.at
		t.order[b.at] = last
		t.order[len(t.order)-1] = nil
		t.order = t.order[:len(t.order)-1]
		delete(t.by, b.key)
	}
}

// Memory is an in-process limiter. Time is what the caller passes, so the
// handlers' clock (and tests' clocks) rule it.
//
// People's buckets are never capped: only the tenant's people sign in.
// Addresses' are, at maxAddresses; addresses arriving while that many are
// in use share one overflow bucket per limit, RateOverflowShare times as
// wide as one address's, so a flood from fresh addresses is held to it
// while newcomers are paced rather than locked out. The overflow is for
// anonymous requests only: a check set with a person check skips an
// address that has no bucket of its own, so a flood that drains the
// overflow cannot lock out signed-in staff; their own bucket governs.
type Memory struct {
	mu           sync.Mutex
	persons      table
	addresses    table
	overflow     map[string]*bucket // by limit
	maxAddresses int
}

// NewMemory returns a limiter holding at most maxAddresses address keys
// (0: tapdesk.RateMaxAddressKeys).
func NewMemory(maxAddresses int) *Memory {
	if maxAddresses <= 0 {
		maxAddresses = tapdesk.RateMaxAddressKeys
	}
	return &Memory{persons: newTable(), addresses: newTable(), overflow: map[string]*bucket{}, maxAddresses: maxAddresses}
}

// Take spends one token of every check at now, or none of them: if any
// check is over its limit, nothing is spent and the first such check is
// returned. Limits that are off always pass.
func (m *Memory) Take(_ context.Context, now time.Time, checks ...tapdesk.RateCheck) (*tapdesk.RateRefusal, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.persons.sweep(now, tapdesk.RateSweepStep)
	m.addresses.sweep(now, tapdesk.RateSweepStep)
	signedIn := false
	for _, ch := range checks {
		if ch.Limit.Scope == tapdesk.PerPerson {
			signedIn = true
		}
	}
	bs := make([]*bucket, len(checks))
	for i, ch := range checks {
		if ch.Limit.Off() {
			continue
		}
		b := m.bucket(ch, signedIn)
		if b == nil {
			continue
		}
		bs[i] = b
		if tokens := b.lim.TokensAt(now); tokens < 1 {
			wait := time.Duration((1 - tokens) / float64(b.lim.Limit()) * float64(time.Second))
			return &tapdesk.RateRefusal{Limit: ch.Limit, Key: ch.Key, RetryAt: now.Add(wait)}, nil
		}
	}
	for _, b := range bs {
		if b != nil {
			b.lim.AllowN(now, 1)
		}
	}
	return nil, nil
}

// Len is the number of keys held, people's and addresses' (for tests of
// the memory bound).
func (m *Memory) Len() (persons, addresses int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.persons.by), len(m.addresses.by)
}

// bucket returns the check's bucket, adding it if there is room. An
// address with no room goes to the overflow, or, for a signed-in person
// (signedIn), to no bucket at all (nil): the person's own limit governs.
func (m *Memory) bucket(ch tapdesk.RateCheck, signedIn bool) *bucket {
	k := bucketKey{limit: ch.Limit.Name() + "=" + ch.Limit.String(), key: ch.Key}
	t := &m.addresses
	if ch.Limit.Scope == tapdesk.PerPerson {
		t = &m.persons
	}
	if b, ok := t.by[k]; ok {
		return b
	}
	if t == &m.addresses && len(t.by) >= m.maxAddresses {
		if signedIn {
			return nil
		}
		b, ok := m.overflow[k.limit]
		if !ok {
			b = newBucket(ch.Limit, ch.Limit.Count*tapdesk.RateOverflowShare, bucketKey{limit: k.limit})
			m.overflow[k.limit] = b
		}
		return b
	}
	b := newBucket(ch.Limit, ch.Limit.Count, k)
	t.add(b)
	return b
}
