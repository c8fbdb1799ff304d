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
	if r == nil || !r.FirstInWindow || !r.RetryAt.Equal(t0.Add(2*time.Minute)) || r.Key != "alex" {
		t.Fatalf("sixth: %+v", r)
	}
	if r := take(t, m, t0.Add(time.Minute), alex); r == nil || r.FirstInWindow {
		t.Fatalf("a second refusal in the window is not to be audited again: %+v", r)
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
	// Refused again 10 minutes after the first refusal: a new window, audited.
	var r2 *tapdesk.RateRefusal
	for r2 == nil {
		r2 = take(t, m, t0.Add(11*time.Minute), alex)
	}
	if !r2.FirstInWindow {
		t.Fatalf("a refusal in a new window is audited: %+v", r2)
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

// Memory stays bounded: idle keys (full buckets) are swept, and while the
// map is full of busy keys newcomers share one overflow bucket.
func TestMemoryBounded(t *testing.T) {
	m := NewMemory(100)
	for i := range 100 {
		take(t, m, t0, tapdesk.RateCheck{Limit: site, Key: strconv.Itoa(i)})
	}
	if m.Len() != 100 {
		t.Fatalf("%d keys", m.Len())
	}
	// All 100 are busy: the next 1000 new addresses share one bucket of 7.
	refused := 0
	for i := range 1000 {
		if take(t, m, t0, tapdesk.RateCheck{Limit: site, Key: "new" + strconv.Itoa(i)}) != nil {
			refused++
		}
	}
	if m.Len() != 101 || refused != 1000-7 {
		t.Fatalf("%d keys, %d refused", m.Len(), refused)
	}
	// After the window every bucket is full again and the sweep drops them.
	take(t, m, t0.Add(11*time.Minute), tapdesk.RateCheck{Limit: site, Key: "later"})
	if m.Len() != 1 {
		t.Fatalf("%d keys after the idle ones expired, want 1", m.Len())
	}
}
