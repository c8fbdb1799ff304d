package main

import (
	"math/rand/v2"
	"slices"
	"time"
)

// memoryProbe is how this machine treats memory a process leaves
// untouched for a while: the time to read the same 4 MiB again at random
// back to back (Warm), and each time after a pause (Cold), medians.
//
// On the shared machines the figures here are taken on, memory untouched
// for a second has cost 6-44 µs a 4 KiB page to touch again (2026-11-30:
// 4 MiB read back to back in 0.09 ms, after a second untouched in 45 ms,
// and after the same second spent spinning on other memory in 38 ms, so
// it is the time untouched, not idleness, that counts). A paced step runs
// code and touches data the process last used up to seconds before, and
// pays that on every such page. The probe runs in the bench's own
// process, right after each build's paced flows, so each column says what
// the machine was doing then. The cold reads also touch the 200 KB of
// indexes (about 5% more pages than the 1,024 the cost is divided by).
type memoryProbe struct {
	Warm, Cold time.Duration
	Pause      time.Duration
	Pages      int
}

// memoryProbeBytes is what the probe reads: large enough to span a
// thousand pages, small enough to stay within any cache's reach when
// warm.
const memoryProbeBytes = 4 << 20

// probeMemory reads memoryProbeBytes at random, warm rounds back to back
// and then cold rounds each after pause.
func probeMemory(pause time.Duration, warm, cold int) memoryProbe {
	mem := make([]uint64, memoryProbeBytes/8)
	for i := range mem {
		mem[i] = uint64(i)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	idx := make([]int32, 50_000) // covers every page many times over
	for i := range idx {
		idx[i] = int32(rng.IntN(len(mem)))
	}
	var sum uint64
	read := func() time.Duration {
		start := time.Now()
		for _, i := range idx {
			sum += mem[i]
		}
		return time.Since(start)
	}
	median := func(n int, before func()) time.Duration {
		ds := make([]time.Duration, n)
		for i := range ds {
			before()
			ds[i] = read()
		}
		slices.Sort(ds)
		return ds[len(ds)/2]
	}
	read() // fault every page in first
	p := memoryProbe{Pause: pause, Pages: memoryProbeBytes / 4096}
	p.Warm = median(warm, func() {})
	p.Cold = median(cold, func() { time.Sleep(pause) })
	if sum == 1 { // keeps the reads from being optimised away
		p.Pages++
	}
	return p
}

// perPage is the extra time a page costs to touch again after the pause.
func (p memoryProbe) perPage() time.Duration {
	if p.Pages == 0 || p.Cold <= p.Warm {
		return 0
	}
	return (p.Cold - p.Warm) / time.Duration(p.Pages)
}
