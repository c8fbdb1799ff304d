package evidence_test

import (
	"context"
	"log/slog"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/tapdesk/tapdesk"
	"github.com/tapdesk/tapdesk/evidence"
	"github.com/tapdesk/tapdesk/internal/pgtest"
)

// BenchmarkPublishAt100k is the cost of a checkpoint (and of an evidence
// pack) on a trail of 100,000 events, a checkpoint already published near
// its head, as every interval after the first finds it. Each iteration
// writes 10 events first, as an interval's traffic would. Measured, not
// asserted:
//
//	go test -run '^$' -bench PublishAt100k -benchtime 20x ./evidence/
func BenchmarkPublishAt100k(b *testing.B) {
	const n = 100_000
	db := openTrail(b, pgtest.DSN(b, filepath.Join(b.TempDir(), "tapdesk.db")))
	ctx := context.Background()
	ev := tapdesk.Event{Activity: tapdesk.ActUserLookup, Category: tapdesk.CatRequest, ActorIP: "10.0.0.1",
		TargetUPN: "someone.with.a.long.name@contoso.example", Details: map[string]string{"synthetic": "true", "query": "someone"}}
	if err := db.AppendEvents(ctx, n, 20_000, func(int) tapdesk.Event { return ev }); err != nil {
		b.Fatal(err)
	}
	p := evidence.NewPublisher(db, evidence.PublisherConfig{Signer: newSigner(b), Logger: slog.New(slog.DiscardHandler)})
	if _, err := p.PublishNow(ctx, "bench"); err != nil {
		b.Fatal(err)
	}
	var r *tapdesk.Request
	traffic := func(b *testing.B) {
		// A request filed since the last checkpoint, and others' events.
		r = &tapdesk.Request{ID: "req-" + strconv.Itoa(b.N) + "-" + strconv.FormatInt(time.Now().UnixNano(), 36), State: tapdesk.StatePending}
		if err := db.AppendEvents(ctx, 10, 10, func(i int) tapdesk.Event {
			if i == 0 {
				return tapdesk.Event{Activity: tapdesk.ActRequestFiled, Category: tapdesk.CatRequest}.ForRequest(r)
			}
			return ev
		}); err != nil {
			b.Fatal(err)
		}
	}
	b.Run("publish", func(b *testing.B) {
		for b.Loop() {
			b.StopTimer()
			traffic(b)
			b.StartTimer()
			if _, err := p.PublishNow(ctx, "bench"); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("pack", func(b *testing.B) {
		for b.Loop() {
			b.StopTimer()
			traffic(b)
			b.StartTimer()
			// The request's newest event is after the last checkpoint, so
			// the pack publishes one too.
			if _, err := p.Pack(ctx, r, "bench"); err != nil {
				b.Fatal(err)
			}
		}
	})
}
