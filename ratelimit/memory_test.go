package ratelimit

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/tapdesk/tapdesk"
)

var (
	t0     = time.Date(2026, 11, 28, 14, 0, 0, 0, time.UTC)
	filing = tapdesk.RateLimit{Action: tapdesk.RateFile, Scope: tapdesk.PerPerson, Count: 5, Window: 10 * time.Minute}
	site   = tapdesk.RateLimit{Action: tapdesk.RateFile, Scope: tapdesk.PerAddress, Count: 7, Window: 10 * time.Minute}
)

func take(t *testing.T, m *Memory, now time.Time, checks ...tapdesk.RateCheck) *tapdesk.RateRefusal {
	t.Helper()
	r, err := m.Take(context.Background(), now, checks...)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestMemoryBurstThenRefill(t *testing.T) {
	m := NewMemory(0)
	alex := tapdesk.RateCheck{Limit: filing, Key: "alex"}
	for i := range 5 {
		if r := take(t, m, t0, alex); r != nil {
			t.Fatalf("take %d refused: %+v", i+1, r)
		}
	}
	r := take(t, m, t0, alex)
	if r == nil || !r.RetryAt.Equal(t0.Add(2*time.Minute)) || r.Key != "alex" {
		t.Fatalf("sixth: %+v", r)
	}
	if r := take(t, m, t0.Add(time.Minute), alex); r == nil {
		t.Fatal("a token came back before its 2 minutes")
	}
	if r := take(t, m, t0.Add(2*time.Minute), alex); r != nil {
		t.Fatalf("one token back after 2 minutes, refused: %+v", r)
	}
	if r := take(t, m, t0.Add(2*time.Minute), tapdesk.RateCheck{Limit: filing, Key: "sam"}); r != nil {
		t.Fatal("another person is held back by alex's limit")
	}
	if r := take(t, m, t0.Add(11*time.Minute), alex); r != nil {
		t.Fatal("refused after the window")
	}
}

// Person and address are spent together or not at all: a person over
// their own limit does not use up their colleagues' address allowance.
func TestMemoryAllOrNothing(t *testing.T) {
	m := NewMemory(0)
	alex := []tapdesk.RateCheck{{Limit: filing, Key: "alex"}, {Limit: site, Key: "192.0.2.7"}}
	for range 20 {
		take(t, m, t0, alex...)
	}
	for i := range 2 {
		if r := take(t, m, t0, tapdesk.RateCheck{Limit: filing, Key: "sam"}, tapdesk.RateCheck{Limit: site, Key: "192.0.2.7"}); r != nil {
			t.Fatalf("colleague's take %d refused: %+v", i+1, r)
		}
	}
	r := take(t, m, t0, tapdesk.RateCheck{Limit: filing, Key: "sam"}, tapdesk.RateCheck{Limit: site, Key: "192.0.2.7"})
	if r == nil || r.Limit.Scope != tapdesk.PerAddress {
		t.Fatalf("the address's eighth: %+v", r)
	}
	if r := take(t, m, t0, tapdesk.RateCheck{Limit: tapdesk.RateLimit{Action: tapdesk.RateFile, Scope: tapdesk.PerPerson}, Key: "x"}); r != nil {
		t.Fatal("a limit that is off refused")
	}
}

// fillAddresses holds n busy address buckets: each has spent a token.
func fillAddresses(tb testing.TB, m *Memory, n int) {
	for i := range n {
		if r, _ := m.Take(context.Background(), t0, tapdesk.RateCheck{Limit: site, Key: "busy" + strconv.Itoa(i)}); r != nil {
			tb.Fatalf("filling: %+v", r)
		}
	}
}

// Memory stays bounded: while the address map is full of busy keys,
// newcomers share one overflow bucket per limit, 100 addresses wide: a
// flood from fresh addresses (an IPv6 /48 has 65,536 /64s) is held to it,
// yet a new address is paced, not locked out. Idle keys are dropped a few
// per check.
func TestMemoryBounded(t *testing.T) {
	m := NewMemory(100)
	fillAddresses(t, m, 100)
	if _, n := m.Len(); n != 100 {
		t.Fatalf("%d address keys", n)
	}
	allowed := 0
	for i := range 1000 {
		if take(t, m, t0, tapdesk.RateCheck{Limit: site, Key: "new" + strconv.Itoa(i)}) == nil {
			allowed++
		}
	}
	if want := site.Count * tapdesk.RateOverflowShare; allowed != want {
		t.Fatalf("%d of 1000 new addresses let in while the map was full, want the overflow's %d", allowed, want)
	}
	if _, n := m.Len(); n != 100 {
		t.Fatalf("%d address keys past the cap of 100", n)
	}
	// The overflow refills at 100 addresses' pace: one more every 857ms.
	if r := take(t, m, t0.Add(time.Second), tapdesk.RateCheck{Limit: site, Key: "newcomer"}); r != nil {
		t.Fatalf("a new address a second later is still locked out: %+v", r)
	}
	// After the window every bucket is full again; each check drops a few
	// idle ones until only the one in use is left.
	later := t0.Add(11 * time.Minute)
	for range 100/tapdesk.RateSweepStep + 2 {
		take(t, m, later, tapdesk.RateCheck{Limit: site, Key: "later"})
	}
	if _, n := m.Len(); n != 1 {
		t.Fatalf("%d address keys after the idle ones expired, want 1", n)
	}
}

// People never overflow: with the address map full of busy keys and the
// overflow drained by a flood from fresh addresses, signed-in staff from an
// office whose address lost its bucket are still let in, held only to their
// own limit. The handler sends person and address together, so this does.
func TestMemoryPersonsKeepTheirOwnBuckets(t *testing.T) {
	m := NewMemory(100)
	fillAddresses(t, m, 100)
	for i := 0; ; i++ {
		if r := take(t, m, t0, tapdesk.RateCheck{Limit: site, Key: "flood" + strconv.Itoa(i)}); r != nil {
			break
		}
	}
	office := tapdesk.RateCheck{Limit: site, Key: "2001:db8:5::/64"}
	if r := take(t, m, t0, office); r == nil {
		t.Fatal("the overflow is not drained: an anonymous request from a new address was let in")
	}
	for _, who := range []string{"alex", "sam", "kim"} {
		person := tapdesk.RateCheck{Limit: filing, Key: who}
		for i := range filing.Count {
			if r := take(t, m, t0, person, office); r != nil {
				t.Fatalf("%s's take %d refused while the address map is full: %+v", who, i+1, r)
			}
		}
		if r := take(t, m, t0, person, office); r == nil || r.Key != who {
			t.Fatalf("%s's sixth: %+v", who, r)
		}
	}
	if p, n := m.Len(); p != 3 || n != 100 {
		t.Fatalf("%d person keys, %d address keys, want 3 and 100", p, n)
	}
	if r := take(t, m, t0, office); r == nil {
		t.Fatal("anonymous requests from the office address skipped the drained overflow")
	}
}

// The cost of a new address while the map holds RateMaxAddressKeys busy
// ones: constant, not a sweep of the whole map per newcomer.
func BenchmarkTakeNewAddressWhenFull(b *testing.B) {
	m := NewMemory(0)
	fillAddresses(b, m, tapdesk.RateMaxAddressKeys)
	b.ResetTimer()
	for i := range b.N {
		m.Take(context.Background(), t0, tapdesk.RateCheck{Limit: site, Key: "flood" + strconv.Itoa(i)})
	}
}
