package store_test

import (
	"bytes"
	"context"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tapdesk/tapdesk"
	"github.com/tapdesk/tapdesk/internal/pgtest"
	"github.com/tapdesk/tapdesk/ratelimit"
	"github.com/tapdesk/tapdesk/store"
)

// twoInstances opens the test's database twice, as two tapdesk instances
// would (two pools, two limiters with the same secret).
func twoInstances(t *testing.T) (a, b *store.RateLimiter, dbA *store.DB) {
	t.Helper()
	dbA, dsn := openDB(t)
	dbB, err := store.Open(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { dbB.Close() })
	a = rateLimiter(t, dbA, testAuditKey)
	b = rateLimiter(t, dbB, testAuditKey)
	return a, b, dbA
}

func rateLimiter(t *testing.T, db *store.DB, secret string) *store.RateLimiter {
	t.Helper()
	l, err := db.RateLimiter(secret)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

var (
	fileLimit    = tapdesk.RateLimit{Action: tapdesk.RateFile, Scope: tapdesk.PerPerson, Count: 7, Window: 10 * time.Minute}
	fileAddress  = tapdesk.RateLimit{Action: tapdesk.RateFile, Scope: tapdesk.PerAddress, Count: 30, Window: 10 * time.Minute}
	signInLimit  = tapdesk.RateLimit{Action: tapdesk.RateSignIn, Scope: tapdesk.PerAddress, Count: 3, Window: time.Minute}
	attackerUPN  = "mallory.attacker@contoso.example"
	attackerAddr = "203.0.113.66"
)

// The attack of issue 11: 60 tries at once, alternating between two
// instances on one database, let exactly the limit through, where two
// in-memory limiters let through twice as many. The instances' handles
// are separate pools, so the tries really race on the row.
func TestRateLimitHoldsAcrossInstances(t *testing.T) {
	pgtest.Backends(t, func(t *testing.T) {
		a, b, _ := twoInstances(t)
		instances := []handlersLimiter{a, b}
		if n := admittedAtOnce(t, instances, 60); n != fileLimit.Count {
			t.Fatalf("%d of 60 tries across two instances let through, want the limit %d", n, fileLimit.Count)
		}
		// What the shared limiter replaces: each instance counting alone.
		perInstance := []handlersLimiter{ratelimit.NewMemory(0), ratelimit.NewMemory(0)}
		if n := admittedAtOnce(t, perInstance, 60); n != 2*fileLimit.Count {
			t.Fatalf("two in-memory limiters let %d through; the test assumes %d", n, 2*fileLimit.Count)
		}
		// A refused try tells when to come back: one interval after the
		// limit's last action, as the in-memory limiter says (10m/7 is
		// not a whole number of nanoseconds).
		refused, err := a.Take(context.Background(), t0, tapdesk.RateCheck{Limit: fileLimit, Key: attackerUPN})
		if err != nil || refused == nil {
			t.Fatalf("an eighth try: %+v %v", refused, err)
		}
		if want := t0.Add(fileLimit.Interval()); refused.RetryAt.Sub(want).Abs() > time.Microsecond || refused.Key != attackerUPN || refused.Limit != fileLimit {
			t.Fatalf("refusal %+v, want retry at %s", refused, want)
		}
		if again, _ := b.Take(context.Background(), refused.RetryAt, tapdesk.RateCheck{Limit: fileLimit, Key: attackerUPN}); again != nil {
			t.Fatalf("refused again at the retry time on the other instance: %+v", again)
		}
	})
}

type handlersLimiter interface {
	Take(ctx context.Context, now time.Time, checks ...tapdesk.RateCheck) (*tapdesk.RateRefusal, error)
}

// admittedAtOnce fires n tries of the attacker's filing limit at one
// instant, alternating between instances, and counts those let through.
func admittedAtOnce(t *testing.T, instances []handlersLimiter, n int) int {
	t.Helper()
	var admitted atomic.Int64
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			refused, err := instances[i%len(instances)].Take(context.Background(), t0,
				tapdesk.RateCheck{Limit: fileLimit, Key: attackerUPN}, tapdesk.RateCheck{Limit: fileAddress, Key: attackerAddr})
			if err != nil {
				t.Error(err)
				return
			}
			if refused == nil {
				admitted.Add(1)
			}
		}()
	}
	close(start)
	wg.Wait()
	return int(admitted.Load())
}

