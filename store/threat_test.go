package store_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/tapdesk/tapdesk"
	"github.com/tapdesk/tapdesk/internal/pgtest"
	"github.com/tapdesk/tapdesk/store"
)

// TestThreatModeSwitch: the mode is stored with when, who and why, its
// switch and audit event commit together, a switch to the state it is
// already in is a conflict (two admins at once), and the cached read sees
// this instance's switch at once.
func TestThreatModeSwitch(t *testing.T) {
	pgtest.Backends(t, func(t *testing.T) {
		db, _ := openDB(t)
		ctx := context.Background()
		m, err := db.ThreatMode(ctx)
		if err != nil || m.On {
			t.Fatalf("a new database: %+v, %v", m, err)
		}
		admin := tapdesk.Actor{ObjectID: "admin-1", Name: "Ada Admin"}
		ev := tapdesk.Event{Activity: tapdesk.ActThreatModeChanged, Category: tapdesk.CatSecurity, Actor: admin,
			Reason: "Vishing wave against the helpdesk", Result: tapdesk.ResultSuccess, Time: t0}
		if err := db.SetThreatMode(ctx, true, admin, ev.Reason, ev); err != nil {
			t.Fatal(err)
		}
		m, err = db.ThreatMode(ctx)
		if err != nil || !m.On || !m.Since.Equal(t0) || m.By.Name != "Ada Admin" || m.Reason != ev.Reason {
			t.Fatalf("after switching on: %+v, %v", m, err)
		}
		if err := db.SetThreatMode(ctx, true, admin, ev.Reason, ev); tapdesk.ErrorCode(err) != tapdesk.ECONFLICT {
			t.Fatalf("switching on twice: %v", err)
		}
		evs, err := db.Events(ctx, store.EventFilter{Activity: string(tapdesk.ActThreatModeChanged)})
		if err != nil || len(evs) != 1 || evs[0].Reason != ev.Reason {
			t.Fatalf("audited switches: %+v, %v", evs, err)
		}
		ev.Time = t0.Add(time.Hour)
		if err := db.SetThreatMode(ctx, false, admin, "The wave is over", ev); err != nil {
			t.Fatal(err)
		}
		if m, err = db.ThreatMode(ctx); err != nil || m.On || !m.Since.Equal(t0.Add(time.Hour)) {
			t.Fatalf("after switching off: %+v, %v", m, err)
		}
	})
}

// TestThreatModeSeenByAnotherInstance: on PostgreSQL another instance whose
// change feed is not up (so its change count is not trusted) sees a switch
// once its cached read is older than its time to live.
func TestThreatModeSeenByAnotherInstance(t *testing.T) {
	// SQLite serves one instance only.
	t.Run("postgres", func(t *testing.T) {
		pgtest.Require(t)
		a, url := openDB(t)
		b, err := store.Open(context.Background(), url)
		if err != nil {
			t.Fatal(err)
		}
		defer b.Close()
		now := t0
		b.Now = func() time.Time { return now }
		ctx := context.Background()
		if m, err := b.ThreatMode(ctx); err != nil || m.On {
			t.Fatalf("%+v %v", m, err)
		}
		admin := tapdesk.Actor{ObjectID: "admin-1", Name: "Ada Admin"}
		if err := a.SetThreatMode(ctx, true, admin, "Vishing wave", tapdesk.Event{Activity: tapdesk.ActThreatModeChanged,
			Category: tapdesk.CatSecurity, Actor: admin, Result: tapdesk.ResultSuccess}); err != nil {
			t.Fatal(err)
		}
		now = now.Add(3 * time.Second)
		if m, err := b.ThreatMode(ctx); err != nil || !m.On {
			t.Fatalf("the other instance, past the time to live: %+v %v", m, err)
		}
	})
}

// threatAdmin switches the mode in the tests below.
var threatAdmin = tapdesk.Actor{ObjectID: "admin-1", Name: "Ada Admin"}

