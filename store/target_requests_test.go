package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/tapdesk/tapdesk"
	"github.com/tapdesk/tapdesk/internal/pgtest"
	"github.com/tapdesk/tapdesk/store"
)

// TargetRequests lists what an approver weighs beside a request: the
// target's open requests and the passes issued to them since a time, and
// nothing of other targets or older passes.
func TestTargetRequests(t *testing.T) {
	pgtest.Backends(t, func(t *testing.T) {
		db, _ := openDB(t)
		ctx := context.Background()
		forNina := func(r *tapdesk.Request) *tapdesk.Request {
			r.TargetID, r.TargetUPN, r.TargetName = "nina", "nina@x", "Nina Newhire"
			return r
		}
		// An issued pass, issued at t0.
		issued := forNina(newRequest("issued", 1))
		fileRequest(t, db, issued)
		approve(t, db, issued, approver)
		issued.State = tapdesk.StateApproved
		claim(t, db, issued, t0)
		tap := &tapdesk.TAPInfo{MethodID: "m-1", CreatedAt: t0, StartAt: t0, LifetimeMinutes: 60}
		ev := tapdesk.Event{Activity: tapdesk.ActIssueAttempt, Category: tapdesk.CatMethod, Actor: agent}
		if err := db.Transition(ctx, issued, store.Change{From: tapdesk.StateApproved, To: tapdesk.StateIssued, At: t0, TAP: tap, Revealed: true}, nil, ev); err != nil {
			t.Fatal(err)
		}
		// A denied one (never issued), the open one, and someone else's.
		denied := forNina(newRequest("denied", 1))
		fileRequest(t, db, denied)
		dev := tapdesk.Event{Activity: tapdesk.ActDeny, Category: tapdesk.CatApproval, Actor: approver}
		if _, err := db.Decide(ctx, denied, tapdesk.Approval{Approver: approver, Decision: tapdesk.DecisionDeny, Reason: "no", CreatedAt: t0}, dev, nil); err != nil {
			t.Fatal(err)
		}
		open := forNina(newRequest("open", 1))
		open.CreatedAt = t0.Add(time.Minute)
		fileRequest(t, db, open)
		fileRequest(t, db, newRequest("other", 1))

		ids := func(since time.Time) []string {
			rs, err := db.TargetRequests(ctx, "nina", since)
			if err != nil {
				t.Fatal(err)
			}
			var out []string
			for _, r := range rs {
				out = append(out, r.ID)
			}
			return out
		}
		if got := ids(t0.Add(-time.Hour)); len(got) != 2 || got[0] != "open" || got[1] != "issued" {
			t.Errorf("since before the issue: %v, want [open issued]", got)
		}
		if got := ids(t0.Add(time.Hour)); len(got) != 1 || got[0] != "open" {
			t.Errorf("since after the issue: %v, want [open]", got)
		}
	})
}

// Link reads a link without spending it: unknown tokens are refused as
// unknown, and a spent link says when and by whom.
func TestLinkRead(t *testing.T) {
	pgtest.Backends(t, func(t *testing.T) {
		db, _ := openDB(t)
		ctx := context.Background()
		r := newRequest("linked", 1)
		fileRequest(t, db, r)
		if err := db.CreateLink(ctx, "token-1", r.ID, "appr@x", t0, t0.Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
		if _, err := db.Link(ctx, "nope"); err != tapdesk.ErrLinkUnknown {
			t.Fatalf("unknown token: %v", err)
		}
		l, err := db.Link(ctx, "token-1")
		if err != nil || l.RequestID != r.ID || l.Recipient != "appr@x" || l.UsedAt != nil || !l.ExpiresAt.Equal(t0.Add(time.Hour)) {
			t.Fatalf("fresh link %+v %v", l, err)
		}
		p := tapdesk.Principal{TenantID: "t", ObjectID: "appr", UPN: "appr@x", Roles: []tapdesk.Role{tapdesk.RoleApprover}}
		ev := tapdesk.Event{Activity: tapdesk.ActLinkOpened, Category: tapdesk.CatApproval, Actor: p.Actor()}
		if _, err := db.UseLink(ctx, "token-1", p, nil, t0, ev); err != nil {
			t.Fatal(err)
		}
		if l, err = db.Link(ctx, "token-1"); err != nil || l.UsedAt == nil || l.UsedByOID != "appr" {
			t.Fatalf("spent link %+v %v", l, err)
		}
	})
}
