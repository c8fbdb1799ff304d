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
	if m, err := db.ThreatMode(ctx); err != nil || m.On {
		return err
	}
	by := tapdesk.Actor{Name: "tapdesk (" + tapdesk.ThreatModeSetting + ")"}
	ev := tapdesk.Event{Activity: tapdesk.ActThreatModeChanged, Category: tapdesk.CatSecurity, Actor: by,
		Result: tapdesk.ResultSuccess, Reason: tapdesk.ThreatModeForcedReason,
		Details: map[string]string{"threat_mode": "on", "setting": tapdesk.ThreatModeSetting}}
	err := db.SetThreatMode(ctx, true, by, tapdesk.ThreatModeForcedReason, ev)
	if tapdesk.ErrorCode(err) == tapdesk.ECONFLICT {
		return nil // switched on meanwhile
	}
	return err
}