// threatSwitch is the audit event of threatAdmin's switch, at t0.
func threatSwitch() tapdesk.Event {
	return tapdesk.Event{Activity: tapdesk.ActThreatModeChanged, Category: tapdesk.CatSecurity, Actor: threatAdmin,
		Result: tapdesk.ResultSuccess, Time: t0}
}

// switchThreat switches the mode through the store, as the admin page does.
func switchThreat(t *testing.T, db *store.DB, on bool, reason string) {
	t.Helper()
	ev := threatSwitch()
	ev.Reason = reason // as the admin page records it
	if err := db.SetThreatMode(context.Background(), on, threatAdmin, reason, ev); err != nil {
		t.Fatal(err)
	}
}

// TestThreatModeHeldToTrail performs the insider's shortcut: heightened-
// threat mode switched off in the database, with no event, no fresh
// sign-in and no alert. The row alone no longer decides: the mode is held
// on until a switch through tapdesk records what the row says.
func TestThreatModeHeldToTrail(t *testing.T) {
	pgtest.Backends(t, func(t *testing.T) {
		db, url := openDB(t)
		ctx := context.Background()
		switchThreat(t, db, true, "Vishing wave against the helpdesk")
		if f, err := db.ThreatModeFinding(ctx); err != nil || f != "" {
			t.Fatalf("a switch made through tapdesk: finding %q, %v", f, err)
		}
		// Switched off, and who switched it and why rewritten to match.
		exec(t, db, `UPDATE threat_mode SET switched_on = (1 = 0), changed_by_name = 'Mallory', reason = 'Drill over' WHERE id = 1`)
		f, err := db.ThreatModeFinding(ctx)
		if err != nil || !strings.Contains(f, "says off, but the last switch in the audit trail") {
			t.Fatalf("the row switched off in the database: finding %q, %v", f, err)
		}
		// Another instance (or this one after a restart) reads it afresh,
		// and shows the signed switch's who and why, not the row's.
		other := reopen(t, url, testAuditKey) // another instance, or this one restarted
		m, err := other.ThreatMode(ctx)
		if err != nil || !m.On || m.Held != f {
			t.Fatalf("the mode read after the row was switched off: %+v, %v", m, err)
		}
		if m.By != threatAdmin || m.Reason != "Vishing wave against the helpdesk" || !m.Since.Equal(t0) {
			t.Fatalf("the held mode shows since %v by %+v for %q, not the signed switch's", m.Since, m.By, m.Reason)
		}
		// Switching off through tapdesk (a fresh sign-in, an alert) records
		// the switch the row lacked; it is not "already off".
		if err := other.SetThreatMode(ctx, false, threatAdmin, "The wave is over", threatSwitch()); err != nil {
			t.Fatalf("switching off a held mode: %v", err)
		}
		if m, err := other.ThreatMode(ctx); err != nil || m.On || m.Held != "" {
			t.Fatalf("after switching off: %+v, %v", m, err)
		}

		// The last switch edited in place (its mac no longer checks): held on.
		exec(t, db, `UPDATE audit_events SET record = `+jsonSet(t, 4, `'edited'`)+
			` WHERE seq = (SELECT MAX(seq) FROM audit_events WHERE activity = '`+string(tapdesk.ActThreatModeChanged)+`')`)
		if f, err := other.ThreatModeFinding(ctx); err != nil || !strings.Contains(f, "does not verify") {
			t.Fatalf("the last switch edited: finding %q, %v", f, err)
		}
	})
}

