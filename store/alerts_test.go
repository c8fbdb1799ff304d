package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/tapdesk/tapdesk"
	"github.com/tapdesk/tapdesk/internal/pgtest"
	"github.com/tapdesk/tapdesk/mail"
	"github.com/tapdesk/tapdesk/store"
)

// Raising alerts moves the cursor and stores each key once, with its audit
// event and mail; a second instance that read the same events finds the
// cursor moved and writes nothing.
func TestRaiseAlertsOnceAcrossInstances(t *testing.T) {
	pgtest.Backends(t, func(t *testing.T) {
		ctx := context.Background()
		dbA, dsn := openDB(t)
		dbB := reopen(t, dsn, testAuditKey) // a second instance
		if err := dbA.AppendEvent(ctx, tapdesk.Event{Time: t0, Activity: tapdesk.ActTamperDetected, Category: tapdesk.CatAudit, Result: tapdesk.ResultFailure}); err != nil {
			t.Fatal(err)
		}
		if c, err := dbA.AlertCursor(ctx); err != nil || c != 0 {
			t.Fatalf("a new database's cursor: %d, %v", c, err)
		}
		evs, err := dbA.EventsAfter(ctx, 0, 10)
		if err != nil || len(evs) != 1 {
			t.Fatalf("events: %v %v", evs, err)
		}
		alert := tapdesk.Alert{Rule: tapdesk.AlertAuditFailure, Key: "audit_failure|1", Subject: "audit trail", Summary: "Detect tampering.",
			Seq: evs[0].Seq, At: t0, Evidence: "/audit?before=2", Mail: tapdesk.AlertMailQueued}
		to := []string{"security@contoso.example", "soc@contoso.example"}
		raised, err := dbA.RaiseAlerts(ctx, 0, evs[0].Seq, []tapdesk.Alert{alert}, to, t0)
		if err != nil || len(raised) != 1 || raised[0].ID == 0 {
			t.Fatalf("raise: %+v, %v", raised, err)
		}
		// Instance B read the same events before A moved the cursor.
		if _, err := dbB.RaiseAlerts(ctx, 0, evs[0].Seq, []tapdesk.Alert{alert}, to, t0); tapdesk.ErrorCode(err) != tapdesk.ECONFLICT {
			t.Fatalf("second instance on the same batch: %v, want a conflict", err)
		}
		// A later batch that finds the same key again stores nothing new.
		again, err := dbB.RaiseAlerts(ctx, evs[0].Seq, evs[0].Seq+5, []tapdesk.Alert{alert}, to, t0)
		if err != nil || len(again) != 0 {
			t.Fatalf("same key again: %+v, %v", again, err)
		}
		if c, _ := dbA.AlertCursor(ctx); c != evs[0].Seq+5 {
			t.Errorf("cursor %d, want %d", c, evs[0].Seq+5)
		}
		list, err := dbB.Alerts(ctx, "", 0, 10)
		if err != nil || len(list) != 1 || list[0].Summary != alert.Summary || !list[0].At.Equal(t0) {
			t.Fatalf("alerts: %+v, %v", list, err)
		}
		if n, _ := dbA.CountEvents(ctx, store.EventFilter{Activity: string(tapdesk.ActAlertRaised)}, 10); n != 1 {
			t.Errorf("%d alert events, want 1", n)
		}
		due, err := dbA.DueMail(ctx, t0, 10)
		if err != nil || len(due) != 2 {
			t.Fatalf("due mail: %+v, %v", due, err)
		}
		for _, it := range due {
			if it.Kind != mail.KindSecurityAlert {
				t.Errorf("mail kind %q", it.Kind)
			}
			a, err := dbA.MailedAlert(ctx, it.ID)
			if err != nil || a.ID != raised[0].ID {
				t.Errorf("mailed alert of %d: %+v, %v", it.ID, a, err)
			}
		}
		if _, err := dbA.MailedAlert(ctx, 999999); tapdesk.ErrorCode(err) != tapdesk.ENOTFOUND {
			t.Errorf("unknown outbox item: %v", err)
		}
	})
}

// The alert cursor keeps the mac of the event it read to: once the trail's
// tail is cut below it, whether the trail stays shorter or new events reuse
// the seqs up to and past it, the cursor is no longer intact; moved back to
// the head, it is again.
func TestAlertCursorSeesACutTrail(t *testing.T) {
	pgtest.Backends(t, func(t *testing.T) {
		ctx := context.Background()
		db, _ := openDB(t)
		appendSignIns(t, db, 6)
		if c, err := db.CheckAlertCursor(ctx); err != nil || !c.Intact || c.Seq != 0 || c.Head != 6 {
			t.Fatalf("a new database's cursor: %+v, %v", c, err)
		}
		if _, err := db.RaiseAlerts(ctx, 0, 6, nil, nil, t0); err != nil {
			t.Fatal(err)
		}
		if c, err := db.CheckAlertCursor(ctx); err != nil || !c.Intact || c.Seq != 6 || c.Mac == "" {
			t.Fatalf("cursor after reading the trail: %+v, %v", c, err)
		}
		exec(t, db, `DELETE FROM audit_events WHERE seq > 3`)
		c, err := db.CheckAlertCursor(ctx)
		if err != nil || c.Intact || c.Seq != 6 || c.Head != 3 {
			t.Fatalf("cursor above a cut trail: %+v, %v; want not intact at 6, head 3", c, err)
		}
		appendSignIns(t, db, 4) // seq 4 to 7: 6 is back, another event
		c, err = db.CheckAlertCursor(ctx)
		if err != nil || c.Intact || c.Seq != 6 || c.Head != 7 {
			t.Fatalf("cursor on a cut trail grown past it: %+v, %v; want not intact at 6, head 7", c, err)
		}
		a := tapdesk.TrailCutAlert(c, t0)
		raised, err := db.RaiseAlerts(ctx, c.Seq, c.Head, []tapdesk.Alert{a}, nil, t0)
		if err != nil || len(raised) != 1 || raised[0].Rule != tapdesk.AlertAuditFailure {
			t.Fatalf("raise the cut: %+v, %v", raised, err)
		}
		if c, err := db.CheckAlertCursor(ctx); err != nil || !c.Intact || c.Seq != 7 {
			t.Fatalf("cursor moved back to the head: %+v, %v", c, err)
		}
	})
}

func appendSignIns(t *testing.T, db *store.DB, n int) {
	t.Helper()
	for i := range n {
		if err := db.AppendEvent(context.Background(), tapdesk.Event{Time: t0.Add(time.Duration(i) * time.Second), Activity: tapdesk.ActSignIn,
			Category: tapdesk.CatSignIn, Actor: tapdesk.Actor{UPN: "p@contoso.example"}}); err != nil {
			t.Fatal(err)
		}
	}
}
