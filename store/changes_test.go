package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/tapdesk/tapdesk"
	"github.com/tapdesk/tapdesk/mail"
	"github.com/tapdesk/tapdesk/store"
)

// The count of committed writes (Generation) advances on every write that
// may change a request or an approval, the session rows' count on every
// session write, and both are trusted on a
// database only this process writes. Writes that touch only the outbox or
// audit events leave it alone (the mail worker polls every few seconds).
func TestGeneration(t *testing.T) {
	db, _ := openDB(t)
	ctx := context.Background()
	gen := func() uint64 {
		t.Helper()
		n, trusted := db.Generation()
		if !trusted {
			t.Fatal("the count of a SQLite database this process opened is not trusted")
		}
		return n
	}
	advances := func(what string, write func()) {
		t.Helper()
		before := gen()
		write()
		if gen() == before {
			t.Errorf("%s left the count at %d", what, before)
		}
	}
	stays := func(what string, write func()) {
		t.Helper()
		before := gen()
		write()
		if after := gen(); after != before {
			t.Errorf("%s moved the count from %d to %d", what, before, after)
		}
	}

	r := newRequest("gen-1", 1)
	advances("filing a request", func() {
		fileRequest(t, db, r, store.Mail{Kind: mail.KindApprovalRequest, To: "appr@x"})
	})
	advances("a decision", func() {
		a := tapdesk.Approval{Approver: approver, Decision: tapdesk.DecisionApprove, CreatedAt: t0}
		ev := tapdesk.Event{Activity: tapdesk.ActApprove, Category: tapdesk.CatRequest, Actor: approver}
		if _, err := db.Decide(ctx, r, a, ev, nil); err != nil {
			t.Fatal(err)
		}
	})
	advances("the expiry sweep", func() {
		if n, err := db.ExpireDue(ctx, r.ExpiresAt.Add(time.Minute)); err != nil || n != 1 {
			t.Fatalf("expired %d, %v", n, err)
		}
	})
	// Session rows have their own count: a page view recording activity
	// must not empty the dashboard's caches, nor a decision every cached
	// session.
	rows := db.SessionRows()
	sessionGen := func() uint64 {
		t.Helper()
		n, trusted := rows.Generation()
		if !trusted {
			t.Fatal("the session count of a SQLite database this process opened is not trusted")
		}
		return n
	}
	sessionsAdvance := func(what string, write func()) {
		t.Helper()
		before := sessionGen()
		stays(what, write)
		if sessionGen() == before {
			t.Errorf("%s left the session count at %d", what, before)
		}
	}
	sessionsAdvance("a session write", func() {
		if err := rows.CommitCtx(ctx, "k", []byte("d"), time.Now().Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
	})
	sessionsAdvance("a session deletion", func() {
		if err := rows.DeleteCtx(ctx, "k"); err != nil {
			t.Fatal(err)
		}
	})
	beforeSessions := sessionGen()
	advances("another instance's write, noted", db.NoteExternalChange)
	if sessionGen() == beforeSessions {
		t.Error("another instance's write left the session count alone; it may have written a session")
	}
	beforeSessions = sessionGen()
	advances("filing another request", func() {
		fileRequest(t, db, newRequest("gen-2", 1), store.Mail{Kind: mail.KindApprovalRequest, To: "appr@x"})
	})
	if sessionGen() != beforeSessions {
		t.Error("filing a request moved the session count")
	}

	stays("an audit event alone", func() {
		if err := db.AppendEvent(ctx, tapdesk.Event{Activity: tapdesk.ActSignIn, Category: tapdesk.CatSignIn, Actor: agent, Time: t0}); err != nil {
			t.Fatal(err)
		}
	})
	stays("polling the outbox", func() {
		items, err := db.DueMail(ctx, t0.Add(48*time.Hour), 10)
		if err != nil || len(items) == 0 {
			t.Fatalf("due mail: %d, %v", len(items), err)
		}
		if err := db.MarkMailSent(ctx, items[0].ID, t0.Add(48*time.Hour)); err != nil {
			t.Fatal(err)
		}
	})
	stays("a read", func() {
		if _, err := db.Requests(ctx, store.RequestFilter{}); err != nil {
			t.Fatal(err)
		}
	})
}

// A database other processes write (one opened without Open, standing for
// a shared PostgreSQL until its change feed is up) has a count nobody may
// trust; the feed's state decides, and its changes advance the count.
func TestGenerationOfSharedDatabase(t *testing.T) {
	_, path := openDB(t)
	db, err := store.OpenExisting(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if _, trusted := db.Generation(); trusted {
		t.Fatal("a database opened without Open is trusted without a change feed")
	}
	before, _ := db.Generation()
	db.SetChangeFeed(true)
	after, trusted := db.Generation()
	if !trusted || after == before {
		t.Fatalf("with the feed up: trusted %v, count %d after %d", trusted, after, before)
	}
	db.SetChangeFeed(false)
	if _, trusted := db.Generation(); trusted {
		t.Fatal("trusted after the feed went down")
	}
}
