package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/tapdesk/tapdesk"
	"github.com/tapdesk/tapdesk/internal/pgtest"
)

// Only an issue attempt that made a pass explains a registration by
// tapdesk's app: an issue begun whose create failed does not. An entry
// naming the user by UPN alone matches on the UPN.
func TestExplainByIssueNeedsAPassMade(t *testing.T) {
	pgtest.Backends(t, func(t *testing.T) {
		ctx := context.Background()
		db, _ := openDB(t)
		from, to := t0.Add(-time.Minute), t0.Add(time.Minute)
		for _, ev := range []tapdesk.Event{
			{Time: t0, Activity: tapdesk.ActIssueStart, Category: tapdesk.CatMethod, TargetID: "u-1", TargetUPN: "u1@contoso.example"},
			{Time: t0, Activity: tapdesk.ActIssueAttempt, Category: tapdesk.CatMethod, Result: tapdesk.ResultFailure, TargetID: "u-1", TargetUPN: "u1@contoso.example"},
		} {
			if err := db.AppendEvent(ctx, ev); err != nil {
				t.Fatal(err)
			}
		}
		reg := tapdesk.PassRegistration{AuditID: "a-1", At: t0, TargetID: "u-1", TargetUPN: "u1@contoso.example", ByApp: true, ByID: "app"}
		if ok, err := db.ExplainByIssue(ctx, reg, from, to, t0); err != nil || ok {
			t.Fatalf("a failed issue explained a registration: %v %v", ok, err)
		}
		if err := db.AppendEvent(ctx, tapdesk.Event{Time: t0, Activity: tapdesk.ActIssueAttempt, Category: tapdesk.CatMethod,
			TargetID: "u-1", TargetUPN: "u1@contoso.example", TAPMethodID: "m-1"}); err != nil {
			t.Fatal(err)
		}
		byUPN := reg
		byUPN.TargetID, byUPN.TargetUPN = "", "U1@contoso.example"
		if ok, err := db.ExplainByIssue(ctx, byUPN, from, to, t0); err != nil || !ok {
			t.Fatalf("an issued pass did not explain the registration naming its user by UPN: %v %v", ok, err)
		}
		if ok, err := db.ExplainByIssue(ctx, reg, from, to, t0); err != nil || ok {
			t.Fatalf("one issue explained two registrations: %v %v", ok, err)
		}
	})
}