// TestThreatModeRowDeleted: the mode's row deleted in the database, by
// someone who found no other way to switch it off, holds the mode on with
// a finding (no page fails for want of it), and a switch through tapdesk
// puts the row back.
func TestThreatModeRowDeleted(t *testing.T) {
	pgtest.Backends(t, func(t *testing.T) {
		db, url := openDB(t)
		ctx := context.Background()
		exec(t, db, `DELETE FROM threat_mode`)
		other := reopen(t, url, testAuditKey)
		m, err := other.ThreatMode(ctx)
		if err != nil || !m.On || !strings.Contains(m.Held, "missing") || m.Reason != "" || !m.Since.IsZero() {
			t.Fatalf("never switched, row deleted: %+v, %v", m, err)
		}
		if f, err := other.ThreatModeFinding(ctx); err != nil || f != m.Held {
			t.Fatalf("finding %q, %v", f, err)
		}
		off := threatSwitch()
		off.Reason = "Row deleted by mistake"
		if err := other.SetThreatMode(ctx, false, threatAdmin, off.Reason, off); err != nil {
			t.Fatalf("switching off with the row deleted: %v", err)
		}
		if m, err := other.ThreatMode(ctx); err != nil || m.On || m.Held != "" || m.Reason != "Row deleted by mistake" {
			t.Fatalf("after the switch put the row back: %+v, %v", m, err)
		}

		switchThreat(t, other, true, "Vishing wave against the helpdesk")
		exec(t, db, `DELETE FROM threat_mode`)
		third := reopen(t, url, testAuditKey)
		m, err = third.ThreatMode(ctx)
		if err != nil || !m.On || !strings.Contains(m.Held, "missing") || m.Reason != "Vishing wave against the helpdesk" || m.By != threatAdmin {
			t.Fatalf("switched on, row deleted: %+v, %v", m, err)
		}
	})
}

// TestThreatModeRowUnreadable: the row written with values tapdesk never
// writes holds the mode on with a finding, as a deleted one does, and a
// switch through tapdesk writes it whole again. Who and why are the signed
// switch's, also when the row agrees with it and only its words were
// rewritten.
func TestThreatModeRowUnreadable(t *testing.T) {
	pgtest.Backends(t, func(t *testing.T) {
		db, url := openDB(t)
		ctx := context.Background()
		switchThreat(t, db, true, "Vishing wave against the helpdesk")
		exec(t, db, `UPDATE threat_mode SET changed_by_name = 'Mallory', reason = 'Drill' WHERE id = 1`)
		other := reopen(t, url, testAuditKey)
		if m, err := other.ThreatMode(ctx); err != nil || !m.On || m.Held != "" || m.Reason != "Vishing wave against the helpdesk" || m.By != threatAdmin {
			t.Fatalf("the row's words rewritten alone: %+v, %v", m, err)
		}
		corrupt := []string{`UPDATE threat_mode SET changed_at = 'not a time' WHERE id = 1`}
		if db.Backend() == "SQLite" {
			corrupt = append(corrupt, `UPDATE threat_mode SET changed_at = NULL, switched_on = 2 WHERE id = 1`,
				`UPDATE threat_mode SET switched_on = 'no' WHERE id = 1`, `UPDATE threat_mode SET switched_on = 0.5 WHERE id = 1`)
		}
		for _, q := range corrupt {
			exec(t, db, q)
			third := reopen(t, url, testAuditKey)
			m, err := third.ThreatMode(ctx)
			if err != nil || !m.On || !strings.Contains(m.Held, "cannot be read") || m.Reason != "Vishing wave against the helpdesk" {
				t.Fatalf("after %s: %+v, %v", q, m, err)
			}
			if f, err := third.ThreatModeFinding(ctx); err != nil || f != m.Held {
				t.Fatalf("after %s: finding %q, %v", q, f, err)
			}
		}
		off := threatSwitch()
		off.Reason = "The wave is over"
		if err := db.SetThreatMode(ctx, false, threatAdmin, off.Reason, off); err != nil {
			t.Fatalf("switching off an unreadable row: %v", err)
		}
		if m, err := reopen(t, url, testAuditKey).ThreatMode(ctx); err != nil || m.On || m.Held != "" {
			t.Fatalf("after the switch wrote the row again: %+v, %v", m, err)
		}
	})
}