// The shared limiter lets through what the in-memory one does, at every
// moment of a random stream of tries spread over two instances: the same
// bucket, kept as one time in a row.
func TestRateLimiterPacesAsMemory(t *testing.T) {
	pgtest.Backends(t, func(t *testing.T) {
		a, b, _ := twoInstances(t)
		mem := ratelimit.NewMemory(0)
		rng := rand.New(rand.NewPCG(11, 11))
		now := t0
		for i := range 300 {
			// Bursts and pauses: mostly quick tries, sometimes a wait long
			// enough to give several back. Nanoseconds, so no try lands on
			// a refill's exact instant, where float and integer time differ.
			now = now.Add(time.Duration(rng.Int64N(int64(5 * time.Second))))
			if rng.IntN(10) == 0 {
				now = now.Add(time.Duration(rng.Int64N(int64(time.Minute))))
			}
			ch := tapdesk.RateCheck{Limit: signInLimit, Key: attackerAddr}
			want, err := mem.Take(context.Background(), now, ch)
			if err != nil {
				t.Fatal(err)
			}
			got, err := []*store.RateLimiter{a, b}[i%2].Take(context.Background(), now, ch)
			if err != nil {
				t.Fatal(err)
			}
			if (got == nil) != (want == nil) {
				t.Fatalf("try %d at %s: shared %+v, memory %+v", i, now, got, want)
			}
			if got != nil && got.RetryAt.Sub(want.RetryAt).Abs() > time.Microsecond {
				t.Fatalf("try %d: retry at %s, memory says %s", i, got.RetryAt, want.RetryAt)
			}
		}
	})
}

// A check set refused by its address limit spends nothing of the person's
// limit (as in memory): a signed-in person behind a flooded address keeps
// their own actions for when the address is let through again.
func TestRateLimiterRefusedSetSpendsNothing(t *testing.T) {
	pgtest.Backends(t, func(t *testing.T) {
		db, _ := openDB(t)
		l := rateLimiter(t, db, testAuditKey)
		ctx := context.Background()
		address := tapdesk.RateLimit{Action: tapdesk.RateFile, Scope: tapdesk.PerAddress, Count: 2, Window: 10 * time.Minute}
		for i := range 2 {
			if r, err := l.Take(ctx, t0, tapdesk.RateCheck{Limit: address, Key: attackerAddr}); r != nil || err != nil {
				t.Fatalf("address try %d: %+v %v", i, r, err)
			}
		}
		for i := range 5 {
			r, err := l.Take(ctx, t0, tapdesk.RateCheck{Limit: fileLimit, Key: attackerUPN}, tapdesk.RateCheck{Limit: address, Key: attackerAddr})
			if err != nil || r == nil || r.Limit != address {
				t.Fatalf("try %d behind the spent address: %+v %v", i, r, err)
			}
		}
		// The person has all 7 left, from another address.
		for i := range fileLimit.Count {
			if r, err := l.Take(ctx, t0, tapdesk.RateCheck{Limit: fileLimit, Key: attackerUPN}); r != nil || err != nil {
				t.Fatalf("person try %d: %+v %v", i, r, err)
			}
		}
		if r, _ := l.Take(ctx, t0, tapdesk.RateCheck{Limit: fileLimit, Key: attackerUPN}); r == nil {
			t.Fatal("the person's eighth try was let through")
		}
		// An off limit is not counted, and needs no row.
		off := tapdesk.RateLimit{Action: tapdesk.RateSearch, Scope: tapdesk.PerPerson}
		for range 3 {
			if r, err := l.Take(ctx, t0, tapdesk.RateCheck{Limit: off, Key: attackerUPN}); r != nil || err != nil {
				t.Fatalf("an off limit: %+v %v", r, err)
			}
		}
		if n := rateRows(t, db, "search.person"); n != 0 {
			t.Fatalf("an off limit wrote %d rows", n)
		}
	})
}

