package metrics

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/tapdesk/tapdesk"
)

// TestCountsAreCachedBetweenScrapes: scrapes within CountTTL reuse the
// last count instead of querying the database again.
func TestCountsAreCachedBetweenScrapes(t *testing.T) {
	now := time.Date(2026, 11, 28, 9, 0, 0, 0, time.UTC)
	queries := 0
	c := &cachedCount[int]{ttl: CountTTL, now: func() time.Time { return now },
		count: func(context.Context) (int, error) { queries++; return queries * 10, nil }}
	for range 3 {
		if n, _ := c.get(); n != 10 {
			t.Fatalf("count %d within the ttl, want the cached 10", n)
		}
	}
	now = now.Add(CountTTL)
	if n, _ := c.get(); n != 20 || queries != 2 {
		t.Errorf("after the ttl: count %d after %d queries, want 20 after 2", n, queries)
	}
}

func TestRequestsByStateShowsEveryState(t *testing.T) {
	m := New(Build{Version: "v", Commit: "c"})
	m.RequestsByState([]string{"pending", "issued"}, func(context.Context) (map[string]int, error) {
		return map[string]int{"issued": 2, "newer_state": 1}, nil
	})
	want := `
# HELP tapdesk_requests Requests by state, counted in the database.
# TYPE tapdesk_requests gauge
tapdesk_requests{state="issued"} 2
tapdesk_requests{state="newer_state"} 1
tapdesk_requests{state="pending"} 0
`
	if err := testutil.GatherAndCompare(m.Registry(), strings.NewReader(want), "tapdesk_requests"); err != nil {
		t.Error(err)
	}
}

func TestOutboxDepthFailureDropsOnlyItsSeries(t *testing.T) {
	m := New(Build{Version: "v", Commit: "c"})
	m.OutboxDepth(func(context.Context) (int, error) { return 0, errors.New("database is locked") })
	m.MailSent()
	families, err := m.Registry().Gather()
	if err == nil {
		t.Error("a failed count is not reported")
	}
	// What the handler serves with promhttp.ContinueOnError.
	kept := false
	for _, f := range families {
		kept = kept || f.GetName() == "tapdesk_mail_sent_total"
	}
	if !kept {
		t.Error("the other series are lost with the failed count")
	}
}

func TestNilMetricsCountNothing(t *testing.T) {
	var m *Metrics
	m.ObserveHTTP("/", "GET", 200, time.Millisecond)
	m.HTTPBegin()
	m.HTTPEnd()
	m.ObserveGraph("/v1.0/users", "GET", "2xx", time.Millisecond)
	m.GraphThrottled("/v1.0/users")
	m.GraphWaited("/v1.0/users", time.Second)
	m.MailSent()
	m.MailFailed(MailTemporary)
	m.AuditAppended("Service", 1)
	m.AuditVerified(VerifyOK)
	m.SweepRan("expired", 1, nil, time.Now())
	m.RateLimited("search", "person")
}

func TestServerTimingMarksGraphWaits(t *testing.T) {
	GraphWait(context.Background())(true) // no request: ignored
	g := &tapdesk.RequestScope{ID: "r1"}
	ctx := tapdesk.WithRequestScope(context.Background(), g)
	pause, call := GraphWait(ctx), GraphWait(ctx)
	time.Sleep(2 * time.Millisecond)
	call(true)
	pause(false)
	if g.GraphTime() < 2*time.Millisecond || g.GraphCalls() != 1 {
		t.Errorf("Graph time %s in %d calls, want at least 2ms in 1 (a pause is no call)", g.GraphTime(), g.GraphCalls())
	}
}
