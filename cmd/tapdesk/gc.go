package main

import (
	"math"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"sync/atomic"
)

// The garbage collector's policy for the commands that run for long
// (serve, demo), unless the operator chose one: tapdesk's memory budget
// under load is 120 MB (issue 10), and Go's default policy (a collection
// each time the heap doubles) spends about half of it while running
// several collections per second under load, each taking processor time
// from requests. Letting the heap grow to five times what is live, capped
// at gcMemoryLimit of Go memory (the binary's own pages, about 38 MB, come
// on top), uses the budget instead: a collection when the cap or five
// times the live heap is reached, whichever comes first. Measured with
// scripts/bench: the dashboard serves about 20% more answers a second, and
// the peak RSS goes from about 70 MB to about 100 MB. The cap is soft: a
// live heap near it makes collections frequent, never an out-of-memory
// stop. And it follows the live heap (followLiveHeap): where the caches
// filled up (many hundreds of people signed in) and twice the live heap
// is more than the cap, the cap is raised to that, which is where Go's
// default collects, so this policy never collects more often than the
// default would.
const (
	gcPercent     = 400
	gcMemoryLimit = 64 << 20
)

// gcPolicyChosen says whether the operator chose the collector's policy:
// GOGC or GOMEMLIMIT in the environment, which the Go runtime has read at
// start and tapdesk leaves as it is.
func gcPolicyChosen(getenv func(string) string) bool {
	return getenv("GOGC") != "" || getenv("GOMEMLIMIT") != ""
}

// applyGCPolicy sets tapdesk's policy unless the operator chose one.
func applyGCPolicy(getenv func(string) string) {
	if gcPolicyChosen(getenv) {
		return
	}
	debug.SetGCPercent(gcPercent)
	debug.SetMemoryLimit(gcMemoryLimit)
	followLiveHeap()
}

// gcLimitFor is the memory limit for a live heap of live bytes: the cap,
// or twice the live heap where that is more.
func gcLimitFor(live uint64) int64 {
	return max(gcMemoryLimit, int64(min(live, math.MaxInt64/2))*2)
}

// gcSentinel is collected at every collection; its finalizer sets the
// limit for the live heap just measured and sets itself again.
type gcSentinel struct{ _ *byte }

// followLiveHeap sets the memory limit for the live heap after each
// collection, until stop is called (tests; serve follows for its life).
func followLiveHeap() (stop func()) {
	var stopped atomic.Bool
	var set int64 // the limit last set (finalizers run one at a time)
	var onGC func(*gcSentinel)
	onGC = func(s *gcSentinel) {
		if stopped.Load() {
			return
		}
		live := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
		metrics.Read(live)
		if live[0].Value.Kind() == metrics.KindUint64 {
			if l := gcLimitFor(live[0].Value.Uint64()); l != set {
				debug.SetMemoryLimit(l)
				set = l
			}
		}
		runtime.SetFinalizer(s, onGC)
	}
	runtime.SetFinalizer(&gcSentinel{}, onGC)
	return func() { stopped.Store(true) }
}

// gcSettings are the collector's settings in force, for the start's log
// line: GOGC's percent (-1: off) and the memory limit in bytes (0: none).
func gcSettings() (percent int64, limit uint64) {
	s := []metrics.Sample{{Name: "/gc/gogc:percent"}, {Name: "/gc/gomemlimit:bytes"}}
	metrics.Read(s)
	if s[0].Value.Kind() == metrics.KindUint64 {
		percent = int64(s[0].Value.Uint64())
		if s[0].Value.Uint64() > math.MaxInt32 { // GOGC=off
			percent = -1
		}
	}
	if s[1].Value.Kind() == metrics.KindUint64 {
		limit = s[1].Value.Uint64()
	}
	if limit == math.MaxInt64 {
		limit = 0
	}
	return percent, limit
}
