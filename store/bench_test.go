package store_test

import (
	"context"
	"fmt"
	"io"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tapdesk/tapdesk"
	"github.com/tapdesk/tapdesk/internal/pgtest"
	"github.com/tapdesk/tapdesk/store"
)

// benchDB opens a database seeded with n synthetic events.
func benchDB(b *testing.B, n int) *store.DB {
	return benchDBOf(b, n, benchEvent)
}

// benchDBOf opens a database seeded with events ev(0) ... ev(n-1).
func benchDBOf(b *testing.B, n int, ev func(int) tapdesk.Event) *store.DB {
	b.Helper()
	db, err := store.Open(context.Background(), pgtest.DSN(b, filepath.Join(b.TempDir(), "bench.db")))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { db.Close() })
	if err := db.SetAuditKey(testAuditKey); err != nil {
		b.Fatal(err)
	}
	if err := db.AppendEvents(context.Background(), n, 10_000, ev); err != nil {
		b.Fatal(err)
	}
	if pgtest.OnPostgres(b) {
		// PostgreSQL plans from the table's statistics, which autovacuum
		// gathers on a live server a while after a bulk write: gather them
		// now, so the plans are those of a server running for a while.
		if _, err := db.SQL().Exec("ANALYZE"); err != nil {
			b.Fatal(err)
		}
	}
	return db
}

// dayEvent is benchEvent in a helpdesk's day: two events in three belong
// to no request (sign-ins, lookups), and a request's 8 events are spread
// over 24.
func dayEvent(i int) tapdesk.Event {
	ev := benchEvent(i)
	if i%3 != 0 {
		ev.RequestID, ev.CorrelationID = "", ""
	} else {
		ev.RequestID = fmt.Sprintf("REQ%023d", i/24)
	}
	return ev
}

func benchEvent(i int) tapdesk.Event {
	return tapdesk.Event{Time: t0.Add(time.Duration(i) * time.Second), Activity: tapdesk.ActUserLookup, Category: tapdesk.CatRequest,
		Actor: tapdesk.Actor{TenantID: "5f1d3c2a-7b4e-4c1a-9e8f-0a1b2c3d4e5f", ObjectID: "11111111-1111-4111-8111-000000000001",
			UPN: "alex.agent@contoso.example", Name: "Alex Agent"}, ActorIP: "198.51.100.7",
		ActorAgent: "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36", TargetID: fmt.Sprintf("22222222-2222-4222-8222-%012d", i%5000),
		TargetUPN: fmt.Sprintf("user%04d@contoso.example", i%5000), RequestID: fmt.Sprintf("REQ%023d", i/8),
		CorrelationID: fmt.Sprintf("corr-%023d", i/8), Details: map[string]string{"synthetic": "true"}}
}

// BenchmarkVerify reports events verified per second.
func BenchmarkVerify(b *testing.B) {
	pgtest.BenchBackends(b, func(b *testing.B) {
		const n = 100_000
		db := benchDB(b, n)
		b.ResetTimer()
		for range b.N {
			rep, err := db.VerifyChain(context.Background())
			if err != nil || rep.Break != nil || rep.Checked != n {
				b.Fatalf("%+v %v", rep, err)
			}
		}
		b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "events/s")
	})
}

// BenchmarkVerifyReplay is verify while it replays requests: "none" has
// one unrelated request in the database (every event's request id is read,
// none matches), "all" holds every one of the trail's 12,500 requests
// (every event matches; its activity, a lookup, is read and skipped) and
// then names each of them, as none has a filing event.
func BenchmarkVerifyReplay(b *testing.B) {
	const n = 100_000
	for _, reqs := range []struct {
		name string
		n    int
	}{{"none", 1}, {"all", n / 8}} {
		b.Run(reqs.name, func(b *testing.B) {
			db := benchDB(b, n)
			_, err := db.SQL().Exec(`WITH RECURSIVE k(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM k WHERE i + 1 < ?)
				INSERT INTO requests (id, correlation_id, state, requester_tid, requester_oid, requester_upn, requester_name,
					target_id, target_upn, target_name, ticket_ref, justification, verification_method, verification_note,
					lifetime_minutes, usable_once, approvals_required, created_at, updated_at, expires_at)
				SELECT printf('REQ%023d', i), 'c', 'pending', 't', 'o', 'u', 'n', 'x', 'x', 'x', 'INC', 'j', 'callback', 'n',
					60, 1, 1, '2026-01-01T00:00:00.000000Z', '2026-01-01T00:00:00.000000Z', '2026-01-02T00:00:00.000000Z' FROM k`, reqs.n)
			if err != nil {
				b.Fatal(err)
			}
			b.ResetTimer()
			for range b.N {
				rep, err := db.VerifyChain(context.Background())
				if err != nil || rep.Break != nil || rep.Checked != n || len(rep.Unexplained) < reqs.n {
					b.Fatalf("%+v %v", rep, err)
				}
			}
			b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "events/s")
		})
	}
}

