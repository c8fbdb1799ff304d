package main

import (
	"context"

	"github.com/tapdesk/tapdesk"
	"github.com/tapdesk/tapdesk/store"
)

// forceThreatMode records, when TAPDESK_THREAT_MODE is set, that
// heightened-threat mode is on (audited, with the setting as its reason),
// so every instance and the banner's "since" agree on when it began. An
// instance that finds it already on (another instance, or an admin) leaves
// it as it is.
func forceThreatMode(ctx context.Context, db *store.DB, cfg appConfig) error {
	if !cfg.ThreatMode {
		return nil
	}
	// A mode held on (the row disagrees with the trail) is switched on
	// again, which records the signed switch the row lacks.
	if m, err := db.ThreatMode(ctx); err != nil || m.On && m.Held == "" {
		return err
	}
	by := tapdesk.Actor{Name: "tapdesk (" + tapdesk.ThreatModeSetting + ")"}
	ev := tapdesk.Event{Activity: tapdesk.ActThreatModeChanged, Category: tapdesk.CatSecurity, Actor: by,
		Result: tapdesk.ResultSuccess, Reason: tapdesk.ThreatModeForcedReason,
		Details: map[string]string{tapdesk.ThreatModeDetail: tapdesk.OnOff(true), "setting": tapdesk.ThreatModeSetting}}
	err := db.SetThreatMode(ctx, true, by, tapdesk.ThreatModeForcedReason, ev)
	if tapdesk.ErrorCode(err) == tapdesk.ECONFLICT {
		return nil // switched on meanwhile
	}
	return err
}

// raiseAlertsNow runs the alert rules outside the sweep, for a change that
// must not wait for it (heightened-threat mode switched off), until they
// have read the trail as far as it reached when called. Running beside
// the sweep's own run is safe: one of them moves the cursor over a batch
// and the other's try is a conflict, after which this one tries again.
// raised says the rules did read that far (whichever run did), so the
// change's alert is stored; mailed that it is also mailed (the security
// addresses are set). Neither, the next sweep raises it.
func (a *app) raiseAlertsNow(ctx context.Context) (raised, mailed bool) {
	cur, err := a.db.CheckAlertCursor(ctx)
	if err != nil {
		a.cfg.Logger.Error("evaluating the alert rules", "err", err)
		return false, false
	}
	n := 0
	for range 3 {
		got, err := a.alerts.Run(ctx, a.cfg.Now())
		n += got
		if err != nil {
			a.cfg.Logger.Error("evaluating the alert rules", "err", err)
			break
		}
		if seq, err := a.db.AlertCursor(ctx); err == nil && seq >= cur.Head {
			raised = true
			break
		} else if err != nil {
			break
		}
	}
	if n > 0 {
		a.worker.Kick()
	}
	return raised, raised && len(a.alerts.SecurityEmails) > 0
}

// checkThreatMode records, as tampering, a heightened-threat mode row the
// audit trail does not explain, or a trail that does not check out after
// the mode's last switch (tapdesk.HoldThreatMode: pages and issues already
// hold the mode on). The tamper event is an audit alarm: the alert
// rules raise it and mail the security team. A finding is recorded once per
// process while it lasts; another instance, or a restart, records it again.
func (a *app) checkThreatMode(ctx context.Context) (int, error) {
	a.threatMu.Lock()
	defer a.threatMu.Unlock()
	// The trail after the last switch first: a later switch hidden by
	// editing or removing its event breaks the chain there.
	head, err := a.db.WalkThreatTrail(ctx, a.threatWalked)
	if err != nil {
		return 0, err
	}
	a.threatWalked = head
	finding, err := a.db.ThreatModeFinding(ctx)
	if err != nil || finding == a.threatFinding {
		return 0, err
	}
	a.threatFinding = finding
	if finding == "" {
		return 0, nil
	}
	a.cfg.Logger.Error("tampering: heightened-threat mode is held on", "finding", finding)
	err = a.db.AppendEvent(ctx, tapdesk.Event{Activity: tapdesk.ActTamperDetected, Category: tapdesk.CatAudit, Result: tapdesk.ResultFailure,
		Reason: finding, Details: map[string]string{"check": tapdesk.ThreatModeTamperCheck}})
	if err != nil {
		a.threatFinding = "" // try again at the next sweep
		return 0, err
	}
	return 1, nil
}
