package store_test

import (
	"context"
	"github.com/tapdesk/tapdesk/internal/pgtest"
	"sync"
	"testing"
	"time"

	"github.com/tapdesk/tapdesk"
)

// The issue-time walk runs while other requests write events: it must never
// call a trail that only grew meanwhile cut or changed.
func TestEvidenceWhileOthersWrite(t *testing.T) {
	pgtest.Backends(t, func(t *testing.T) {
		db, _ := openDB(t)
		r := newRequest("r1", 1)
		fileRequest(t, db, r)
		ctx := context.Background()
		stop := make(chan struct{})
		var wg sync.WaitGroup
		for w := range 3 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := 0; ; i++ {
					select {
					case <-stop:
						return
					default:
					}
					ev := tapdesk.Event{Time: time.Now(), Activity: tapdesk.ActUserLookup, Category: tapdesk.CatRequest,
						Actor: tapdesk.Actor{TenantID: "t", ObjectID: "writer", Name: "w"}, Details: map[string]string{"w": string(rune('a' + w))}}
					if err := db.AppendEvent(ctx, ev); err != nil {
						t.Error(err)
						return
					}
				}
			}()
		}
		deadline := time.Now().Add(3 * time.Second)
		checks := 0
		for time.Now().Before(deadline) {
			_, bad, err := db.RequestEvidence(ctx, r.ID)
			if err != nil {
				t.Fatal(err)
			}
			if len(bad) > 0 {
				t.Fatalf("after %d clean checks, events %v reported missing or changed while others wrote", checks, bad)
			}
			checks++
		}
		close(stop)
		wg.Wait()
		t.Logf("%d checks while 3 writers appended", checks)
	})
}
