package store

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/tapdesk/tapdesk"
	"github.com/tapdesk/tapdesk/internal/pgtest"
)

// A recount finds a recent request's first event by index, not by walking
// the trail from its start. With request_id alone in the index,
// PostgreSQL's planner took that walk on a trail of a few thousand events
// where most events name no request (it expects a request's events spread
// evenly; they lie together at the end), filtering out every event before
// the request's: milliseconds on each reveal, growing with the trail.
func TestRecountFindsTheRequestByIndex(t *testing.T) {
	ctx := context.Background()
	db, err := Open(ctx, pgtest.URL(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if err := db.SetAuditKey(strings.Repeat("k", 32)); err != nil {
		t.Fatal(err)
	}
	// A helpdesk's trail: each request's events (filing, mail, approval,
	// issue: 17 of them) lie together, and request ids are random, so
	// their order says nothing of the trail's.
	const n = 4000
	id := func(i int) string { return fmt.Sprintf("%x", sha256.Sum256(fmt.Appendf(nil, "%d", i/17)))[:26] }
	err = db.AppendEvents(ctx, n, 1000, func(i int) tapdesk.Event {
		return tapdesk.Event{Activity: tapdesk.ActMailQueued, Category: tapdesk.CatRequest, RequestID: id(i),
			Actor: tapdesk.Actor{UPN: fmt.Sprintf("agent%d@contoso.example", i%40)}}
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.db.ExecContext(ctx, "ANALYZE audit_events"); err != nil {
		t.Fatal(err)
	}
	late := id(n - 300)
	var plan string
	if err := db.db.QueryRowContext(ctx, "EXPLAIN (ANALYZE, FORMAT JSON) "+rebind(recentWindow), late, late).Scan(&plan); err != nil {
		t.Fatal(err)
	}
	var nodes []struct{ Plan planNode }
	if err := json.Unmarshal([]byte(plan), &nodes); err != nil || len(nodes) != 1 {
		t.Fatalf("plan %s: %v", plan, err)
	}
	if filtered := nodes[0].Plan.filtered(); filtered > 100 {
		t.Errorf("the recount of a request filed 300 events before the head filtered out %d events to find it; plan:\n%s", filtered, plan)
	}
}

// planNode is a node of PostgreSQL's EXPLAIN (FORMAT JSON).
type planNode struct {
	Filtered int        `json:"Rows Removed by Filter"`
	Loops    int        `json:"Actual Loops"`
	Plans    []planNode `json:"Plans"`
}

// filtered is the number of rows the node and those under it read and
// threw away.
func (p planNode) filtered() int {
	n := p.Filtered * max(p.Loops, 1)
	for _, c := range p.Plans {
		n += c.filtered()
	}
	return n
}