func rateRows(t *testing.T, db *store.DB, limit string) int {
	t.Helper()
	var n int
	if err := db.SQL().QueryRow(`SELECT COUNT(*) FROM rate_limits WHERE limit_name = ?`, limit).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// The sweep deletes the rows of keys that have their whole limit back, and
// keeps the others; a key swept counts afresh, as it would have anyway.
func TestSweepRateLimits(t *testing.T) {
	pgtest.Backends(t, func(t *testing.T) {
		db, _ := openDB(t)
		l := rateLimiter(t, db, testAuditKey)
		ctx := context.Background()
		// One try each from 50 addresses at t0, and three (the limit) from
		// one at t0+30s: their buckets are full again at t0+20s and t0+90s.
		for i := range 50 {
			if r, err := l.Take(ctx, t0, tapdesk.RateCheck{Limit: signInLimit, Key: "198.51.100." + string(rune('0'+i%10)) + string(rune('0'+i/10))}); r != nil || err != nil {
				t.Fatalf("address %d: %+v %v", i, r, err)
			}
		}
		busy := tapdesk.RateCheck{Limit: signInLimit, Key: attackerAddr}
		for range 3 {
			if r, err := l.Take(ctx, t0.Add(30*time.Second), busy); r != nil || err != nil {
				t.Fatalf("busy address: %+v %v", r, err)
			}
		}
		if n, err := db.SweepRateLimits(ctx, t0.Add(10*time.Second)); err != nil || n != 0 {
			t.Fatalf("sweep before any bucket is full: %d %v", n, err)
		}
		if n, err := db.SweepRateLimits(ctx, t0.Add(20*time.Second)); err != nil || n != 50 {
			t.Fatalf("sweep once the 50 are full: %d deleted, %v", n, err)
		}
		if n := rateRows(t, db, signInLimit.Name()); n != 1 {
			t.Fatalf("%d rows left, want the busy address's", n)
		}
		// The busy address is still refused: its row was kept.
		if r, _ := l.Take(ctx, t0.Add(31*time.Second), busy); r == nil {
			t.Fatal("the busy address's fourth try was let through after the sweep")
		}
		if n, err := db.SweepRateLimits(ctx, t0.Add(90*time.Second)); err != nil || n != 1 {
			t.Fatalf("sweep once the busy address is full: %d %v", n, err)
		}
	})
}

// The table holds no person's name or id and no address: keys are an HMAC
// under the secret, so they differ under another secret (not a bare hash
// anyone could compute from a guessed UPN).
func TestRateLimitRowsHoldNoKeys(t *testing.T) {
	pgtest.Backends(t, func(t *testing.T) {
		db, _ := openDB(t)
		ctx := context.Background()
		l := rateLimiter(t, db, testAuditKey)
		if _, err := db.RateLimiter("short"); err == nil {
			t.Fatal("a short secret was taken")
		}
		person := tapdesk.RateCheck{Limit: fileLimit, Key: attackerUPN}
		address := tapdesk.RateCheck{Limit: fileAddress, Key: attackerAddr}
		if r, err := l.Take(ctx, t0, person, address); r != nil || err != nil {
			t.Fatalf("%+v %v", r, err)
		}
		other := rateLimiter(t, db, "another-secret-of-32-characters-or-more")
		if r, err := other.Take(ctx, t0, person); r != nil || err != nil {
			t.Fatalf("%+v %v", r, err)
		}
		rows, err := db.SQL().Query(`SELECT limit_name, key_hash, tat FROM rate_limits ORDER BY limit_name`)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		var hashes [][]byte
		for rows.Next() {
			var name string
			var hash []byte
			var tat int64
			if err := rows.Scan(&name, &hash, &tat); err != nil {
				t.Fatal(err)
			}
			for _, plain := range []string{attackerUPN, "mallory", attackerAddr, "203.0.113"} {
				if bytes.Contains(hash, []byte(plain)) || bytes.Contains([]byte(name), []byte(plain)) {
					t.Fatalf("row %q %x holds %q", name, hash, plain)
				}
			}
			if len(hash) != 32 {
				t.Fatalf("key hash of %d bytes", len(hash))
			}
			hashes = append(hashes, hash)
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
		if len(hashes) != 3 {
			t.Fatalf("%d rows, want the person's under two secrets and the address's", len(hashes))
		}
		for i := range hashes {
			for j := range i {
				if bytes.Equal(hashes[i], hashes[j]) {
					t.Fatalf("rows %d and %d share a key hash: the secret does not key it", i, j)
				}
			}
		}
	})
}

// BenchmarkRateLimiterTake is one limited request's checks (a person's and
// an address's) from 8 goroutines at once: in memory, and shared through
// SQLite and PostgreSQL. Each goroutine is a person of its own behind one
// office address, so the person rows spread and the address row is hot.
func BenchmarkRateLimiterTake(b *testing.B) {
	person := tapdesk.RateLimit{Action: tapdesk.RateSearch, Scope: tapdesk.PerPerson, Count: 1_000_000, Window: time.Second}
	address := tapdesk.RateLimit{Action: tapdesk.RateSearch, Scope: tapdesk.PerAddress, Count: 1_000_000, Window: time.Second}
	run := func(b *testing.B, l handlersLimiter) {
		var next atomic.Int64
		b.SetParallelism(8)
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			me := "person-" + string(rune('a'+next.Add(1)))
			for pb.Next() {
				if _, err := l.Take(context.Background(), time.Now(), tapdesk.RateCheck{Limit: person, Key: me},
					tapdesk.RateCheck{Limit: address, Key: attackerAddr}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
	b.Run("memory", func(b *testing.B) { run(b, ratelimit.NewMemory(0)) })
	shared := func(b *testing.B, dsn string) {
		db, err := store.Open(context.Background(), dsn)
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { db.Close() })
		l, err := db.RateLimiter(testAuditKey)
		if err != nil {
			b.Fatal(err)
		}
		run(b, l)
	}
	b.Run("sqlite", func(b *testing.B) { shared(b, b.TempDir()+"/bench.db") })
	b.Run("postgres", func(b *testing.B) { shared(b, pgtest.URL(b)) })
}
