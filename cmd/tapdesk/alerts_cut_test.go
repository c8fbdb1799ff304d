package main

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"testing"

	"github.com/tapdesk/tapdesk"
	"github.com/tapdesk/tapdesk/evidence"
)

// Someone with database access cuts the trail's tail below where the alert
// job had read to: the tamper event the checkpoint publisher then writes
// reuses a seq below the cursor, so no rule ever reads it. The job sees
// the cursor's event gone and raises audit_failure itself, naming the seq,
// and reads on from the head.
func TestCutTailRaisesAuditFailure(t *testing.T) {
	d := startTestDemo(t)
	ctx := context.Background()
	a := d.browser(t)
	a.signIn("/", "agent")
	approvedRequest(t, d, a)
	if _, err := d.app.evidence.PublishNow(ctx, "test"); err != nil {
		t.Fatal(err)
	}
	if _, err := d.app.alerts.Run(ctx, d.app.cfg.Now()); err != nil {
		t.Fatal(err)
	}
	cur, err := d.app.db.AlertCursor(ctx)
	if err != nil || cur < 10 {
		t.Fatalf("alert cursor %d, %v", cur, err)
	}
	raw := openRaw(t, d.dbPath)
	write(t, raw, `DELETE FROM audit_events WHERE seq > ?`, cur-8)
	if _, err := d.app.evidence.PublishNow(ctx, "test"); !errors.Is(err, evidence.ErrTrailBroken) {
		t.Fatalf("publish over a cut trail: %v, want ErrTrailBroken", err)
	}
	if _, err := d.app.alerts.Run(ctx, d.app.cfg.Now()); err != nil {
		t.Fatal(err)
	}
	l, err := d.app.db.Alerts(ctx, tapdesk.AlertAuditFailure, 0, 10)
	if err != nil || len(l) == 0 {
		t.Fatalf("no audit_failure alert after the trail was cut (%v)", err)
	}
	want := "no longer reaches where alerts had read to (seq " + strconv.FormatInt(cur, 10) + ")"
	found := false
	for _, al := range l {
		found = found || strings.Contains(al.Summary, want)
	}
	if !found {
		t.Errorf("audit_failure alerts %+v; want one saying %q", l, want)
	}
	// The cursor is back on the trail: events written from now on raise
	// alerts again. It may be past cur: the events written after the cut
	// (the alert's own, the approval's mail going out meanwhile) take the
	// cut numbers again, and the run reads them. A cursor left where it
	// was would name an event whose mac is not the one it kept.
	c, err := d.app.db.CheckAlertCursor(ctx)
	if err != nil || !c.Intact || c.Seq > c.Head {
		t.Errorf("alert cursor after the cut: %+v, %v", c, err)
	}
}
