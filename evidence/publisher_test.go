package evidence_test

import (
	"context"
	"errors"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/tapdesk/tapdesk"
	"github.com/tapdesk/tapdesk/evidence"
	"github.com/tapdesk/tapdesk/internal/pgtest"
	"github.com/tapdesk/tapdesk/store"
)

const auditKey = "evidence-test-audit-key-0123456789abcdef"

func openTrail(t testing.TB, dsn string) *store.DB {
	t.Helper()
	db, err := store.Open(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.SetAuditKey(auditKey); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func countOf(t *testing.T, db *store.DB, act tapdesk.Activity) int {
	t.Helper()
	evs, err := db.Events(context.Background(), store.EventFilter{Activity: string(act)})
	if err != nil {
		t.Fatal(err)
	}
	return len(evs)
}

// Two instances on one database, at the same interval: exactly one
// publishes (the one whose claim lands), the other does nothing; the next
// interval is published once again.
func TestOneInstancePublishesPerInterval(t *testing.T) {
	pgtest.Backends(t, func(t *testing.T) {
		dsn := pgtest.DSN(t, filepath.Join(t.TempDir(), "tapdesk.db"))
		a, b := openTrail(t, dsn), openTrail(t, dsn)
		ctx := context.Background()
		if err := a.AppendEvent(ctx, tapdesk.Event{Activity: tapdesk.ActServiceStarted, Category: tapdesk.CatService}); err != nil {
			t.Fatal(err)
		}
		var mu sync.Mutex
		now := time.Date(2026, 11, 29, 9, 59, 0, 0, time.UTC)
		clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
		signer := newSigner(t)
		pa := evidence.NewPublisher(a, evidence.PublisherConfig{Signer: signer, Now: clock})
		pb := evidence.NewPublisher(b, evidence.PublisherConfig{Signer: signer, Now: clock})
		for interval := 1; interval <= 2; interval++ {
			mu.Lock()
			now = now.Add(time.Hour)
			mu.Unlock()
			var wg sync.WaitGroup
			results := make([]int, 2)
			for i, p := range []*evidence.Publisher{pa, pb} {
				wg.Add(1)
				go func() {
					defer wg.Done()
					n, err := p.PublishDue(ctx)
					if err != nil {
						t.Error(err)
					}
					results[i] = n
				}()
			}
			wg.Wait()
			if results[0]+results[1] != 1 {
				t.Fatalf("interval %d: the instances published %v, want exactly one", interval, results)
			}
			if n := countOf(t, a, tapdesk.ActCheckpointPublished); n != interval {
				t.Fatalf("after interval %d, %d checkpoints audited", interval, n)
			}
		}
		line, err := a.LatestCheckpoint(ctx)
		if err != nil || line == "" {
			t.Fatalf("latest checkpoint %q, %v", line, err)
		}
		cp, err := evidence.ParseCheckpoint([]byte(line))
		if err != nil || cp.Verify(signer.Public()) != nil {
			t.Fatalf("stored checkpoint %q does not verify: %v", line, err)
		}
	})
}

// A trail that does not verify is never signed: the publish fails, the
// failure is audited as tampering (for the alerts), and nothing is stored.
func TestTamperedTrailIsNotSigned(t *testing.T) {
	pgtest.Backends(t, func(t *testing.T) {
		db := openTrail(t, pgtest.DSN(t, filepath.Join(t.TempDir(), "tapdesk.db")))
		ctx := context.Background()
		for range 3 {
			if err := db.AppendEvent(ctx, tapdesk.Event{Activity: tapdesk.ActSignIn, Category: tapdesk.CatSignIn}); err != nil {
				t.Fatal(err)
			}
		}
		p := evidence.NewPublisher(db, evidence.PublisherConfig{Signer: newSigner(t)})
		if _, err := p.PublishNow(ctx, "test"); err != nil {
			t.Fatal(err)
		}
		if _, err := db.SQL().Exec(`UPDATE audit_events SET mac = ? WHERE seq = 2`, "00000000000000000000000000000000000000000000000000000000000000ff"); err != nil {
			t.Fatal(err)
		}
		before, _ := db.LatestCheckpoint(ctx)
		_, err := p.PublishNow(ctx, "test")
		if !errors.Is(err, evidence.ErrTrailBroken) {
			t.Fatalf("publishing over a tampered trail: %v", err)
		}
		if after, _ := db.LatestCheckpoint(ctx); after != before {
			t.Error("a checkpoint was stored for a tampered trail")
		}
		evs, err := db.Events(ctx, store.EventFilter{Activity: string(tapdesk.ActTamperDetected)})
		if err != nil || len(evs) != 1 || evs[0].Result != tapdesk.ResultFailure {
			t.Fatalf("the refusal is not audited as tampering: %+v %v", evs, err)
		}
	})
}
