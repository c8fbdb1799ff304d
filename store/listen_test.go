package store_test

import (
	"context"
	"io"
	"net"
	"net/url"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tapdesk/tapdesk"
	"github.com/tapdesk/tapdesk/internal/pgtest"
	"github.com/tapdesk/tapdesk/store"
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
		// stay quiet: the others' caches are not emptied by each one. A
		// write that fails says nothing either: the notice goes out with
		// the lock's statement, first in the transaction, and the rollback
		// takes it back.
		before = changes.Load()
		if err := db.AppendEvent(ctx, tapdesk.Event{Activity: tapdesk.ActSignIn, Category: tapdesk.CatSignIn, Actor: agent}); err != nil {
			t.Fatal(err)
		}
		pending := newRequest("heard-pending", 1)
		fileRequest(t, db, pending)
		before++ // the filing is heard
		if err := db.ClaimIssue(ctx, pending, tapdesk.Event{Activity: tapdesk.ActIssueStart, Category: tapdesk.CatMethod, Actor: agent}); err == nil {
			t.Fatal("a pending request was claimed for issue")
		}
		fileRequest(t, db, newRequest("heard-2", 1)) // a marker after them
		waitFor("the marker", func() bool { return changes.Load() > before })
		time.Sleep(500 * time.Millisecond) // notices arrive in commit order; let any second one land
		if got := changes.Load() - before; got != 1 {
			t.Errorf("%d notices for an audit event, a failed claim and a request; want 1", got)
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

// freezer forwards unix-socket connections to PostgreSQL; freeze() makes every
// connection open at that moment stop carrying bytes without closing (a
// network partition / dropped NAT entry / stalled middlebox). New connections work.
type freezer struct {
	mu     sync.Mutex
	frozen map[net.Conn]bool
	conns  []net.Conn
}

func (f *freezer) freeze() {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, c := range f.conns {
		f.frozen[c] = true
	}
}

func (f *freezer) pipe(dst, src, key net.Conn) {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		f.mu.Lock()
		fz := f.frozen[key]
		f.mu.Unlock()
		if fz {
			select {} // swallow: the peer never hears again, nothing is closed
		}
		if n > 0 {
			dst.Write(buf[:n])
		}
		if err != nil {
			if err != io.EOF {
				dst.Close()
			}
			dst.Close()
			return
		}
	}
}

// A listening connection that dies without closing (a partition, a dropped
// NAT entry) must not leave the feed trusted: the caches would keep a
// session another instance signed out. The listener's own ping stops
// coming back, so it reports the feed lost and reconnects.
func TestListenerNoticesASilentlyDeadConnection(t *testing.T) {
	pgtest.Backends(t, func(t *testing.T) {
		if !pgtest.OnPostgres(t) {
			t.Skip("one instance per SQLite file: no change feed")
		}
		db, dsn := openDB(t)
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()

		dir := t.TempDir()
		ln, err := net.Listen("unix", filepath.Join(dir, ".s.PGSQL.5432"))
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		u, _ := url.Parse(dsn)
		upstream := filepath.Join(u.Query().Get("host"), ".s.PGSQL.5432")
		f := &freezer{frozen: map[net.Conn]bool{}}
		go func() {
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				s, err := net.Dial("unix", upstream)
				if err != nil {
					c.Close()
					continue
				}
				f.mu.Lock()
				f.conns = append(f.conns, c)
				f.mu.Unlock()
				go f.pipe(s, c, c)
				go f.pipe(c, s, c)
			}
		}()
		q := u.Query()
		q.Set("host", dir)
		u.RawQuery = q.Encode()
		other, err := store.OpenExisting(ctx, u.String())
		if err != nil {
			t.Fatal(err)
		}
		defer other.Close()
		other.SQL().SetMaxIdleConns(0) // only the listener's connection lives on
		go other.ListenForChanges(ctx,
			func() { other.SetChangeFeed(true); other.NoteExternalChange() },
			func() { other.SetChangeFeed(false) })
		for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
			if _, ok := other.Generation(); ok {
				break
			}
			if time.Now().After(deadline) {
				t.Fatal("feed never came up")
			}
		}
		f.freeze()
		gen, _ := other.Generation()
		// Another instance signs a session out.
		if err := db.SessionRows().CommitCtx(ctx, "tok", []byte("x"), time.Now().Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
		if err := db.SessionRows().DeleteCtx(ctx, "tok"); err != nil {
			t.Fatal(err)
		}
		// The heartbeat gives up on a silent connection within seconds
		// (3 s on a quiet machine, a tick more under load); TCP keepalive
		// alone would take minutes to hours. Waited for up to 20 s, so a
		// busy machine's late tick does not fail the test.
		for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(50 * time.Millisecond) {
			g, trusted := other.Generation()
			if !trusted || g != gen {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("20s after a sign-out on another instance, this one's change count is unchanged (%d) and still trusted: its session cache keeps honouring the signed-out session until TCP keepalive (minutes to hours) notices", g)
			}
		}
	})
}
