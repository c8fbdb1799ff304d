// Package ratelimit keeps the pace of limited actions (tapdesk.RateLimits)
// in memory, one token bucket (golang.org/x/time/rate) per limit and key.
// It counts for one instance; several instances behind a load balancer each
// count on their own until a shared limiter takes its place (issue 11).
package ratelimit

import (
	"context"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/tapdesk/tapdesk"
)

// DefaultMaxKeys bounds the memory of a Memory limiter: about 200 bytes a
// key, so some 20 MB at most.
const DefaultMaxKeys = 100_000

// sweepEvery is how often (on the clock passed in) idle keys are dropped.
const sweepEvery = time.Minute

// overflowKey is shared by the keys that arrive while the map is full of
// keys still in use, so a flood from ever new addresses stays limited.
const overflowKey = "\x00overflow"

type bucketKey struct {
	limit string
	key   string
}

type bucket struct {
	lim       *rate.Limiter
	window    time.Duration
	lastAudit time.Time
}

// idle reports whether dropping the bucket changes nothing: it is full
// again, and no refusal in the last window is waiting to be audited again.
func (b *bucket) idle(now time.Time) bool {
	return b.lim.TokensAt(now) >= float64(b.lim.Burst()) && (b.lastAudit.IsZero() || now.Sub(b.lastAudit) >= b.window)
}

// Memory is an in-process limiter. Time is what the caller passes, so the
// handlers' clock (and tests' clocks) rule it.
type Memory struct {
	mu        sync.Mutex
	buckets   map[bucketKey]*bucket
	maxKeys   int
	lastSweep time.Time
}

// NewMemory returns a limiter holding at most maxKeys keys (0: DefaultMaxKeys).
func NewMemory(maxKeys int) *Memory {
	if maxKeys <= 0 {
		maxKeys = DefaultMaxKeys
	}
	return &Memory{buckets: map[bucketKey]*bucket{}, maxKeys: maxKeys}
}

// Take spends one token of every check at now, or none of them: if any
// check is over its limit, nothing is spent and the first such check is
// returned. Limits that are off always pass.
func (m *Memory) Take(_ context.Context, now time.Time, checks ...tapdesk.RateCheck) (*tapdesk.RateRefusal, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if now.Sub(m.lastSweep) >= sweepEvery || now.Before(m.lastSweep) {
		m.sweep(now)
	}
	bs := make([]*bucket, len(checks))
	for i, ch := range checks {
		if ch.Limit.Off() {
			continue
		}
		b := m.bucket(ch, now)
		bs[i] = b
		if tokens := b.lim.TokensAt(now); tokens < 1 {
			wait := time.Duration((1 - tokens) / float64(b.lim.Limit()) * float64(time.Second))
			first := b.lastAudit.IsZero() || now.Sub(b.lastAudit) >= b.window
			if first {
				b.lastAudit = now
			}
			return &tapdesk.RateRefusal{Limit: ch.Limit, Key: ch.Key, RetryAt: now.Add(wait), FirstInWindow: first}, nil
		}
	}
	for _, b := range bs {
		if b != nil {
			b.lim.AllowN(now, 1)
		}
	}
	return nil, nil
}

// Len is the number of keys held (for tests of the memory bound).
func (m *Memory) Len() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.buckets)
}

func (m *Memory) bucket(ch tapdesk.RateCheck, now time.Time) *bucket {
	k := bucketKey{limit: ch.Limit.Name() + "=" + ch.Limit.String(), key: ch.Key}
	if b, ok := m.buckets[k]; ok {
		return b
	}
	if len(m.buckets) >= m.maxKeys {
		m.sweep(now)
		if len(m.buckets) >= m.maxKeys {
			k.key = overflowKey
			if b, ok := m.buckets[k]; ok {
				return b
			}
		}
	}
	every := rate.Every(ch.Limit.Window / time.Duration(ch.Limit.Count))
	b := &bucket{lim: rate.NewLimiter(every, ch.Limit.Count), window: ch.Limit.Window}
	m.buckets[k] = b
	return b
}

// sweep drops idle buckets: a full bucket is the same as a new one.
func (m *Memory) sweep(now time.Time) {
	m.lastSweep = now
	for k, b := range m.buckets {
		if b.idle(now) {
			delete(m.buckets, k)
		}
	}
}
