package evidence_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tapdesk/tapdesk"
	"github.com/tapdesk/tapdesk/evidence"
	"github.com/tapdesk/tapdesk/internal/pgtest"
	"github.com/tapdesk/tapdesk/store"
)

func signIns(t *testing.T, db *store.DB, n int) {
	t.Helper()
	for i := range n {
		if err := db.AppendEvent(context.Background(), tapdesk.Event{Activity: tapdesk.ActSignIn, Category: tapdesk.CatSignIn,
			Reason: "sign-in " + strconv.Itoa(i)}); err != nil {
			t.Fatal(err)
		}
	}
}

// lastPublished is the details of the newest checkpoint's audit event.
func lastPublished(t *testing.T, db *store.DB) map[string]string {
	t.Helper()
	evs, err := db.Events(context.Background(), store.EventFilter{Activity: string(tapdesk.ActCheckpointPublished)})
	if err != nil || len(evs) == 0 {
		t.Fatalf("no checkpoint audited: %v", err)
	}
	newest := evs[0]
	for _, e := range evs {
		if e.Seq > newest.Seq {
			newest = e
		}
	}
	return newest.Details
}

// lockedBuffer is a log sink the publisher and the test share.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) count(s string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Count(l.b.String(), s)
}

// The interval's checkpoint walks from the last signed checkpoint, not
// from event 1; once a day (and first after a start) it walks the whole
// trail, which is what catches a record before the checkpoint changed
// without the audit key. After a full walk found a break, every publish
// walks the whole trail again: none signs over the known break.
func TestPublishWalksFromTheLastCheckpointAndTheWholeTrailDaily(t *testing.T) {
	pgtest.Backends(t, func(t *testing.T) {
		db := openTrail(t, pgtest.DSN(t, filepath.Join(t.TempDir(), "tapdesk.db")))
		ctx := context.Background()
		signIns(t, db, 5)
		now := time.Date(2026, 11, 29, 10, 30, 0, 0, time.UTC)
		p := evidence.NewPublisher(db, evidence.PublisherConfig{Signer: newSigner(t), Now: func() time.Time { return now }})
		next := func(d time.Duration) (int, error) {
			t.Helper()
			now = now.Add(d)
			return p.PublishDue(ctx)
		}
		if n, err := next(time.Hour); n != 1 || err != nil {
			t.Fatalf("first interval: %d, %v", n, err)
		}
		if d := lastPublished(t, db); d["walked"] != "whole trail" || d["checked"] != "5" {
			t.Fatalf("the first checkpoint after a start walks the whole trail: %v", d)
		}
		signIns(t, db, 3) // events 7–9 after the checkpoint (5) and its publication (6)
		if n, err := next(time.Hour); n != 1 || err != nil {
			t.Fatalf("second interval: %d, %v", n, err)
		}
		if d := lastPublished(t, db); d["walked"] != "from checkpoint 5" || d["checked"] != "5" || d["seq"] != "9" {
			t.Fatalf("the next checkpoint walks events 5–9 only: %v", d)
		}

		// Event 2 changed by someone without the audit key: its mac is
		// left as it was, so the macs after it still chain.
		if _, err := db.SQL().Exec(`UPDATE audit_events SET record = REPLACE(record, 'sign-in', 'sign-out') WHERE seq = 2`); err != nil {
			t.Fatal(err)
		}
		// The hourly walk from the checkpoint does not read event 2 (the
		// limit store.TrailWalk states)...
		if n, err := next(time.Hour); n != 1 || err != nil {
			t.Fatalf("third interval: %d, %v", n, err)
		}
		// ...the day's full walk does, and signs nothing.
		n, err := next(24 * time.Hour)
		if n != 0 || !errors.Is(err, evidence.ErrTrailBroken) {
			t.Fatalf("the daily full walk over a changed event 2: %d, %v", n, err)
		}
		tampered := func() []tapdesk.Event {
			t.Helper()
			evs, err := db.Events(ctx, store.EventFilter{Activity: string(tapdesk.ActTamperDetected)})
			if err != nil {
				t.Fatal(err)
			}
			return evs
		}
		if evs := tampered(); len(evs) != 1 || evs[0].Details["break_seq"] != "2" || evs[0].Details["break_kind"] != string(store.BreakChanged) {
			t.Fatalf("the break is not audited as tampering at event 2: %+v", evs)
		}
		if n, err := next(time.Hour); n != 0 || !errors.Is(err, evidence.ErrTrailBroken) {
			t.Fatalf("the interval after a failed full walk signed over the break: %d, %v", n, err)
		}
		if n := len(tampered()); n != 2 {
			t.Fatalf("%d refusals audited, want 2", n)
		}
	})
}

