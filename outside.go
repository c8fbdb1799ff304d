package tapdesk

import (
	"cmp"
	"errors"
	"strconv"
	"strings"
	"time"
)

// Passes made outside tapdesk: a pass created in the Entra admin center, by
// a script or by another tool bypasses every control here. Entra writes a
// directory audit entry for each pass an administrator or an app registers
// for a user; tapdesk reads them and matches each against its own issues.

// The directory audit entry Entra writes when an administrator (or an app)
// registers a Temporary Access Pass for a user: activityDisplayName, and
// resultReason ("Status reason" in the admin center). Microsoft's security
// operations guide for privileged accounts names both; the activity covers
// every admin-registered method, the reason singles out the pass, and only
// the activity may be filtered on in Graph.
const (
	PassRegisteredActivity = "Admin registered security info"
	PassRegisteredReason   = "Admin registered temporary access pass method for user"
)

// OutsidePassLookBack is how far back the first scan reads the directory
// audit log: as long as a tenant without a premium licence keeps it.
const OutsidePassLookBack = 7 * 24 * time.Hour

// OutsidePassLogDelay is how long after the fact an entry may still appear
// in the directory audit log (Entra's log lags by minutes, rarely more).
// Each scan reads again from this far before the last one, and skips the
// entries it has examined already.
const OutsidePassLogDelay = time.Hour

// An issue explains a registration by tapdesk's app when its attempt that
// made a pass was audited at most IssueMatchAfter before the registration
// and at most IssueMatchBefore after it: the create runs within the
// reveal's Graph timeout, and Graph's clock may differ from tapdesk's.
const (
	IssueMatchAfter  = 10 * time.Minute
	IssueMatchBefore = 5 * time.Minute
)

// Reading the directory audit log in time slices: "Admin registered
// security info" covers every method an administrator registers, so a
// tenant's bulk onboarding (or an administrator on purpose) can put more
// entries in a span than one read should walk. AuditPagesPerSlice bounds
// the pages one slice reads; a slice needing more is halved, down to
// MinAuditSlice, which is read to the end whatever it holds, so the scan
// always moves on.
const (
	AuditPagesPerSlice = 50
	MinAuditSlice      = time.Minute
)

// ErrAuditSpanTooLong is the answer of a read of the directory audit log
// that would need more pages than allowed: read a shorter span.
var ErrAuditSpanTooLong = errors.New("the span holds more directory audit entries than one read walks")

// IssueWindow is when an issue must have begun to explain a pass registered
// at at.
func IssueWindow(at time.Time) (from, to time.Time) {
	return at.Add(-IssueMatchAfter), at.Add(IssueMatchBefore)
}

// PassCreatedMatch is how far a pass's createdDateTime may lie from the
// audit entry that recorded it, to tell which of a user's passes it was.
const PassCreatedMatch = 5 * time.Minute

// PassRegistration is one directory audit entry recording a pass registered
// for a user. It never holds the pass.
type PassRegistration struct {
	AuditID string    // the directoryAudit's id
	At      time.Time // activityDateTime (Graph's clock)
	// The user the pass was made for (targetResources).
	TargetID, TargetUPN, TargetName string
	// Who made it (initiatedBy): a person (ByApp false: object id, UPN,
	// display name, address) or an app (appId, display name).
	ByApp                bool
	ByID                 string
	ByUPN, ByName        string
	ByIP                 string
	ByServicePrincipalID string // the app's service principal id, when an app
}

// Initiator names who made the pass, as people read it.
func (r PassRegistration) Initiator() string {
	if r.ByApp {
		name := cmp.Or(r.ByName, "an app")
		if r.ByID != "" {
			return name + " (app " + r.ByID + ")"
		}
		return name
	}
	switch {
	case r.ByName != "" && r.ByUPN != "" && r.ByName != r.ByUPN:
		return r.ByName + " (" + r.ByUPN + ")"
	case r.ByUPN != "" || r.ByName != "":
		return cmp.Or(r.ByUPN, r.ByName)
	}
	return cmp.Or(r.ByID, "someone Entra does not name")
}

// Target names the user the pass was made for.
func (r PassRegistration) Target() string {
	return cmp.Or(r.TargetUPN, r.TargetName, r.TargetID)
}

// ByTapdeskApp reports whether tapdesk's own app registration (appID, its
// Graph client id) made the pass.
func (r PassRegistration) ByTapdeskApp(appID string) bool {
	return r.ByApp && appID != "" && strings.EqualFold(r.ByID, appID)
}

