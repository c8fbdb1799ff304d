package metrics

import (
	"context"
	"sync/atomic"
	"time"
)

// GraphTime adds up the time one incoming request spent waiting on Graph
// (each HTTP attempt and each wait before a retry), for the demo's
// Server-Timing header: server time minus Graph's is tapdesk's own.
// Concurrent Graph calls of one request add up, so it can exceed the
// request's wall time.
type GraphTime struct{ nanos atomic.Int64 }

// Total is the time added so far.
func (g *GraphTime) Total() time.Duration { return time.Duration(g.nanos.Load()) }

type graphTimeKey struct{}

// WithGraphTime starts adding up Graph time for calls made with ctx.
func WithGraphTime(ctx context.Context) (context.Context, *GraphTime) {
	g := &GraphTime{}
	return context.WithValue(ctx, graphTimeKey{}, g), g
}

// AddGraphTime adds d to ctx's Graph time, if it is being added up.
func AddGraphTime(ctx context.Context, d time.Duration) {
	if g, ok := ctx.Value(graphTimeKey{}).(*GraphTime); ok {
		g.nanos.Add(int64(d))
	}
}