// An evidence pack walks the trail once, also when it publishes a
// checkpoint for itself (it signs the head its own walk reached).
func TestPackVerifiesOnce(t *testing.T) {
	pgtest.Backends(t, func(t *testing.T) {
		db := openTrail(t, pgtest.DSN(t, filepath.Join(t.TempDir(), "tapdesk.db")))
		ctx := context.Background()
		var logs lockedBuffer
		p := evidence.NewPublisher(db, evidence.PublisherConfig{Signer: newSigner(t),
			Logger: slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))})
		signIns(t, db, 4)
		if _, err := p.PublishNow(ctx, "test"); err != nil {
			t.Fatal(err)
		}
		r := &tapdesk.Request{ID: "req-once", State: tapdesk.StatePending}
		if err := db.AppendEvent(ctx, tapdesk.Event{Activity: tapdesk.ActRequestFiled, Category: tapdesk.CatRequest}.ForRequest(r)); err != nil {
			t.Fatal(err)
		}
		before := logs.count("audit trail walked")
		if _, err := p.Pack(ctx, r, "tester"); err != nil {
			t.Fatal(err)
		}
		if n := logs.count("audit trail walked") - before; n != 1 {
			t.Fatalf("the pack that published a checkpoint walked the trail %d times, want once:\n%s", n, logs.b.String())
		}
		if n := logs.count("audit checkpoint published"); n != 2 {
			t.Fatalf("%d checkpoints published, want the test's and the pack's", n)
		}
	})
}

// Someone with database access cuts the trail after its last checkpoint
// (the checkpoint's own publication event with it): the request's events
// are all there, and before the checkpoint, yet a pack over this trail
// would vouch for a trail that does not check out. It is refused, and the
// refusal audited as tampering for the request, by a process that never
// saw the cut events (a restart, the CLI).
func TestPackRefusedOverATrailCutAfterItsCheckpoint(t *testing.T) {
	pgtest.Backends(t, func(t *testing.T) {
		dsn := pgtest.DSN(t, filepath.Join(t.TempDir(), "tapdesk.db"))
		db := openTrail(t, dsn)
		ctx := context.Background()
		signer := newSigner(t)
		r := &tapdesk.Request{ID: "req-cut", State: tapdesk.StatePending}
		if err := db.AppendEvent(ctx, tapdesk.Event{Activity: tapdesk.ActRequestFiled, Category: tapdesk.CatRequest}.ForRequest(r)); err != nil {
			t.Fatal(err)
		}
		signIns(t, db, 2)
		cp, err := evidence.NewPublisher(db, evidence.PublisherConfig{Signer: signer}).PublishNow(ctx, "test")
		if err != nil {
			t.Fatal(err)
		}
		signIns(t, db, 3)
		if _, err := db.SQL().Exec(`DELETE FROM audit_events WHERE seq > ?`, cp.Seq); err != nil {
			t.Fatal(err)
		}

		fresh := openTrail(t, dsn)
		pack, err := evidence.NewPublisher(fresh, evidence.PublisherConfig{Signer: signer}).Pack(ctx, r, "tester")
		if !errors.Is(err, evidence.ErrTrailBroken) || pack != nil {
			t.Fatalf("a pack over the cut trail: %v (%d bytes)", err, len(pack))
		}
		if !strings.Contains(err.Error(), "cut off the end") {
			t.Errorf("the refusal does not say what happened: %v", err)
		}
		evs, err := fresh.Events(ctx, store.EventFilter{RequestID: r.ID, Activity: string(tapdesk.ActTamperDetected)})
		if err != nil || len(evs) != 1 || evs[0].Details["break_kind"] != string(store.BreakMissing) {
			t.Fatalf("the refusal is not audited as tampering for the request: %+v %v", evs, err)
		}
	})
}

