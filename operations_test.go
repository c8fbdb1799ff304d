package tapdesk

import (
	"testing"
	"time"
)

// Waits on Graph that overlap (reads made at once) count once: the Graph
// time is the time at least one wait was going, so the wall time less it
// is what tapdesk itself kept the person waiting.
func TestGraphTimeCountsOverlappingWaitsOnce(t *testing.T) {
	t0 := time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	s := &RequestScope{ID: "r1"}
	s.GraphBegin(at(0))        // a
	s.GraphBegin(at(10))       // b, while a goes on
	s.GraphEnd(at(30), true)   // a
	s.GraphEnd(at(50), true)   // b: 0–50 waited
	s.GraphBegin(at(100))      // a pause before a retry
	s.GraphEnd(at(120), false) // 100–120
	s.GraphBegin(at(120))      // the retry
	s.GraphEnd(at(125), true)  // 120–125
	if got, want := s.GraphTime(), 75*time.Millisecond; got != want {
		t.Errorf("Graph time %s, want %s", got, want)
	}
	if got := s.GraphCalls(); got != 3 {
		t.Errorf("%d Graph calls, want 3 (a pause is no call)", got)
	}
	// Times are read before the lock: a wait begun at 140 may come in
	// after another's end at 150, and must not count 140–150 again.
	s.GraphBegin(at(130))     // c
	s.GraphEnd(at(150), true) // c: 130–150
	s.GraphBegin(at(140))     // d, begun while c went on
	s.GraphEnd(at(160), true) // d: 150–160 is new
	if got, want := s.GraphTime(), 105*time.Millisecond; got != want {
		t.Errorf("Graph time %s after waits marked out of order, want %s", got, want)
	}
}
