package tapdesk

import (
	"errors"
	"testing"
	"time"
)

// The failing outside-pass scan names its problem, and for a refusal the
// permission that fixes it, in a line short enough for /readyz.
func TestOutsideScanProblem(t *testing.T) {
	since := time.Date(2026, 11, 29, 8, 12, 0, 0, time.UTC)
	for _, c := range []struct {
		err  error
		want string
	}{
		{&GraphError{Kind: GraphForbidden, Status: 403, Code: "Authorization_RequestDenied", Message: "Insufficient privileges to complete the operation."},
			"Graph refused it (403 Authorization_RequestDenied): grant the Graph app the application permission AuditLog.Read.All (admin consent)."},
		{&GraphError{Kind: GraphThrottled, Status: 429, Code: "TooManyRequests"}, "Graph is throttling the reads (429 TooManyRequests); tapdesk reads on at each sweep."},
		{&GraphError{Kind: GraphUnavailable, Status: 503, Code: "serviceNotAvailable"}, "Graph did not answer (503 serviceNotAvailable); tapdesk reads on at each sweep."},
		{&GraphError{Kind: GraphUnauthorized, Status: 401, Code: "InvalidAuthenticationToken"}, "Graph did not accept tapdesk's token (401 InvalidAuthenticationToken): check the Graph app's credentials (see the graph token check)."},
		{errors.New("database is locked"), "The read failed: database is locked."},
	} {
		if got := OutsideScanProblem(c.err); got != c.want {
			t.Errorf("%v:\n got %q\nwant %q", c.err, got, c.want)
		}
		if line := OutsideScanHealth(OutsideScanFailingRuns, since, OutsideScanProblem(c.err)); len(line) > 200 {
			t.Errorf("the /readyz line is %d characters, over /readyz's 200: %q", len(line), line)
		}
	}
	got := OutsideScanFailing(5, since, "Graph is down.")
	if want := "Passes made outside tapdesk are not being looked for: Entra's directory audit log could not be read in 5 sweeps in a row, since 2026-11-29 08:12 UTC. Graph is down."; got != want {
		t.Errorf("got %q\nwant %q", got, want)
	}
}

// A failing scan's event raises one alert keyed by where the shared
// cursor stood: two instances' events on one stuck cursor are one alert.
func TestOutsideScanFailingAlert(t *testing.T) {
	at := time.Date(2026, 11, 29, 8, 20, 0, 0, time.UTC)
	ev := func(seq int64, cursor string) Event {
		return Event{Seq: seq, Time: at, Activity: ActOutsideScanFailing, Category: CatSecurity, Result: ResultFailure, Actor: SystemActor,
			Reason: "Passes made outside tapdesk are not being looked for: AuditLog.Read.All", Details: map[string]string{"read_up_to": cursor}}
	}
	got := EvaluateAlerts(AlertInput{New: []Event{ev(7, "2026-11-29T08:00:00Z"), ev(9, "2026-11-29T08:00:00Z"), ev(12, "2026-11-29T08:30:00Z")}},
		DefaultAlertThresholds(), WorkingHours{})
	if len(got) != 2 || got[0].Rule != AlertOutsideScanFailing || got[0].Seq != 7 || got[1].Seq != 12 || got[0].Key == got[1].Key ||
		got[0].Summary != ev(7, "").Reason || got[0].Evidence != "/audit?before=8" {
		t.Fatalf("alerts %+v", got)
	}
	if AlertMailPlan(AlertOutsideScanFailing, 1) != AlertMailQueued {
		t.Error("the failing-scan alert is not mailed")
	}
}

// Without the cursor (never read, or unreadable) each streak is keyed by
// when it began: two streaks are two alerts, the same streak's events one.
func TestOutsideScanFailingAlertWithoutCursor(t *testing.T) {
	at := time.Date(2026, 11, 29, 9, 0, 0, 0, time.UTC)
	ev := func(seq int64, since string) Event {
		return Event{Seq: seq, Time: at, Activity: ActOutsideScanFailing, Category: CatSecurity, Result: ResultFailure, Actor: SystemActor,
			Reason:  "Passes made outside tapdesk are not being looked for: AuditLog.Read.All",
			Details: map[string]string{"runs": "5", "failing_since": since}}
	}
	got := EvaluateAlerts(AlertInput{New: []Event{ev(3, "2026-11-29T08:00:00Z"), ev(4, "2026-11-29T08:00:00Z"), ev(8, "2026-11-29T08:40:00Z")}},
		DefaultAlertThresholds(), WorkingHours{})
	if len(got) != 2 || got[0].Seq != 3 || got[1].Seq != 8 || got[0].Key == got[1].Key {
		t.Fatalf("two failing streaks without a cursor raised %+v, want two alerts", got)
	}
}
