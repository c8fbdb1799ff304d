package handlers

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tapdesk/tapdesk"
)

// policyDirectory answers TAPPolicy only, slowly while gate is set.
type policyDirectory struct {
	tapdesk.Directory
	calls atomic.Int32
	gate  chan struct{}
}

func (d *policyDirectory) TAPPolicy(ctx context.Context) (*tapdesk.TAPPolicy, error) {
	d.calls.Add(1)
	if d.gate != nil {
		<-d.gate
	}
	return &tapdesk.TAPPolicy{}, nil
}

// A fresh policy is served while another load asks Graph for a stale one
// (the lock is not held across the call), and loads that find it stale
// together ask Graph once.
func TestPolicyCacheDoesNotHoldItsLockAcrossGraph(t *testing.T) {
	var pc policyCache
	dir := &policyDirectory{}
	t0 := time.Date(2026, 11, 29, 9, 0, 0, 0, time.UTC)
	if _, err := pc.get(t.Context(), dir, t0); err != nil || dir.calls.Load() != 1 {
		t.Fatalf("first load: %v, %d calls", err, dir.calls.Load())
	}

	dir.gate = make(chan struct{})
	stale := t0.Add(tapdesk.DashboardPolicyTTL)
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if p, err := pc.get(t.Context(), dir, stale); err != nil || p == nil {
				t.Errorf("stale load: %v, %v", p, err)
			}
		}()
	}
	for dir.calls.Load() < 2 {
		time.Sleep(time.Millisecond)
	}
	// Graph is being asked; a load at a time the kept policy still
	// covers must not wait for it.
	done := make(chan struct{})
	go func() {
		pc.get(t.Context(), dir, t0.Add(time.Second))
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("a load with a fresh policy waited on Graph")
	}
	time.Sleep(20 * time.Millisecond) // the stale loads gather on the one call
	close(dir.gate)
	wg.Wait()
	// Once, or twice when a load was held up on the machine between
	// finding the policy stale and joining the call after it ended.
	if n := dir.calls.Load() - 1; n > 2 {
		t.Errorf("four stale loads together asked Graph %d times, want once", n)
	}
}
