package store

import (
	"context"
	"database/sql"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tapdesk/tapdesk"
	"github.com/tapdesk/tapdesk/internal/pgtest"
)

// A storm of concurrent write transactions queues in the process, not on
// pooled connections: on PostgreSQL each write transaction waits on the
// advisory write lock, and before the in-process turn every waiting one
// held a connection of its own (the pool opened one per writer beyond its
// idle ones). At most one write transaction at a time now holds a
// connection; every event still lands once, chained.
func TestWriteStormHoldsOneConnection(t *testing.T) {
	pgtest.Backends(t, func(t *testing.T) {
		db := keyedTestDB(t)
		ctx := context.Background()
		const writers = 40
		var most atomic.Int64
		sampled := make(chan struct{})
		stop := make(chan struct{})
		go func() {
			defer close(sampled)
			for {
				if n := int64(db.db.Stats().InUse); n > most.Load() {
					most.Store(n)
				}
				select {
				case <-stop:
					return
				default:
					time.Sleep(100 * time.Microsecond)
				}
			}
		}()
		var wg sync.WaitGroup
		errs := make(chan error, writers)
		start := make(chan struct{})
		for i := range writers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				errs <- db.inTx(ctx, func(tx *sql.Tx) error {
					// Long enough that, without the turn, the others
					// would all be waiting inside their transactions.
					time.Sleep(2 * time.Millisecond)
					return db.appendEvent(ctx, tx, tapdesk.Event{Activity: tapdesk.ActSignIn, Category: tapdesk.CatSignIn,
						Actor: tapdesk.Actor{UPN: fmt.Sprintf("storm%d@contoso.example", i)}})
				})
			}()
		}
		close(start)
		wg.Wait()
		close(stop)
		<-sampled
		close(errs)
		for err := range errs {
			if err != nil {
				t.Fatal(err)
			}
		}
		// One for the transaction, and one more while a statement is
		// first prepared on the pool for the transaction to use.
		if m := most.Load(); m > 2 {
			t.Errorf("%d connections were in use at once by %d queued write transactions, want at most 2", m, writers)
		}
		rep, err := db.VerifyChain(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if rep.Break != nil || rep.Checked != writers {
			t.Errorf("chain: %d events checked, break %v; want %d and none", rep.Checked, rep.Break, writers)
		}
	})
}

// Events appended in one transaction share one appender: the second and
// later ones chain onto the first without reading the head again, and the
// trail verifies. A transaction that fails takes its events back, and the
// next one chains onto the committed head, not the rolled-back one.
func TestOneAppenderPerTransaction(t *testing.T) {
	pgtest.Backends(t, func(t *testing.T) {
		db := keyedTestDB(t)
		ctx := context.Background()
		ev := func(upn string) tapdesk.Event {
			return tapdesk.Event{Activity: tapdesk.ActSignIn, Category: tapdesk.CatSignIn, Actor: tapdesk.Actor{UPN: upn}}
		}
		var apps []*appender
		err := db.inTx(ctx, func(tx *sql.Tx) error {
			for i := range 5 {
				if err := db.appendEvent(ctx, tx, ev(fmt.Sprintf("a%d@contoso.example", i))); err != nil {
					return err
				}
				apps = append(apps, db.notesOf(tx).app)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		for i, a := range apps {
			if a == nil || a != apps[0] {
				t.Fatalf("event %d was appended by appender %p, the first by %p: want one per transaction", i, a, apps[0])
			}
		}
		boom := fmt.Errorf("boom")
		err = db.inTx(ctx, func(tx *sql.Tx) error {
			for i := range 3 {
				if err := db.appendEvent(ctx, tx, ev(fmt.Sprintf("gone%d@contoso.example", i))); err != nil {
					return err
				}
			}
			return boom
		})
		if err != boom {
			t.Fatalf("rolled-back transaction: %v", err)
		}
		if err := db.AppendEvent(ctx, ev("after@contoso.example")); err != nil {
			t.Fatal(err)
		}
		rep, err := db.VerifyChain(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if rep.Break != nil || rep.Checked != 6 || rep.LastSeq != 6 {
			t.Errorf("chain: %d events checked up to %d, break %v; want 6 up to 6 and none", rep.Checked, rep.LastSeq, rep.Break)
		}
	})
}
