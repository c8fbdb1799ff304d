package store_test

import (
	"context"
	"errors"
	"github.com/tapdesk/tapdesk/internal/pgtest"
	"testing"
	"time"

	"github.com/tapdesk/tapdesk"
	"github.com/tapdesk/tapdesk/mail"
	"github.com/tapdesk/tapdesk/store"
)

func disputeEvent() tapdesk.Event {
	return tapdesk.Event{Activity: tapdesk.ActDispute, Category: tapdesk.CatRequest, Actor: tapdesk.Actor{Name: "Notice recipient (no sign-in)"}}
}

func TestDisputeLinks(t *testing.T) {
	pgtest.Backends(t, func(t *testing.T) {
		db, _ := openDB(t)
		ctx := context.Background()
		r := newRequest("d1", 1)
		fileRequest(t, db, r, store.Mail{Kind: mail.KindPassRequested, To: "target@x"}, store.Mail{Kind: mail.KindPassRequested, To: "boss@x"},
			store.Mail{Kind: mail.KindApprovalRequest, To: "appr@x"})
		if to, err := db.NoticeRecipients(ctx, "d1"); err != nil || len(to) != 2 || to[0] != "target@x" || to[1] != "boss@x" {
			t.Fatalf("notice recipients: %v %v", to, err)
		}
		if err := db.CreateDisputeLink(ctx, "secret-dispute-token", "d1", "target@x", t0, t0.Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
		if err := db.CreateDisputeLink(ctx, "short-token", "d1", "boss@x", t0, t0.Add(time.Minute)); err != nil {
			t.Fatal(err)
		}

		got, link, err := db.DisputeLink(ctx, "secret-dispute-token", t0)
		if err != nil || got.ID != "d1" || link.Recipient != "target@x" {
			t.Fatalf("look up: %+v %+v %v", got, link, err)
		}
		if _, _, err := db.DisputeLink(ctx, "secret-dispute-tokeN", t0); !errors.Is(err, tapdesk.ErrDisputeLinkUnknown) {
			t.Errorf("altered: %v", err)
		}
		if _, l, err := db.DisputeLink(ctx, "short-token", t0.Add(time.Minute)); !errors.Is(err, tapdesk.ErrDisputeLinkExpired) || l.RequestID != "d1" {
			t.Errorf("expired: %v %+v", err, l)
		}

		// Looking does not spend; disputing does, with the state change.
		ch := store.Change{From: tapdesk.StatePending, To: tapdesk.StateDisputed, At: t0, DecisionNote: "not me"}
		if err := db.Dispute(ctx, "secret-dispute-token", got, ch, []store.Mail{{Kind: mail.KindDisputeAlert, To: "agent@x"}}, disputeEvent()); err != nil {
			t.Fatal(err)
		}
		if r, _ := db.Request(ctx, "d1"); r.State != tapdesk.StateDisputed || r.DecisionNote != "not me" {
			t.Errorf("after dispute: %s %q", r.State, r.DecisionNote)
		}
		if _, _, err := db.DisputeLink(ctx, "secret-dispute-token", t0); !errors.Is(err, tapdesk.ErrDisputeLinkUsed) {
			t.Errorf("reuse: %v", err)
		}
		if err := db.Dispute(ctx, "secret-dispute-token", got, ch, nil, disputeEvent()); !errors.Is(err, tapdesk.ErrDisputeLinkUsed) {
			t.Errorf("second dispute with a spent token: %v", err)
		}
		var n int
		if err := db.SQL().QueryRow(`SELECT COUNT(*) FROM dispute_links WHERE token_hash LIKE '%secret%' OR recipient LIKE '%secret%'`).Scan(&n); err != nil || n != 0 {
			t.Errorf("token stored in clear (%d rows, %v)", n, err)
		}
	})
}

// An issue under way (claimed) does not hold a dispute back: the dispute
// wins, and the issue's own approved -> issued update then fails.
func TestDisputeWinsOverClaim(t *testing.T) {
	pgtest.Backends(t, func(t *testing.T) {
		db, _ := openDB(t)
		ctx := context.Background()
		r := newRequest("d2", 1)
		fileRequest(t, db, r)
		ap := tapdesk.Approval{RequestID: "d2", Approver: approver, Decision: tapdesk.DecisionApprove, CreatedAt: t0}
		if _, err := db.Decide(ctx, r, ap, tapdesk.Event{Activity: tapdesk.ActApprove, Category: tapdesk.CatApproval, Actor: approver}, nil); err != nil {
			t.Fatal(err)
		}
		if err := db.ClaimIssue(ctx, r, tapdesk.Event{Activity: tapdesk.ActIssueStart, Category: tapdesk.CatMethod, Actor: agent, Time: t0}); err != nil {
			t.Fatal(err)
		}
		if err := db.CreateDisputeLink(ctx, "tok", "d2", "target@x", t0, t0.Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
		// A dispute that read the request while pending loses cleanly, leaving
		// the token unspent for the retry.
		stale := store.Change{From: tapdesk.StatePending, To: tapdesk.StateDisputed, At: t0}
		if err := db.Dispute(ctx, "tok", r, stale, nil, disputeEvent()); tapdesk.ErrorCode(err) != tapdesk.ECONFLICT || errors.Is(err, tapdesk.ErrDisputeLinkUsed) {
			t.Fatalf("stale dispute: %v", err)
		}
		ch := store.Change{From: tapdesk.StateApproved, To: tapdesk.StateDisputed, At: t0}
		if err := db.Dispute(ctx, "tok", r, ch, nil, disputeEvent()); err != nil {
			t.Fatalf("dispute of a claimed request: %v", err)
		}
		tap := &tapdesk.TAPInfo{MethodID: "m-1", StartAt: t0, LifetimeMinutes: 60}
		issue := store.Change{From: tapdesk.StateApproved, To: tapdesk.StateIssued, At: t0, TAP: tap, Revealed: true}
		err := db.Transition(ctx, r, issue, nil, tapdesk.Event{Activity: tapdesk.ActIssueAttempt, Category: tapdesk.CatMethod, Actor: agent})
		if tapdesk.ErrorCode(err) != tapdesk.ECONFLICT {
			t.Fatalf("issue after the dispute: %v, want a conflict", err)
		}
		if got, _ := db.Request(ctx, "d2"); got.State != tapdesk.StateDisputed || got.TAPMethodID != "" {
			t.Errorf("request after the race: %s, method %q", got.State, got.TAPMethodID)
		}
	})
}
