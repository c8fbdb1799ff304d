package store_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/tapdesk/tapdesk"
	"github.com/tapdesk/tapdesk/internal/pgtest"
	"github.com/tapdesk/tapdesk/siem"
)

// The SIEM stream's durable side on both databases: events after a
// cursor in order with their JSON, a lease one instance holds at a time
// (another takes it once it expires), a cursor only its holder moves and
// only forward, and the lag it leaves.
func TestSIEMCursorAndLease(t *testing.T) {
	pgtest.Backends(t, func(t *testing.T) {
		ctx := context.Background()
		a, dsn := openDB(t)
		b := reopen(t, dsn, testAuditKey) // a second instance
		for i := range 5 {
			if err := a.AppendEvent(ctx, tapdesk.Event{Time: t0.Add(time.Duration(i) * time.Minute), Activity: tapdesk.ActSignIn,
				Category: tapdesk.CatSignIn, Actor: tapdesk.Actor{UPN: fmt.Sprintf("p%d@contoso.example", i)}}); err != nil {
				t.Fatal(err)
			}
		}
		behind, oldest, err := a.SIEMLag(ctx, "webhook")
		if err != nil || behind != 5 || !oldest.Equal(t0) {
			t.Fatalf("lag of a sink never used = %d, %v, %v; want the whole trail, 5 events from %v", behind, oldest, err, t0)
		}

		cur, held, err := a.TakeSIEMLease(ctx, "webhook", "A", t0, t0.Add(time.Minute))
		if err != nil || !held || cur != 0 {
			t.Fatalf("first lease = %d, %v, %v; want held at cursor 0", cur, held, err)
		}
		if _, held, err := b.TakeSIEMLease(ctx, "webhook", "B", t0.Add(30*time.Second), t0.Add(90*time.Second)); err != nil || held {
			t.Fatalf("a second instance took a lease still running (held %v, err %v)", held, err)
		}
		if _, held, _ := b.TakeSIEMLease(ctx, "syslog", "B", t0, t0.Add(time.Minute)); !held {
			t.Fatal("a lease on one sink kept another instance off another sink")
		}

		evs, err := a.SIEMEvents(ctx, 0, 3)
		if err != nil || len(evs) != 3 {
			t.Fatalf("SIEMEvents = %d events, %v", len(evs), err)
		}
		for i, ev := range evs {
			var line struct {
				Seq         int64  `json:"seq"`
				Mac         string `json:"mac"`
				Activity    string `json:"activityDisplayName"`
				InitiatedBy struct {
					User struct{ UserPrincipalName string }
				}
			}
			if err := json.Unmarshal(ev.JSON, &line); err != nil {
				t.Fatalf("event %d's JSON: %v: %s", ev.Seq, err, ev.JSON)
			}
			if ev.Seq != int64(i+1) || line.Seq != ev.Seq || line.Mac == "" || line.Mac != ev.Mac ||
				line.Activity != string(tapdesk.ActSignIn) || ev.Activity != line.Activity ||
				line.InitiatedBy.User.UserPrincipalName != fmt.Sprintf("p%d@contoso.example", i) ||
				!ev.Time.Equal(t0.Add(time.Duration(i)*time.Minute)) {
				t.Errorf("event %d = %+v, JSON %s", i, ev, ev.JSON)
			}
		}

		if err := b.AdvanceSIEMCursor(ctx, "webhook", "B", 0, 3, t0); !errors.Is(err, siem.ErrLeaseLost) {
			t.Errorf("an instance without the lease moved the cursor (err %v)", err)
		}
		if err := a.AdvanceSIEMCursor(ctx, "webhook", "A", 0, 3, t0); err != nil {
			t.Fatal(err)
		}
		if err := a.AdvanceSIEMCursor(ctx, "webhook", "A", 3, 2, t0); err == nil {
			t.Error("the cursor was moved back")
		}
		// From a cursor that is no longer there (an operator moved it for
		// a replay): refused, so the holder reads it again.
		if err := a.AdvanceSIEMCursor(ctx, "webhook", "A", 0, 4, t0); !errors.Is(err, siem.ErrLeaseLost) {
			t.Errorf("advanced from a stale cursor (err %v)", err)
		}
		behind, oldest, err = b.SIEMLag(ctx, "webhook")
		if err != nil || behind != 2 || !oldest.Equal(t0.Add(3*time.Minute)) {
			t.Fatalf("lag after 3 acknowledged = %d, %v, %v; want 2 from the 4th event (the cursor never moves back)", behind, oldest, err)
		}
		if evs, _ := b.SIEMEvents(ctx, 3, 10); len(evs) != 2 || evs[0].Seq != 4 || evs[1].Seq != 5 {
			t.Errorf("events after the cursor = %+v, want seq 4 and 5", evs)
		}

		// A lease that ran out passes to whoever asks, with the cursor.
		cur, held, err = b.TakeSIEMLease(ctx, "webhook", "B", t0.Add(2*time.Minute), t0.Add(3*time.Minute))
		if err != nil || !held || cur != 3 {
			t.Fatalf("lease after expiry = %d, %v, %v; want held at cursor 3", cur, held, err)
		}
		if err := a.AdvanceSIEMCursor(ctx, "webhook", "A", 3, 5, t0); !errors.Is(err, siem.ErrLeaseLost) {
			t.Errorf("the former holder moved the cursor (err %v)", err)
		}
		// Given up at shutdown, it is free at once.
		if err := b.ReleaseSIEMLease(ctx, "webhook", "B"); err != nil {
			t.Fatal(err)
		}
		if _, held, _ := a.TakeSIEMLease(ctx, "webhook", "A", t0.Add(2*time.Minute), t0.Add(3*time.Minute)); !held {
			t.Error("a released lease could not be taken")
		}
		if err := a.AdvanceSIEMCursor(ctx, "webhook", "A", 3, 5, t0); err != nil {
			t.Fatal(err)
		}
		if behind, oldest, _ := a.SIEMLag(ctx, "webhook"); behind != 0 || !oldest.IsZero() {
			t.Errorf("lag when all is delivered = %d, %v", behind, oldest)
		}
	})
}

