package main

import (
	"encoding/json"
	"math"
	"runtime"
	"runtime/debug"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestGCPolicy: serve runs with tapdesk's collector policy (a heap five
// times what is live, capped at 64 MiB of Go memory) unless the operator
// set GOGC or GOMEMLIMIT, which then stand as the Go runtime read them.
// Each case runs `tapdesk serve` as a child process, as it is deployed,
// and reads the settings in force from its start's log line.
func TestGCPolicy(t *testing.T) {
	for _, tc := range []struct {
		name  string
		env   map[string]string
		gogc  int64
		limit uint64
	}{
		{"tapdesk's default", nil, gcPercent, gcMemoryLimit},
		{"GOGC chosen", map[string]string{"GOGC": "150"}, 150, 0},
		{"GOMEMLIMIT chosen", map[string]string{"GOMEMLIMIT": "200MiB"}, 100, 200 << 20},
		{"collector off", map[string]string{"GOGC": "off", "GOMEMLIMIT": "300MiB"}, -1, 300 << 20},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newCrashRig(t)
			// Only the case's own choice: not one the tests were run with.
			r.env = slices.DeleteFunc(r.env, func(kv string) bool {
				return strings.HasPrefix(kv, "GOGC=") || strings.HasPrefix(kv, "GOMEMLIMIT=")
			})
			for k, v := range tc.env {
				r.env = append(r.env, k+"="+v)
			}
			r.start()
			deadline := time.Now().Add(30 * time.Second)
			var line map[string]any
			for line == nil && time.Now().Before(deadline) {
				for _, l := range strings.Split(r.logs.String(), "\n") {
					var m map[string]any
					if json.Unmarshal([]byte(l), &m) == nil && m["msg"] == "garbage collector" {
						line = m
					}
				}
				time.Sleep(20 * time.Millisecond)
			}
			if line == nil {
				t.Fatalf("no garbage collector line in the log:\n%s", r.logs.String())
			}
			if gogc, _ := line["gogc"].(float64); int64(gogc) != tc.gogc {
				t.Errorf("gogc %v, want %d", line["gogc"], tc.gogc)
			}
			limit, _ := line["memory_limit_bytes"].(float64)
			switch {
			case tc.env == nil:
				// tapdesk's cap follows the live heap (followLiveHeap): a
				// collection during the start, with more than half the
				// cap live (the race detector's builds get there), has
				// already raised it to twice that. Go's own default is
				// no limit at all (math.MaxInt64).
				if uint64(limit) < tc.limit || limit >= math.MaxInt64 {
					t.Errorf("memory limit %v, want %d or twice a live heap over half of it", line["memory_limit_bytes"], tc.limit)
				}
			case uint64(limit) != tc.limit:
				t.Errorf("memory limit %v, want %d", line["memory_limit_bytes"], tc.limit)
			}
		})
	}
}

func TestGCLimitFor(t *testing.T) {
	for _, c := range []struct {
		live uint64
		want int64
	}{{0, gcMemoryLimit}, {10 << 20, gcMemoryLimit}, {32 << 20, gcMemoryLimit}, {40 << 20, 80 << 20}, {math.MaxUint64, math.MaxInt64 - 1}} {
		if got := gcLimitFor(c.live); got != c.want {
			t.Errorf("live %d: limit %d, want %d", c.live, got, c.want)
		}
	}
}

// The cap follows the live heap: with 100 MiB live, a collection raises it
// to twice that (where Go's default collects), and with the heap freed it
// comes down again.
func TestGCLimitFollowsLiveHeap(t *testing.T) {
	defer debug.SetMemoryLimit(debug.SetMemoryLimit(gcMemoryLimit))
	stop := followLiveHeap()
	defer stop()
	limitAfterGC := func(ok func(int64) bool) int64 {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for {
			runtime.GC()
			time.Sleep(10 * time.Millisecond) // the finalizer runs on its own goroutine
			if l := debug.SetMemoryLimit(-1); ok(l) || time.Now().After(deadline) {
				return l
			}
		}
	}
	big := make([]byte, 100<<20)
	if l := limitAfterGC(func(l int64) bool { return l >= 200<<20 }); l < 200<<20 {
		t.Fatalf("with 100 MiB live the limit is %d MiB, want at least 200", l>>20)
	}
	runtime.KeepAlive(big)
	big = nil
	if l := limitAfterGC(func(l int64) bool { return l < 200<<20 }); l >= 200<<20 {
		t.Fatalf("with the 100 MiB freed the limit is still %d MiB", l>>20)
	}
}
