package store_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/tapdesk/tapdesk/internal/pgtest"
	"github.com/tapdesk/tapdesk/store"
)

// Two instances' mail workers poll one database at once: every mail is
// claimed by exactly one of them, so it is sent once.
func TestDueMailClaimedOnceAcrossInstances(t *testing.T) {
	pgtest.Backends(t, func(t *testing.T) {
		ctx := context.Background()
		db, path := openDB(t)
		other := reopen(t, path, testAuditKey)
		const requests, perRequest = 40, 3
		for i := range requests {
			fileRequest(t, db, newRequest(fmt.Sprintf("m%d", i), 1),
				store.Mail{Kind: "approval_request", To: "a@x"}, store.Mail{Kind: "approval_request", To: "b@x"},
				store.Mail{Kind: "approval_request", To: "c@x"})
		}
		now := t0.Add(time.Minute)
		var mu sync.Mutex
		claimed := map[int64]int{}
		var wg sync.WaitGroup
		for w := range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				instance := db
				if w%2 == 1 {
					instance = other
				}
				for {
					items, err := instance.DueMail(ctx, now, 7)
					if err != nil {
						t.Error(err)
						return
					}
					if len(items) == 0 {
						return
					}
					mu.Lock()
					for i, it := range items {
						claimed[it.ID]++
						if i > 0 && items[i-1].ID >= it.ID {
							t.Errorf("claimed out of order: %d after %d", it.ID, items[i-1].ID)
						}
					}
					mu.Unlock()
				}
			}()
		}
		wg.Wait()
		if len(claimed) != requests*perRequest {
			t.Fatalf("%d mails claimed, want %d", len(claimed), requests*perRequest)
		}
		for id, n := range claimed {
			if n != 1 {
				t.Errorf("mail %d claimed %d times", id, n)
			}
		}
		// Leased: nothing is due again until the lease runs out.
		if items, err := db.DueMail(ctx, now.Add(time.Minute), 100); err != nil || len(items) != 0 {
			t.Fatalf("claimed again within the lease: %d %v", len(items), err)
		}
		if items, err := other.DueMail(ctx, now.Add(time.Hour), 1000); err != nil || len(items) != requests*perRequest {
			t.Fatalf("after the lease: %d %v", len(items), err)
		}
	})
}