// A SIEM cursor keeps the mac of the event it delivered to: once the
// trail's tail is cut below it (and new events reuse the seqs), it is no
// longer intact, and its holder moves it back to the head, so the events
// written after the cut are sent.
func TestSIEMCursorSeesACutTrail(t *testing.T) {
	pgtest.Backends(t, func(t *testing.T) {
		ctx := context.Background()
		a, _ := openDB(t)
		appendSignIns(t, a, 6)
		if _, held, err := a.TakeSIEMLease(ctx, "webhook", "A", t0, t0.Add(time.Hour)); err != nil || !held {
			t.Fatalf("lease: %v, %v", held, err)
		}
		if head, intact, err := a.CheckSIEMCursor(ctx, "webhook", 0); err != nil || !intact || head != 6 {
			t.Fatalf("new cursor: head %d, intact %v, %v", head, intact, err)
		}
		if err := a.AdvanceSIEMCursor(ctx, "webhook", "A", 0, 6, t0); err != nil {
			t.Fatal(err)
		}
		if head, intact, err := a.CheckSIEMCursor(ctx, "webhook", 6); err != nil || !intact || head != 6 {
			t.Fatalf("cursor at the head: head %d, intact %v, %v", head, intact, err)
		}
		exec(t, a, `DELETE FROM audit_events WHERE seq > 3`)
		appendSignIns(t, a, 2) // seq 4 and 5, below the cursor
		if head, intact, err := a.CheckSIEMCursor(ctx, "webhook", 6); err != nil || intact || head != 5 {
			t.Fatalf("cursor above a cut trail: head %d, intact %v, %v; want not intact, head 5", head, intact, err)
		}
		appendSignIns(t, a, 1) // seq 6 again, another event
		if head, intact, err := a.CheckSIEMCursor(ctx, "webhook", 6); err != nil || intact || head != 6 {
			t.Fatalf("cursor on a cut trail grown back to it: head %d, intact %v, %v; want not intact", head, intact, err)
		}
		if _, err := a.ResumeSIEMCursor(ctx, "webhook", "B", 6, t0); !errors.Is(err, siem.ErrLeaseLost) {
			t.Errorf("an instance without the lease moved the cursor (err %v)", err)
		}
		head, err := a.ResumeSIEMCursor(ctx, "webhook", "A", 6, t0)
		if err != nil || head != 6 {
			t.Fatalf("resume: %d, %v", head, err)
		}
		if _, intact, err := a.CheckSIEMCursor(ctx, "webhook", 6); err != nil || !intact {
			t.Fatalf("cursor resumed at the head: intact %v, %v", intact, err)
		}
		appendSignIns(t, a, 1)
		if evs, _ := a.SIEMEvents(ctx, head, 10); len(evs) != 1 || evs[0].Seq != 7 {
			t.Errorf("events after the resumed cursor = %+v, want seq 7", evs)
		}
		if behind, _, _ := a.SIEMLag(ctx, "webhook"); behind != 1 {
			t.Errorf("lag after the resume = %d, want 1", behind)
		}
	})
}
