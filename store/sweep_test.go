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

func TestEscalateDue(t *testing.T) {
	pgtest.Backends(t, func(t *testing.T) {
		db, _ := openDB(t)
		ctx := context.Background()
		r := newRequest("esc", 1) // filed at t0, expires t0+24h
		fileRequest(t, db, r)
		to := []string{"lead@x", "appr@x"}

		if n, err := db.EscalateDue(ctx, t0.Add(11*time.Hour), to); err != nil || n != 0 {
			t.Fatalf("before half time: %d %v", n, err)
		}
		if n, err := db.EscalateDue(ctx, t0.Add(12*time.Hour), to); err != nil || n != 1 {
			t.Fatalf("at half time: %d %v", n, err)
		}
		if n, _ := db.EscalateDue(ctx, t0.Add(13*time.Hour), to); n != 0 {
			t.Fatalf("escalated twice")
		}
		evs := events(t, db, store.EventFilter{Activity: string(tapdesk.ActRequestEscalate)})
		if len(evs) != 1 || evs[0].RequestID != r.ID || evs[0].CorrelationID != r.CorrelationID || evs[0].Actor != tapdesk.SystemActor {
			t.Fatalf("escalation event %+v", evs)
		}
		items, err := db.DueMail(ctx, t0.Add(13*time.Hour), 10)
		if err != nil {
			t.Fatal(err)
		}
		reminders := map[string]bool{}
		for _, it := range items {
			if it.Kind == mail.KindApprovalReminder {
				reminders[it.To] = true
			}
		}
		if !reminders["lead@x"] || !reminders["appr@x"] || len(reminders) != 2 {
			t.Fatalf("reminders queued %v (items %+v)", reminders, items)
		}
	})
}

func TestExpireDue(t *testing.T) {
	pgtest.Backends(t, func(t *testing.T) {
		db, _ := openDB(t)
		ctx := context.Background()
		pending := newRequest("exp-pending", 1)
		fileRequest(t, db, pending)
		approved := newRequest("exp-approved", 1)
		fileRequest(t, db, approved)
		claimed := newRequest("exp-claimed", 1)
		fileRequest(t, db, claimed)
		fresh := newRequest("exp-fresh", 1)
		fresh.ExpiresAt = t0.Add(48 * time.Hour)
		fileRequest(t, db, fresh)
		for _, r := range []*tapdesk.Request{approved, claimed} {
			ev := tapdesk.Event{Activity: tapdesk.ActApprove, Category: tapdesk.CatApproval, Actor: approver}
			if _, err := db.Decide(ctx, r, tapdesk.Approval{Approver: approver, Decision: tapdesk.DecisionApprove, CreatedAt: t0}, ev, nil); err != nil {
				t.Fatal(err)
			}
		}
		if err := db.ClaimIssue(ctx, claimed, tapdesk.Event{Activity: tapdesk.ActIssueStart, Category: tapdesk.CatMethod, Actor: agent}); err != nil {
			t.Fatal(err)
		}

		if n, err := db.ExpireDue(ctx, t0.Add(23*time.Hour)); err != nil || n != 0 {
			t.Fatalf("early: %d %v", n, err)
		}
		n, err := db.ExpireDue(ctx, t0.Add(24*time.Hour))
		if err != nil || n != 2 {
			t.Fatalf("expired %d, %v; want the pending and the approved one", n, err)
		}
		for id, want := range map[string]tapdesk.State{"exp-pending": tapdesk.StateExpired, "exp-approved": tapdesk.StateExpired,
			"exp-claimed": tapdesk.StateApproved, "exp-fresh": tapdesk.StatePending} {
			r, err := db.Request(ctx, id)
			if err != nil || r.State != want {
				t.Errorf("%s is %s (%v), want %s", id, r.State, err, want)
			}
		}
		evs := events(t, db, store.EventFilter{Activity: string(tapdesk.ActRequestExpired)})
		if len(evs) != 2 {
			t.Fatalf("expiry events %+v", evs)
		}
		for _, ev := range evs {
			if ev.Reason == "" || ev.Actor != tapdesk.SystemActor || ev.CorrelationID == "" {
				t.Errorf("expiry event %+v", ev)
			}
		}
		if n, _ := db.ExpireDue(ctx, t0.Add(25*time.Hour)); n != 0 {
			t.Fatal("expired twice")
		}
		if rep := verify(t, db); rep.Break != nil {
			t.Fatalf("chain after sweeps: %+v", rep.Break)
		}
	})
}
