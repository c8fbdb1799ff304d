package store_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tapdesk/tapdesk"
	"github.com/tapdesk/tapdesk/internal/pgtest"
)

// An instance hears of another instance's writes, and of the times it
// could not hear: a lost connection counts as "anything may have changed".
func TestListenForChanges(t *testing.T) {
	pgtest.Backends(t, func(t *testing.T) {
		db, path := openDB(t)
		other := reopen(t, path, testAuditKey)
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		var changes, losses atomic.Int64
		done := make(chan error, 1)
		go func() { done <- other.ListenForChanges(ctx, func() { changes.Add(1) }, func() { losses.Add(1) }) }()
		if !pgtest.OnPostgres(t) {
			// One instance on SQLite: nothing to listen to.
			if err := <-done; err != nil {
				t.Fatal(err)
			}
			return
		}
		waitFor := func(what string, cond func() bool) {
			t.Helper()
			for deadline := time.Now().Add(20 * time.Second); !cond(); time.Sleep(20 * time.Millisecond) {
				if time.Now().After(deadline) {
					t.Fatalf("timed out waiting for %s (changes %d, losses %d)", what, changes.Load(), losses.Load())
				}
			}
		}
		waitFor("the listener to connect", func() bool { return changes.Load() >= 1 })
		before := changes.Load()
		fileRequest(t, db, newRequest("heard", 1))
		waitFor("the write to be heard", func() bool { return changes.Load() > before })

		// A session signed out on one instance must not stay in another's
		// session cache: session writes notify too.
		before = changes.Load()
		if err := db.SessionRows().CommitCtx(ctx, "token-hash", []byte("data"), t0.Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
		waitFor("the session write to be heard", func() bool { return changes.Load() > before })
		before = changes.Load()
		if err := db.SessionRows().DeleteCtx(ctx, "token-hash"); err != nil {
			t.Fatal(err)
		}
		waitFor("the sign-out to be heard", func() bool { return changes.Load() > before })

		// Writes that touch nothing a cache holds (audit events alone)
		// stay quiet: the others' caches are not emptied by each one.
		before = changes.Load()
		if err := db.AppendEvent(ctx, tapdesk.Event{Activity: tapdesk.ActSignIn, Category: tapdesk.CatSignIn, Actor: agent}); err != nil {
			t.Fatal(err)
		}
		fileRequest(t, db, newRequest("heard-2", 1)) // a marker after it
		waitFor("the marker", func() bool { return changes.Load() > before })
		time.Sleep(500 * time.Millisecond) // notices arrive in commit order; let any second one land
		if got := changes.Load() - before; got != 1 {
			t.Errorf("%d notices for an audit event and a request; want 1", got)
		}

		// Cut the listener's connection: it reports the loss, connects
		// again and counts that as a change.
		before = changes.Load()
		exec(t, db, `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'tapdesk change listener' AND datname = current_database()`)
		waitFor("the loss to be reported", func() bool { return losses.Load() >= 1 })
		waitFor("the listener to reconnect", func() bool { return changes.Load() > before })
		cancel()
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	})
}
