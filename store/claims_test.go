package store_test

import (
	"context"
	"github.com/tapdesk/tapdesk/internal/pgtest"
	"testing"
	"time"

	"github.com/tapdesk/tapdesk"
	"github.com/tapdesk/tapdesk/mail"
	"github.com/tapdesk/tapdesk/store"
)

// approvedRequest files and approves a request.
func approvedRequest(t *testing.T, db *store.DB, id string) *tapdesk.Request {
	t.Helper()
	r := newRequest(id, 1)
	fileRequest(t, db, r)
	ev := tapdesk.Event{Activity: tapdesk.ActApprove, Category: tapdesk.CatApproval, Actor: approver}
	if _, err := db.Decide(context.Background(), r, tapdesk.Approval{Approver: approver, Decision: tapdesk.DecisionApprove, CreatedAt: t0}, ev, nil); err != nil {
		t.Fatal(err)
	}
	r.State = tapdesk.StateApproved
	return r
}

func claim(t *testing.T, db *store.DB, r *tapdesk.Request, at time.Time) {
	t.Helper()
	start := tapdesk.Event{Time: at, Activity: tapdesk.ActIssueStart, Category: tapdesk.CatMethod, Actor: agent}
	if err := db.ClaimIssue(context.Background(), r, start); err != nil {
		t.Fatal(err)
	}
}

func settleEvent(at time.Time) tapdesk.Event {
	return tapdesk.Event{Time: at, Activity: tapdesk.ActIssueSettled, Category: tapdesk.CatMethod, Actor: tapdesk.SystemActor,
		Details: map[string]string{"pass": "no pass found"}}
}

// A reveal that claims a request and never records an outcome (the process
// died between claim and outcome) leaves it claimed. After the lease the
// claim is found and settled, once; the late reveal can then record nothing.
func TestStrandedClaimSettles(t *testing.T) {
	pgtest.Backends(t, func(t *testing.T) {
		db, _ := openDB(t)
		ctx := context.Background()
		reveal := approvedRequest(t, db, "stranded")
		claimedAt := t0.Add(time.Minute)
		claim(t, db, reveal, claimedAt)

		// Stranded: expiry skips it, and within the lease it is no sweep's.
		if n, err := db.ExpireDue(ctx, t0.Add(48*time.Hour)); err != nil || n != 0 {
			t.Fatalf("expiry touched a claimed request: %d %v", n, err)
		}
		if stale, err := db.StaleClaims(ctx, claimedAt.Add(tapdesk.IssueClaimLease-time.Microsecond)); err != nil || len(stale) != 0 {
			t.Fatalf("a claim within its lease is stale: %v %v", stale, err)
		}
		now := claimedAt.Add(tapdesk.IssueClaimLease)
		stale, err := db.StaleClaims(ctx, now)
		if err != nil || len(stale) != 1 || stale[0].ID != reveal.ID || stale[0].IssueClaimedAt == nil || !stale[0].IssueClaimedAt.Equal(claimedAt) {
			t.Fatalf("stale claims %+v %v", stale, err)
		}
		sweepA, sweepB := stale[0], *stale[0] // two instances read the same claim
		if err := db.SettleClaim(ctx, sweepA, tapdesk.StateApproved, now, nil, settleEvent(now)); err != nil {
			t.Fatal(err)
		}
		if err := db.SettleClaim(ctx, &sweepB, tapdesk.StateApproved, now, nil, settleEvent(now)); tapdesk.ErrorCode(err) != tapdesk.ECONFLICT {
			t.Fatalf("a second sweep settled the same claim: %v", err)
		}
		if n := len(events(t, db, store.EventFilter{Activity: string(tapdesk.ActIssueSettled)})); n != 1 {
			t.Fatalf("%d settle events, want 1", n)
		}
		got, _ := db.Request(ctx, reveal.ID)
		if got.State != tapdesk.StateApproved || got.IssueClaimedAt != nil {
			t.Fatalf("after settling: %s, claim %v", got.State, got.IssueClaimedAt)
		}

		// The reveal that outlived its lease wakes up: neither its success nor
		// its release is recorded, since its claim is no longer the request's.
		tap := &tapdesk.TAPInfo{MethodID: "m-late", CreatedAt: claimedAt, StartAt: claimedAt, LifetimeMinutes: 60}
		issued := tapdesk.Event{Activity: tapdesk.ActIssueAttempt, Category: tapdesk.CatMethod, Actor: agent}
		if err := db.Transition(ctx, reveal, store.Change{From: tapdesk.StateApproved, To: tapdesk.StateIssued, At: now, TAP: tap, Revealed: true}, nil, issued); tapdesk.ErrorCode(err) != tapdesk.ECONFLICT {
			t.Fatalf("a reveal whose claim was settled recorded its pass: %v", err)
		}
		if err := db.ReleaseIssue(ctx, reveal, issued); tapdesk.ErrorCode(err) != tapdesk.ECONFLICT {
			t.Fatalf("a reveal whose claim was settled released it: %v", err)
		}

		// A new reveal claims and records as usual, Graph's stamp kept.
		again := got
		claim(t, db, again, now.Add(time.Minute))
		tap.MethodID = "m-2"
		tap.CreatedAt = now.Add(time.Minute + 300*time.Millisecond)
		issued.Time = now.Add(2 * time.Minute)
		if err := db.Transition(ctx, again, store.Change{From: tapdesk.StateApproved, To: tapdesk.StateIssued, At: issued.Time, TAP: tap, Revealed: true}, nil, issued); err != nil {
			t.Fatal(err)
		}
		got, _ = db.Request(ctx, reveal.ID)
		if got.State != tapdesk.StateIssued || got.TAPCreatedAt == nil || !got.TAPCreatedAt.Equal(tap.CreatedAt) || !got.PassCreatedAt().Equal(tap.CreatedAt) {
			t.Fatalf("issued: %s, pass created %v", got.State, got.TAPCreatedAt)
		}
		if stale, _ := db.StaleClaims(ctx, now.Add(time.Hour)); len(stale) != 0 {
			t.Fatalf("an issued request is a stale claim: %+v", stale)
		}
		for id, want := range map[string]bool{"m-2": true, "m-late": false} {
			if got, err := db.TAPRecorded(ctx, id); err != nil || got != want {
				t.Errorf("TAPRecorded(%s) = %v %v, want %v", id, got, err, want)
			}
		}
		if rep := verify(t, db); rep.Break != nil {
			t.Fatalf("chain: %+v", rep.Break)
		}
	})
}

