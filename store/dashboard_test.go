package store_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/tapdesk/tapdesk"
	"github.com/tapdesk/tapdesk/internal/pgtest"
	"github.com/tapdesk/tapdesk/store"
)

// The dashboards' reads on both databases: the history search (case
// ignored, LIKE's own characters taken literally) and paging, an
// approver's decisions, and each person's latest sign-in.
func TestDashboardReads(t *testing.T) {
	pgtest.Backends(t, func(t *testing.T) {
		db, _ := openDB(t)
		ctx := context.Background()
		for i, c := range []struct{ id, name, upn, ticket string }{
			{"h1", "Nina Newhire", "nina@x", "INC-100"},
			{"h2", "Marco Rossi", "marco@x", "INC-200"},
			{"h3", "Percent 100% Person", "p_u@x", `CHG\7`},
		} {
			r := newRequest(c.id, 1)
			r.TargetName, r.TargetUPN, r.TicketRef = c.name, c.upn, c.ticket
			r.CreatedAt = t0.Add(time.Duration(i) * time.Minute)
			fileRequest(t, db, r)
		}
		ids := func(f store.RequestFilter) []string {
			t.Helper()
			f.Summary = true
			rs, err := db.Requests(ctx, f)
			if err != nil {
				t.Fatal(err)
			}
			var out []string
			for _, r := range rs {
				out = append(out, r.ID)
			}
			return out
		}
		for q, want := range map[string][]string{
			"NINA": {"h1"}, "rossi": {"h2"}, "inc-": {"h2", "h1"}, "100": {"h3", "h1"},
			"100%": {"h3"}, "%": {"h3"}, "_": {"h3"}, "p_u": {"h3"}, `\`: {"h3"}, "zz": nil, "n%a": nil,
		} {
			if got := ids(store.RequestFilter{Search: q}); !slices.Equal(got, want) {
				t.Errorf("search %q: %v, want %v", q, got, want)
			}
		}
		if got := ids(store.RequestFilter{Limit: 2, Offset: 1}); !slices.Equal(got, []string{"h2", "h1"}) {
			t.Errorf("second page of one: %v", got)
		}

		r := newRequest("d1", 1)
		fileRequest(t, db, r)
		ev := tapdesk.Event{Activity: tapdesk.ActDeny, Category: tapdesk.CatApproval, Actor: approver}
		if _, err := db.Decide(ctx, r, tapdesk.Approval{RequestID: r.ID, Approver: approver, Decision: tapdesk.DecisionDeny, Reason: "no", CreatedAt: t0.Add(time.Hour)}, ev, nil); err != nil {
			t.Fatal(err)
		}
		decided, err := db.DecidedBy(ctx, approver.ObjectID, 10)
		if err != nil || len(decided) != 1 || decided[0].Request.ID != "d1" || decided[0].Decision != tapdesk.DecisionDeny ||
			decided[0].Request.State != tapdesk.StateDenied || !decided[0].DecidedAt.Equal(t0.Add(time.Hour)) {
			t.Fatalf("decided by the approver: %+v, %v", decided, err)
		}
		if decided, err := db.DecidedBy(ctx, second.ObjectID, 10); err != nil || len(decided) != 0 {
			t.Fatalf("decided by another: %+v, %v", decided, err)
		}

		signIn := func(a tapdesk.Actor, roles string) {
			t.Helper()
			if err := db.AppendEvent(ctx, tapdesk.Event{Activity: tapdesk.ActSignIn, Category: tapdesk.CatSignIn, Result: tapdesk.ResultSuccess,
				Actor: a, Time: t0, Details: map[string]string{"roles": roles}}); err != nil {
				t.Fatal(err)
			}
		}
		signIn(approver, "Tap.Approver")
		signIn(second, "Tap.Approver")
		signIn(approver, "Tap.Auditor") // roles are the latest sign-in's
		got, err := db.LatestSignIns(ctx, t0.Add(-time.Hour), 10)
		if err != nil || len(got) != 2 {
			t.Fatalf("latest sign-ins: %+v, %v", got, err)
		}
		if got[0].Actor.ObjectID != approver.ObjectID || !slices.Equal(tapdesk.SignInRoles(got[0]), []tapdesk.Role{tapdesk.RoleAuditor}) {
			t.Errorf("the approver's latest sign-in: %+v", got[0])
		}
		if got, err := db.LatestSignIns(ctx, t0.Add(time.Hour), 10); err != nil || len(got) != 0 {
			t.Errorf("sign-ins since after them: %+v, %v", got, err)
		}
		if n, err := db.PassesIssuedSince(ctx, t0.Add(-time.Hour)); err != nil || n != 0 {
			t.Errorf("passes issued: %d, %v", n, err)
		}
	})
}
