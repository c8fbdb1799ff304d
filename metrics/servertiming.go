package metrics

import (
	"context"
	"time"

	"github.com/tapdesk/tapdesk"
)

// The time one incoming request spent waiting on Graph (its HTTP attempts
// and the pauses before retries, waits at the same time counting once) is
// kept in its tapdesk.RequestScope for the Server-Timing header: server
// time minus Graph's is the time tapdesk itself kept the person waiting.
// The HTTP exchanges are counted too.

// GraphWait marks the start of a wait on Graph (an HTTP exchange, or a
// pause before a retry) for the request ctx serves, if it serves one; the
// function it returns marks the end (call: it was an exchange). Waits at
// the same time count once.
func GraphWait(ctx context.Context) (end func(call bool)) {
	s := tapdesk.RequestScopeFrom(ctx)
	if s == nil {
		return noWait
	}
	s.GraphBegin(time.Now())
	return func(call bool) { s.GraphEnd(time.Now(), call) }
}

func noWait(bool) {}
