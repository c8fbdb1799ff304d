package metrics

import (
	"context"
	"time"

	"github.com/tapdesk/tapdesk"
)

// The time one incoming request spent waiting on Graph (each HTTP attempt
// and each wait before a retry) is added up in its tapdesk.RequestScope,
// for the Server-Timing header: server time minus Graph's is tapdesk's
// own. The HTTP exchanges are counted too.

// AddGraphTime adds d of waiting (before a retry) to the Graph time of
// the request ctx serves, if it serves one.
func AddGraphTime(ctx context.Context, d time.Duration) {
	if s := tapdesk.RequestScopeFrom(ctx); s != nil {
		s.AddGraphTime(d, false)
	}
}

// AddGraphCall adds one HTTP exchange that took d to the Graph time and
// count of the request ctx serves, if it serves one.
func AddGraphCall(ctx context.Context, d time.Duration) {
	if s := tapdesk.RequestScopeFrom(ctx); s != nil {
		s.AddGraphTime(d, true)
	}
}