// A stale claim whose approval window has closed is settled as expired,
// with the expiry audited and mailed in the same transaction.
func TestStaleClaimPastItsWindowExpires(t *testing.T) {
	pgtest.Backends(t, func(t *testing.T) {
		db, _ := openDB(t)
		ctx := context.Background()
		r := approvedRequest(t, db, "late")
		claim(t, db, r, t0.Add(time.Minute))
		now := r.ExpiresAt.Add(time.Hour)
		stale, err := db.StaleClaims(ctx, now)
		if err != nil || len(stale) != 1 {
			t.Fatalf("%+v %v", stale, err)
		}
		expired := tapdesk.Event{Time: now, Activity: tapdesk.ActRequestExpired, Category: tapdesk.CatRequest, Actor: tapdesk.SystemActor}
		if err := db.SettleClaim(ctx, stale[0], tapdesk.StateExpired, now, []store.Mail{{Kind: mail.KindRequestDecided, To: agent.UPN}}, settleEvent(now), expired); err != nil {
			t.Fatal(err)
		}
		got, _ := db.Request(ctx, r.ID)
		if got.State != tapdesk.StateExpired || got.IssueClaimedAt != nil {
			t.Fatalf("%s, claim %v", got.State, got.IssueClaimedAt)
		}
		for _, act := range []tapdesk.Activity{tapdesk.ActIssueSettled, tapdesk.ActRequestExpired, tapdesk.ActMailQueued} {
			if evs := events(t, db, store.EventFilter{RequestID: r.ID, Activity: string(act)}); len(evs) != 1 {
				t.Errorf("%s: %d events, want 1", act, len(evs))
			}
		}
		if err := db.SettleClaim(ctx, got, tapdesk.StateApproved, now, nil, settleEvent(now)); err == nil {
			t.Error("settled a request that notes no claim")
		}
	})
}
