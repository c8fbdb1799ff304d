package store

import (
	"context"

	"github.com/tapdesk/tapdesk"
)

// countWriteTurn counts one turn to write (a write transaction, a session
// save, an outbox claim) taken for the web request ctx serves, if it
// serves one (tapdesk.RequestScope): the write turns a page view queued
// for, which Server-Timing reports next to its Graph calls so that tests
// can pin them and benchmarks can count them.
func countWriteTurn(ctx context.Context) {
	if s := tapdesk.RequestScopeFrom(ctx); s != nil {
		s.AddWriteTurn()
	}
}
