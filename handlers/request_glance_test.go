package handlers

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tapdesk/tapdesk"
)

// What Entra said about a target is asked once for the views of its
// request within tapdesk.GlanceFactsTTL, once for views that arrive
// together, and again after the TTL or after a failed lookup.
func TestGlanceCache(t *testing.T) {
	var gc glanceCache
	var reads atomic.Int32
	fail := false
	read := func(context.Context) tapdesk.TargetFacts {
		reads.Add(1)
		if fail {
			return tapdesk.TargetFacts{LookupError: "Could not read"}
		}
		return tapdesk.TargetFacts{User: &tapdesk.DirectoryUser{ID: "u1"}}
	}
	ctx := context.Background()
	t0 := time.Date(2026, 11, 29, 9, 0, 0, 0, time.UTC)

	if f := gc.get(ctx, "u1", t0, read); f.User == nil || reads.Load() != 1 {
		t.Fatalf("first view: %+v after %d reads", f, reads.Load())
	}
	if f := gc.get(ctx, "u1", t0.Add(tapdesk.GlanceFactsTTL-time.Second), read); f.User == nil || reads.Load() != 1 {
		t.Errorf("a view within the TTL read Entra again (%d reads)", reads.Load())
	}
	gc.get(ctx, "u2", t0, read)
	if reads.Load() != 2 {
		t.Errorf("another target was served from the first one's facts (%d reads)", reads.Load())
	}
	fail = true
	if f := gc.get(ctx, "u1", t0.Add(tapdesk.GlanceFactsTTL), read); f.LookupError == "" || reads.Load() != 3 {
		t.Errorf("a view after the TTL: %+v after %d reads, want a fresh read", f, reads.Load())
	}
	fail = false
	if f := gc.get(ctx, "u1", t0.Add(tapdesk.GlanceFactsTTL+time.Second), read); f.User == nil || reads.Load() != 4 {
		t.Errorf("a failed lookup was kept: %+v after %d reads", f, reads.Load())
	}

	// Views of one target arriving while Graph is asked share its answer.
	release := make(chan struct{})
	slow := func(context.Context) tapdesk.TargetFacts {
		reads.Add(1)
		<-release
		return tapdesk.TargetFacts{User: &tapdesk.DirectoryUser{ID: "u3"}}
	}
	before := reads.Load()
	var wg sync.WaitGroup
	for range 5 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if f := gc.get(ctx, "u3", t0, slow); f.User == nil {
				t.Error("a waiting view got no facts")
			}
		}()
	}
	time.Sleep(50 * time.Millisecond) // let them gather on the one read
	close(release)
	wg.Wait()
	// Once, or twice when a view was held up on the machine between
	// missing the cache and joining the read after it ended.
	if n := reads.Load() - before; n < 1 || n > 2 {
		t.Errorf("five views arriving together read Entra %d times", n)
	}
}
