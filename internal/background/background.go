// Package background runs a read on a goroutine of its own while the code
// that needs its answer does other work: a page's reads of Graph side by
// side instead of one after another.
package background

import (
	"context"
	"fmt"
	"log/slog"
	"runtime/debug"
)

// Read is a read going on in the background (Start). A nil Read is a read
// that was never started.
type Read[T any] struct {
	done   chan struct{}
	cancel context.CancelCauseFunc
	v      T
	err    error
}

// Start starts read(ctx) on a goroutine of its own. A panic in it is
// logged to log with its stack and becomes its error: the caller's
// recoverer covers only the caller's goroutine.
func Start[T any](ctx context.Context, log *slog.Logger, read func(context.Context) (T, error)) *Read[T] {
	ctx, cancel := context.WithCancelCause(ctx)
	r := &Read[T]{done: make(chan struct{}), cancel: cancel}
	go func() {
		defer close(r.done)
		defer func() {
			if v := recover(); v != nil {
				log.ErrorContext(ctx, "panic", "in", "background read", "panic", fmt.Sprint(v), "stack", string(debug.Stack()))
				var zero T
				r.v, r.err = zero, fmt.Errorf("panic in a background read: %v", v)
			}
		}()
		r.v, r.err = read(ctx)
	}()
	return r
}

// Result waits for the read and returns what it gave (T's zero value and
// no error for a nil Read).
func (r *Read[T]) Result() (T, error) {
	if r == nil {
		var zero T
		return zero, nil
	}
	<-r.done
	return r.v, r.err
}

// Stop gives the read up with cause if it is still going (its answer is
// no longer needed) and waits for it, so nothing of the caller's work runs
// on after the caller returns. Stopping a nil or finished Read does nothing
// more than wait.
func (r *Read[T]) Stop(cause error) {
	if r == nil {
		return
	}
	r.cancel(cause)
	<-r.done
}