// BenchmarkExport reports events exported per second, per format.
func BenchmarkExport(b *testing.B) {
	const n = 100_000
	db := benchDB(b, n)
	for _, format := range []string{store.FormatCSV, store.FormatJSONL} {
		b.Run(format, func(b *testing.B) {
			for range b.N {
				if _, err := db.ExportEvents(context.Background(), io.Discard, format, store.EventFilter{}); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "events/s")
		})
	}
}

// BenchmarkAppendEvent is the single writer's throughput with one event per
// transaction, as the portal writes them (each commits on its own).
func BenchmarkAppendEvent(b *testing.B) {
	pgtest.BenchBackends(b, func(b *testing.B) {
		db := benchDB(b, 1000)
		ctx := context.Background()
		b.ResetTimer()
		for i := range b.N {
			if err := db.AppendEvent(ctx, benchEvent(i)); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
	})
}

// BenchmarkFileRequest is the write of a page that changes state: a
// request filed with its audit event, by writers in parallel (agents at the
// start of a shift), each transaction taking the one write lock. Its time
// is how long a writer holds that lock, which on PostgreSQL is mostly
// round trips.
func BenchmarkFileRequest(b *testing.B) {
	pgtest.BenchBackends(b, func(b *testing.B) {
		db := benchDB(b, 1000)
		ctx := context.Background()
		var n atomic.Int64
		b.ResetTimer()
		b.SetParallelism(4)
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				id := fmt.Sprintf("bench-%d", n.Add(1))
				r := newRequest(id, 1)
				ev := tapdesk.Event{Activity: tapdesk.ActRequestFiled, Category: tapdesk.CatRequest, Actor: agent}
				if err := db.FileRequest(ctx, r, ev, nil); err != nil {
					b.Error(err)
					return
				}
			}
		})
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "requests/s")
	})
}

// BenchmarkAppendEventsBatched is audit seed's path: 10,000 per transaction.
func BenchmarkAppendEventsBatched(b *testing.B) {
	pgtest.BenchBackends(b, func(b *testing.B) {
		db := benchDB(b, 0)
		b.ResetTimer()
		if err := db.AppendEvents(context.Background(), b.N, 10_000, benchEvent); err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
	})
}

// BenchmarkRequestEvidence is the issue-time recount of a request filed at
// the start of a 100,000-event window (a busy day of decision TTL): the
// whole window is walked and checked, and the request's 8 events decoded.
func BenchmarkRequestEvidence(b *testing.B) {
	const n = 100_000
	db := benchDB(b, n)
	id := fmt.Sprintf("REQ%023d", 0)
	b.ResetTimer()
	for range b.N {
		evs, bad, err := db.RequestEvidence(context.Background(), id)
		if err != nil || len(bad) != 0 || len(evs) != 8 {
			b.Fatalf("%d events, unverified %v, %v", len(evs), bad, err)
		}
	}
	b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "events/s")
}

// BenchmarkRecount is the reveal's recount of a request whose 8 events
// are spread over a 700-event window (a busy hour between filing and
// issue): "checked" reads and checks every record (as an evidence pack
// does and as a recount of events this process has not seen does);
// "remembered" passes over the events this process wrote, reading and
// checking only the request's own.
func BenchmarkRecount(b *testing.B) {
	pgtest.BenchBackends(b, benchmarkRecount)
}

func benchmarkRecount(b *testing.B) {
	b.Run("early", func(b *testing.B) {
		benchmarkRecountOf(b, benchDB(b, 700), fmt.Sprintf("REQ%023d", 1)) // events 8..15
	})
	// A reveal's request is a recent one: its window is as long, but the
	// trail before it is long too, and the first of its events is found
	// among them.
	b.Run("late", func(b *testing.B) {
		const n = 6_000
		benchmarkRecountOf(b, benchDBOf(b, n, dayEvent), fmt.Sprintf("REQ%023d", (n-700)/24))
	})
}

// benchmarkRecountOf times the two recounts of request id, whose 8 events
// are in db.
func benchmarkRecountOf(b *testing.B, db *store.DB, id string) {
	for _, bc := range []struct {
		name string
		read func(context.Context, string) (int, []int64, error)
	}{
		{"checked", func(ctx context.Context, id string) (int, []int64, error) {
			evs, bad, err := db.SealedRequestEvidence(ctx, id)
			return len(evs), bad, err
		}},
		{"remembered", func(ctx context.Context, id string) (int, []int64, error) {
			evs, bad, err := db.RequestEvidence(ctx, id)
			return len(evs), bad, err
		}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			for range b.N {
				n, bad, err := bc.read(context.Background(), id)
				if err != nil || len(bad) != 0 || n != 8 {
					b.Fatalf("%d events, unverified %v, %v", n, bad, err)
				}
			}
		})
	}
}