// OutsidePass is a pass registration no issue of tapdesk explains.
type OutsidePass struct {
	PassRegistration
	// ViaTapdeskApp: tapdesk's own app made it, with no request behind it:
	// someone holds tapdesk's credentials.
	ViaTapdeskApp bool
	FoundAt       time.Time
	// MethodID is the pass's id in Entra when it was still there to find.
	MethodID string
	// DeletedAt is when tapdesk deleted it (TAPDESK_OUTSIDE_PASS_DELETE),
	// or found it gone when it came to delete it.
	DeletedAt *time.Time
	Gone      bool // it was gone already when tapdesk came to delete it
}

// OutsidePassReason is the sentence the finding's audit event carries.
func OutsidePassReason(p OutsidePass) string {
	at := p.At.UTC().Format("2006-01-02 15:04 UTC")
	if p.ViaTapdeskApp {
		return "A Temporary Access Pass was made for " + p.Target() + " at " + at +
			" with tapdesk's own app registration, but no request in tapdesk issued it: someone may be using tapdesk's credentials."
	}
	return "A Temporary Access Pass was made for " + p.Target() + " by " + p.Initiator() + " at " + at +
		", outside tapdesk: no request, no caller check, no approval."
}

// OutsidePassDetails are the finding's audit details: what the security
// mail and the SIEM need to say who made which pass, when.
func OutsidePassDetails(p OutsidePass) map[string]string {
	kind := "user"
	if p.ByApp {
		kind = "app"
	}
	d := map[string]string{
		"directory_audit_id": p.AuditID,
		"created_at":         p.At.UTC().Format(time.RFC3339),
		"created_by":         p.Initiator(),
		"created_by_kind":    kind,
		"created_by_id":      p.ByID,
		"target_name":        p.TargetName,
		"via_tapdesk_app":    strconv.FormatBool(p.ViaTapdeskApp),
	}
	if p.ByIP != "" {
		d["created_by_ip"] = p.ByIP
	}
	if p.MethodID != "" {
		d["method_id"] = p.MethodID
	}
	return d
}

// DashboardOutsidePasses is how many outside passes the auditor's
// dashboard lists, newest first.
const DashboardOutsidePasses = 20

// OutsideScanFailingRuns is how many runs in a row of the outside-pass job
// may fail before it counts as failing: /readyz shows it degraded, one
// audit event records it and the security team is alerted. One or two
// failed runs are Graph throttling or a blip, retried at the next sweep;
// five (five minutes at the default sweep interval) is a problem someone
// must fix, such as a missing permission, while passes made outside
// tapdesk go unseen.
const OutsideScanFailingRuns = 5

// OutsideScanProblem says in a short sentence (it fits a /readyz line
// with OutsideScanHealth) why Entra's directory audit log could not be
// read, and what fixes it where that is known: above all the permission
// AuditLog.Read.All, which tapdesk's other calls do not need, so it is the
// one an installation most often lacks.
func OutsideScanProblem(err error) string {
	var ge *GraphError
	if !errors.As(err, &ge) {
		return "The read failed: " + BoundText(strings.Join(strings.Fields(err.Error()), " "), 120) + "."
	}
	status := ge.Code
	if ge.Status != 0 {
		status = strconv.Itoa(ge.Status) + " " + ge.Code
	}
	switch ge.Kind {
	case GraphForbidden:
		return "Graph refused it (" + status + "): grant the Graph app the application permission AuditLog.Read.All (admin consent)."
	case GraphUnauthorized:
		return "Graph did not accept tapdesk's token (" + status + "): check the Graph app's credentials (see the graph token check)."
	case GraphThrottled:
		return "Graph is throttling the reads (" + status + "); tapdesk reads on at each sweep."
	case GraphUnavailable:
		return "Graph did not answer (" + status + "); tapdesk reads on at each sweep."
	}
	return "Graph refused it (" + status + "): " + BoundText(ge.Message, 100)
}

// OutsideScanHealth is the /readyz line of an outside-pass job failing
// runs runs in a row since since, for problem (OutsideScanProblem).
func OutsideScanHealth(runs int, since time.Time, problem string) string {
	return "not read in " + strconv.Itoa(runs) + " sweeps since " + since.UTC().Format("2006-01-02 15:04 UTC") + ". " + problem
}

// OutsideScanFailing is the audit event's and the alert's sentence: what
// goes unseen, since when, and the problem.
func OutsideScanFailing(runs int, since time.Time, problem string) string {
	return "Passes made outside tapdesk are not being looked for: Entra's directory audit log could not be read in " +
		strconv.Itoa(runs) + " sweeps in a row, since " + since.UTC().Format("2006-01-02 15:04 UTC") + ". " + problem
}