// TestThreatModeHiddenSwitch performs the next step of the insider's
// shortcut: hide the switch that turned the mode on (rename its activity,
// or delete it), so the row switched off agrees with an older switch or
// with none. The walk of the trail after the last switch it can still see
// finds the chain broken and holds the mode on.
func TestThreatModeHiddenSwitch(t *testing.T) {
	for _, hide := range []struct{ name, sql string }{
		{"renamed", `UPDATE audit_events SET record = ` + `%s` + ` WHERE seq = %d`},
		{"deleted", `DELETE FROM audit_events WHERE seq = %d`},
	} {
		t.Run(hide.name, func(t *testing.T) {
			pgtest.Backends(t, func(t *testing.T) {
				db, url := openDB(t)
				ctx := context.Background()
				seed(t, db, 3)
				switchThreat(t, db, true, "First wave")
				switchThreat(t, db, false, "First wave over")
				switchThreat(t, db, true, "Second wave")
				seed(t, db, 3) // the switch is not the trail's last event
				var on int64
				if err := db.SQL().QueryRow(`SELECT MAX(seq) FROM audit_events WHERE activity = '` + string(tapdesk.ActThreatModeChanged) + `'`).Scan(&on); err != nil {
					t.Fatal(err)
				}
				if hide.name == "renamed" {
					exec(t, db, fmt.Sprintf(hide.sql, jsonSet(t, 1, `'Look up user'`), on))
				} else {
					exec(t, db, fmt.Sprintf(hide.sql, on))
				}
				exec(t, db, `UPDATE threat_mode SET switched_on = (1 = 0) WHERE id = 1`)
				other := reopen(t, url, testAuditKey) // another instance, or this one restarted
				if f, err := other.ThreatModeFinding(ctx); err != nil || f != "" {
					t.Fatalf("before the walk the row agrees with the older switch: finding %q, %v", f, err)
				}
				if _, err := other.WalkThreatTrail(ctx, nil); err != nil {
					t.Fatal(err)
				}
				f, err := other.ThreatModeFinding(ctx)
				if err != nil || !strings.Contains(f, "does not check out after the last switch") {
					t.Fatalf("after the walk: finding %q, %v", f, err)
				}
				if m, err := other.ThreatMode(ctx); err != nil || !m.On || m.Held != f {
					t.Fatalf("the mode after the walk: %+v, %v", m, err)
				}
			})
		})
	}
}

// TestThreatModeThroughPrune: a prune checkpoint says what the mode was,
// so a row switched off after the switches were pruned is still held on;
// and nothing is pruned while the mode is held on.
func TestThreatModeThroughPrune(t *testing.T) {
	pgtest.Backends(t, func(t *testing.T) {
		db, _ := openDB(t)
		ctx := context.Background()
		switchThreat(t, db, true, "A long wave")
		if _, err := db.PruneEvents(ctx, t0.Add(time.Hour), threatAdmin); err != nil {
			t.Fatal(err)
		}
		if evs, err := db.Events(ctx, store.EventFilter{Activity: string(tapdesk.ActThreatModeChanged)}); err != nil || len(evs) != 0 {
			t.Fatalf("the switch was not pruned: %d left, %v", len(evs), err)
		}
		exec(t, db, `UPDATE threat_mode SET switched_on = (1 = 0) WHERE id = 1`)
		f, err := db.ThreatModeFinding(ctx)
		if err != nil || !strings.Contains(f, "says off") {
			t.Fatalf("the row switched off after its switch was pruned: finding %q, %v", f, err)
		}
		if _, err := db.PruneEvents(ctx, t0.Add(2*time.Hour), threatAdmin); tapdesk.ErrorCode(err) != tapdesk.ECONFLICT {
			t.Fatalf("pruning while the mode is held on: %v, want a conflict", err)
		}
		// Switching on records the switch the row lacked.
		if err := db.SetThreatMode(ctx, true, threatAdmin, "Still the long wave", threatSwitch()); err != nil {
			t.Fatalf("switching on a held mode: %v", err)
		}
		if f, err := db.ThreatModeFinding(ctx); err != nil || f != "" {
			t.Fatalf("after switching on: finding %q, %v", f, err)
		}
	})
}
