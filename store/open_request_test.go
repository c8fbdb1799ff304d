package store_test

import (
	"context"
	"fmt"
	"github.com/tapdesk/tapdesk/internal/pgtest"
	"sync"
	"testing"

	"github.com/tapdesk/tapdesk"
	"github.com/tapdesk/tapdesk/store"
)

// TestOneOpenRequestPerTarget: a second filing for a target with a pending
// or approved request is refused and writes nothing; once the open one is
// closed, filing works again.
func TestOneOpenRequestPerTarget(t *testing.T) {
	pgtest.Backends(t, func(t *testing.T) {
		db, _ := openDB(t)
		ctx := context.Background()
		forNina := func(id string) *tapdesk.Request {
			r := newRequest(id, 1)
			r.TargetID, r.TargetUPN, r.TargetName = "nina", "nina@x", "Nina Newhire"
			return r
		}
		file := func(r *tapdesk.Request) error {
			return db.FileRequest(ctx, r, tapdesk.Event{Activity: tapdesk.ActRequestFiled, Category: tapdesk.CatRequest, Actor: agent}, nil)
		}

		t.Run("concurrent filings: exactly one wins", func(t *testing.T) {
			var wg sync.WaitGroup
			var mu sync.Mutex
			var won []string
			conflicts := 0
			for i := 0; i < 8; i++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					r := forNina(fmt.Sprintf("race-%d", i))
					err := file(r)
					mu.Lock()
					defer mu.Unlock()
					switch tapdesk.ErrorCode(err) {
					case "":
						won = append(won, r.ID)
					case tapdesk.ECONFLICT:
						conflicts++
					default:
						t.Errorf("unexpected: %v", err)
					}
				}()
			}
			wg.Wait()
			if len(won) != 1 || conflicts != 7 {
				t.Fatalf("won %v, %d conflicts; want one winner and 7 conflicts", won, conflicts)
			}
			open, err := db.OpenRequestFor(ctx, "nina")
			if err != nil || open == nil || open.ID != won[0] {
				t.Fatalf("open request %+v %v, want %s", open, err, won[0])
			}
			if n := len(events(t, db, store.EventFilter{Activity: string(tapdesk.ActRequestFiled)})); n != 1 {
				t.Errorf("%d filed events, want 1 (a refused filing writes nothing)", n)
			}
		})

		t.Run("approved is still open", func(t *testing.T) {
			open, _ := db.OpenRequestFor(ctx, "nina")
			approve(t, db, open, approver)
			err := file(forNina("while-approved"))
			if tapdesk.ErrorCode(err) != tapdesk.ECONFLICT {
				t.Fatalf("filing while approved: %v, want a conflict", err)
			}
			if msg := tapdesk.ErrorMessage(err); msg == "" {
				t.Error("no sentence")
			}
		})

		t.Run("closed: filing works again", func(t *testing.T) {
			open, _ := db.OpenRequestFor(ctx, "nina")
			ev := tapdesk.Event{Activity: tapdesk.ActRequestCancel, Category: tapdesk.CatRequest, Actor: agent}
			if err := db.Transition(ctx, open, store.Change{From: tapdesk.StateApproved, To: tapdesk.StateCancelled, At: t0, Unclaimed: true}, nil, ev); err != nil {
				t.Fatal(err)
			}
			if open, err := db.OpenRequestFor(ctx, "nina"); open != nil || err != nil {
				t.Fatalf("still open: %+v %v", open, err)
			}
			if err := file(forNina("after-cancel")); err != nil {
				t.Fatalf("filing after the open one was cancelled: %v", err)
			}
			// Another target is not affected.
			if err := file(newRequest("someone-else", 1)); err != nil {
				t.Fatal(err)
			}
		})
	})
}
