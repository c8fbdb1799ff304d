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
// request's wall time. It also counts the HTTP exchanges.
type GraphTime struct{ nanos, calls atomic.Int64 }

// Total is the time added so far.
func (g *GraphTime) Total() time.Duration { return time.Duration(g.nanos.Load()) }

// Calls is the number of HTTP exchanges (with Graph or its token
// authority, each attempt apart) counted so far.
func (g *GraphTime) Calls() int64 { return g.calls.Load() }

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

// AddGraphCall adds one HTTP exchange that took d to ctx's Graph time and
// count, if they are being added up.
func AddGraphCall(ctx context.Context, d time.Duration) {
	if g, ok := ctx.Value(graphTimeKey{}).(*GraphTime); ok {
		g.nanos.Add(int64(d))
		g.calls.Add(1)
	}
}