// The attack the schedule alone missed: someone with database write
// access but not the audit key changes the record of an event before the
// latest checkpoint (its mac left alone). A full walk by one instance finds
// it and audits it as tampering; a second instance whose own full walk is
// fresh (done before the edit) must not then sign over the break by
// walking from the checkpoint only, for no reason: not a pack, not the
// interval, not shutdown. The tampering event after the checkpoint is what
// tells it to walk the whole trail.
func TestAnotherInstanceRefusesToSignAfterAFullWalkFoundABreak(t *testing.T) {
	pgtest.Backends(t, func(t *testing.T) {
		dsn := pgtest.DSN(t, filepath.Join(t.TempDir(), "tapdesk.db"))
		a, b := openTrail(t, dsn), openTrail(t, dsn)
		ctx := context.Background()
		signer := newSigner(t)
		var mu sync.Mutex
		now := time.Date(2026, 11, 29, 10, 30, 0, 0, time.UTC)
		clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
		later := func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }
		signIns(t, b, 5)

		// Instance b walks the whole trail, intact, and signs event 5.
		pb := evidence.NewPublisher(b, evidence.PublisherConfig{Signer: signer, Now: clock})
		later(time.Hour)
		if n, err := pb.PublishDue(ctx); n != 1 || err != nil {
			t.Fatalf("b's first interval: %d, %v", n, err)
		}
		if d := lastPublished(t, b); d["walked"] != "whole trail" || d["seq"] != "5" {
			t.Fatalf("b's first checkpoint: %v", d)
		}
		r := &tapdesk.Request{ID: "req-after-break", State: tapdesk.StatePending}
		if err := b.AppendEvent(ctx, tapdesk.Event{Activity: tapdesk.ActRequestFiled, Category: tapdesk.CatRequest}.ForRequest(r)); err != nil {
			t.Fatal(err)
		}
		signIns(t, b, 2)

		// Event 2 changed without the key.
		if _, err := b.SQL().Exec(`UPDATE audit_events SET record = REPLACE(record, 'sign-in', 'sign-out') WHERE seq = 2`); err != nil {
			t.Fatal(err)
		}
		// Instance a (just started) walks the whole trail and finds it.
		later(time.Hour)
		pa := evidence.NewPublisher(a, evidence.PublisherConfig{Signer: signer, Now: clock})
		later(time.Hour)
		if n, err := pa.PublishDue(ctx); n != 0 || !errors.Is(err, evidence.ErrTrailBroken) {
			t.Fatalf("a's full walk over a changed event 2: %d, %v", n, err)
		}
		if n := countOf(t, b, tapdesk.ActTamperDetected); n != 1 {
			t.Fatalf("%d tampering events, want a's", n)
		}

		// b's own full walk is an hour old (well inside the day), yet it
		// signs nothing.
		if pack, err := pb.Pack(ctx, r, "auditor"); !errors.Is(err, evidence.ErrTrailBroken) || pack != nil {
			t.Fatalf("b packed evidence over the break a found: %v (%d bytes)", err, len(pack))
		}
		if n, err := pb.PublishDue(ctx); n != 0 || !errors.Is(err, evidence.ErrTrailBroken) {
			t.Fatalf("b took the interval a released and signed over the break: %d, %v", n, err)
		}
		if _, err := pb.PublishFinal(ctx); !errors.Is(err, evidence.ErrTrailBroken) {
			t.Fatalf("b's shutdown checkpoint signed over the break: %v", err)
		}
		if n := countOf(t, b, tapdesk.ActCheckpointPublished); n != 1 {
			t.Fatalf("%d checkpoints published, want b's first only", n)
		}
		evs, err := b.Events(ctx, store.EventFilter{Activity: string(tapdesk.ActTamperDetected)})
		if err != nil || len(evs) != 4 {
			t.Fatalf("each refusal is audited: %d, %v", len(evs), err)
		}
		for _, e := range evs {
			if e.Details["break_seq"] != "2" {
				t.Fatalf("a refusal that does not name event 2: %+v", e)
			}
		}
	})
}

// A process that has not walked the whole trail yet (a fresh or
// short-lived instance, the CLI) walks it whole for any publish, not
// only the interval's: an evidence pack and the shutdown checkpoint.
func TestAFreshPublisherWalksTheWholeTrailForAnyReason(t *testing.T) {
	pgtest.Backends(t, func(t *testing.T) {
		dsn := pgtest.DSN(t, filepath.Join(t.TempDir(), "tapdesk.db"))
		db := openTrail(t, dsn)
		ctx := context.Background()
		signer := newSigner(t)
		signIns(t, db, 5)
		if _, err := evidence.NewPublisher(db, evidence.PublisherConfig{Signer: signer}).PublishNow(ctx, "test"); err != nil {
			t.Fatal(err)
		}
		r := &tapdesk.Request{ID: "req-fresh", State: tapdesk.StatePending}
		if err := db.AppendEvent(ctx, tapdesk.Event{Activity: tapdesk.ActRequestFiled, Category: tapdesk.CatRequest}.ForRequest(r)); err != nil {
			t.Fatal(err)
		}
		signIns(t, db, 2)

		for _, publish := range []struct {
			reason string
			run    func(p *evidence.Publisher) error
		}{
			{"evidence", func(p *evidence.Publisher) error { _, err := p.Pack(ctx, r, "auditor"); return err }},
			{"shutdown", func(p *evidence.Publisher) error { _, err := p.PublishFinal(ctx); return err }},
		} {
			var logs lockedBuffer
			p := evidence.NewPublisher(openTrail(t, dsn), evidence.PublisherConfig{Signer: signer,
				Logger: slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))})
			if err := publish.run(p); err != nil {
				t.Fatalf("%s: %v", publish.reason, err)
			}
			if d := lastPublished(t, db); d["reason"] != publish.reason || d["walked"] != "whole trail" {
				t.Errorf("a fresh process's %s checkpoint did not walk the whole trail: %v", publish.reason, d)
			}
			if logs.count("audit trail walked") != 1 || logs.count("from_seq=1 ") != 1 || logs.count("full=true") != 1 {
				t.Errorf("%s: want one walk, from event 1:\n%s", publish.reason, logs.b.String())
			}
		}
	})
}
