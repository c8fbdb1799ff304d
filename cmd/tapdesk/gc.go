package main

import (
	"math"
	"runtime/debug"
	"runtime/metrics"
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
// stop (the Go runtime holds collection to half the processor at most
// then). The caches are bounded at 16 MiB each (dashboard lists and pages,
// compressed pages) besides the sessions kept: with all of them full (many
// hundreds of people signed in) the live heap nears 40 MiB, where this
// policy collects more often than Go's default would. Such a deployment
// raises GOMEMLIMIT (docs/DEPLOY.md; the runbook's alarm says when).
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
