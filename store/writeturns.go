package store

import (
	"context"
	"sync/atomic"
)

// WriteTurns counts the turns to write (write transactions, session
// saves, the outbox's claims) taken with one context: the write turns a
// page view queued for, which Server-Timing reports next to its Graph
// calls so that tests can pin them and benchmarks can count them.
type WriteTurns struct{ n atomic.Int64 }

// Count is the number of turns taken so far.
func (w *WriteTurns) Count() int64 { return w.n.Load() }

type writeTurnsKey struct{}

// WithWriteTurns starts counting the write turns taken with ctx.
func WithWriteTurns(ctx context.Context) (context.Context, *WriteTurns) {
	w := &WriteTurns{}
	return context.WithValue(ctx, writeTurnsKey{}, w), w
}

// countWriteTurn counts one turn on ctx's counter, if it has one.
func countWriteTurn(ctx context.Context) {
	if w, ok := ctx.Value(writeTurnsKey{}).(*WriteTurns); ok {
		w.n.Add(1)
	}
}
