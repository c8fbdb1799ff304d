package main

import (
	"context"

	"github.com/tapdesk/tapdesk"
	"github.com/tapdesk/tapdesk/handlers"
	"github.com/tapdesk/tapdesk/outside"
)

// outsideReadyChecks lists the outside-pass job on /readyz when the
// directory reads Entra's audit log. The line degrades rather than fails
// once the log has gone unread for tapdesk.OutsideScanFailingRuns sweeps:
// the cause (a missing AuditLog.Read.All, a Graph outage) is the same for
// every instance, so a failing probe would take them all out of the load
// balancer, and requests, approvals and reveals (which do not need the log)
// with them. The line names the problem for the operator; the metric
// tapdesk_outside_pass_scan_failures is for alarms, and the security team
// gets an alert (tapdesk.AlertOutsideScanFailing).
func outsideReadyChecks(a *app, dir tapdesk.Directory) []handlers.ReadyCheck {
	if _, ok := dir.(outside.AuditLog); !ok {
		return nil
	}
	return []handlers.ReadyCheck{{Name: "entra audit log", Degrades: true, Check: func(context.Context) (string, error) {
		return a.outside.Health() // a.outside is set before the portal serves
	}}}
}
