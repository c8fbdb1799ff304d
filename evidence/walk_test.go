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
