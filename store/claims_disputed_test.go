package store_test

import (
	"context"
	"github.com/tapdesk/tapdesk/internal/pgtest"
	"testing"
	"time"

	"github.com/tapdesk/tapdesk"
	"github.com/tapdesk/tapdesk/store"
)

// A request disputed while its pass was being created keeps the reveal's
// claim (the reveal's approved -> issued update fails). If the reveal could
// not delete the pass it made, only the sweep can: the stale claim must be
// listed in whatever state, and settling it clears the claim without moving
// the request out of disputed.
func TestStaleClaimOfDisputedRequestSettles(t *testing.T) {
	pgtest.Backends(t, func(t *testing.T) {
		db, _ := openDB(t)
		ctx := context.Background()
		r := approvedRequest(t, db, "disputed")
		claimedAt := t0.Add(time.Minute)
		claim(t, db, r, claimedAt)
		if err := db.CreateDisputeLink(ctx, "tok", r.ID, "nina@example.com", claimedAt, claimedAt.Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
		disputed := tapdesk.Event{Time: claimedAt.Add(time.Second), Activity: tapdesk.ActDispute, Category: tapdesk.CatRequest, Actor: tapdesk.SystemActor}
		if err := db.Dispute(ctx, "tok", r, store.Change{From: tapdesk.StateApproved, To: tapdesk.StateDisputed, At: disputed.Time}, nil, disputed); err != nil {
			t.Fatal(err)
		}
		// An issued request's claim is its recorded outcome: never listed.
		issued := approvedRequest(t, db, "issued")
		claim(t, db, issued, claimedAt)
		tap := &tapdesk.TAPInfo{MethodID: "m-1", CreatedAt: claimedAt, StartAt: claimedAt, LifetimeMinutes: 60}
		ev := tapdesk.Event{Activity: tapdesk.ActIssueAttempt, Category: tapdesk.CatMethod, Actor: agent}
		if err := db.Transition(ctx, issued, store.Change{From: tapdesk.StateApproved, To: tapdesk.StateIssued, At: claimedAt, TAP: tap, Revealed: true}, nil, ev); err != nil {
			t.Fatal(err)
		}

		now := claimedAt.Add(tapdesk.IssueClaimLease)
		stale, err := db.StaleClaims(ctx, now)
		if err != nil || len(stale) != 1 || stale[0].ID != r.ID || stale[0].State != tapdesk.StateDisputed {
			t.Fatalf("stale claims %+v %v; want the disputed request alone", stale, err)
		}
		if err := db.SettleClaim(ctx, stale[0], tapdesk.StateApproved, now, nil, settleEvent(now)); err == nil {
			t.Fatal("settling moved a disputed request back to approved")
		}
		sweepB := *stale[0]
		if err := db.SettleClaim(ctx, stale[0], tapdesk.StateDisputed, now, nil, settleEvent(now)); err != nil {
			t.Fatal(err)
		}
		if err := db.SettleClaim(ctx, &sweepB, tapdesk.StateDisputed, now, nil, settleEvent(now)); tapdesk.ErrorCode(err) != tapdesk.ECONFLICT {
			t.Fatalf("a second sweep settled the same claim: %v", err)
		}
		got, _ := db.Request(ctx, r.ID)
		if got.State != tapdesk.StateDisputed || got.IssueClaimedAt != nil {
			t.Fatalf("after settling: %s, claim %v; want disputed, no claim", got.State, got.IssueClaimedAt)
		}
		if n := len(events(t, db, store.EventFilter{RequestID: r.ID, Activity: string(tapdesk.ActIssueSettled)})); n != 1 {
			t.Fatalf("%d settle events, want 1", n)
		}
		if stale, _ := db.StaleClaims(ctx, now.Add(time.Hour)); len(stale) != 0 {
			t.Fatalf("still stale: %+v", stale)
		}
		// The replayed trail still says disputed.
		trail := tapdesk.ReplayRequest(events(t, db, store.EventFilter{RequestID: r.ID}))
		if trail.State != tapdesk.StateDisputed || len(trail.Problems) != 0 {
			t.Fatalf("trail: %s %v", trail.State, trail.Problems)
		}
		if rep := verify(t, db); rep.Break != nil {
			t.Fatalf("chain: %+v", rep.Break)
		}
	})
}
