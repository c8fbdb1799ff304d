package tapdesk

import "time"

// Activity names an audit event. Names follow Entra's directory audit log
// style ("Add ...", "Delete ...") so auditors can read the two side by side.
type Activity string

const (
	ActSignIn          Activity = "Sign in"
	ActSignInRefused   Activity = "Sign in refused"
	ActSignOut         Activity = "Sign out"
	ActUserLookup      Activity = "Look up user"
	ActRequestFiled    Activity = "File request"
	ActRequestCancel   Activity = "Cancel request"
	ActRequestExpired  Activity = "Expire request"
	ActRequestEscalate Activity = "Escalate request"
	ActApprove         Activity = "Approve request"
	ActDeny            Activity = "Deny request"
	ActLinkOpened      Activity = "Open approval link"
	ActLinkRefused     Activity = "Refuse approval link"
	ActIssueStart      Activity = "Begin issuing temporary access pass"
	ActIssueAttempt    Activity = "Issue temporary access pass"
	ActIssueSettled    Activity = "Settle interrupted issue"
	ActReveal          Activity = "Reveal temporary access pass"
	ActRevoke          Activity = "Delete temporary access pass"
	ActLoopRemoved     Activity = "Remove temporary access pass after strong method registration"
	ActMailQueued      Activity = "Queue mail"
	ActMailSent        Activity = "Send mail"
	ActMailFailed      Activity = "Send mail failed"
	ActExport          Activity = "Export audit log"
	ActAuditPruned     Activity = "Prune audit log"
	ActAuditVerified   Activity = "Verify audit log"
	ActAccessRefused   Activity = "Refuse access"
	ActServiceStarted  Activity = "Start service"
	ActRequestRefused  Activity = "Refuse request"
	ActDecisionRefused Activity = "Refuse decision"
	ActRevealRefused   Activity = "Refuse reveal"
	ActTamperDetected  Activity = "Detect tampering"
	// The people concerned are told: the target and their manager get a
	// notice with a "This wasn't me" link that can only stop the request.
	ActNoticeSkipped  Activity = "Skip notice"
	ActDisputeOpened  Activity = "Open dispute link"
	ActDispute        Activity = "Dispute request"
	ActDisputeRefused Activity = "Refuse dispute link"
	// Once per window per limit and person or address, however many hits.
	ActRateLimited Activity = "Refuse over rate limit"
	// Oversight (issue 13): passes made outside tapdesk, signed checkpoints
	// of the trail, evidence packs, alerts and the heightened-threat mode.
	ActOutsidePassFound    Activity = "Find temporary access pass made outside tapdesk"
	ActOutsidePassDeleted  Activity = "Delete temporary access pass made outside tapdesk"
	ActCheckpointPublished Activity = "Publish audit checkpoint"
	ActEvidenceExported    Activity = "Export evidence pack"
	ActAlertRaised         Activity = "Raise alert"
	ActThreatModeChanged   Activity = "Change heightened-threat mode"
)

// Category groups activities the way Entra's audit log does.
type Category string

const (
	CatSignIn   Category = "SignIn"
	CatRequest  Category = "TemporaryAccessPassRequest"
	CatApproval Category = "Approval"
	CatMethod   Category = "UserAuthenticationMethod"
	CatMail     Category = "Mail"
	CatAudit    Category = "Audit"
	CatAccess   Category = "Access"
	CatService  Category = "Service"
	CatSecurity Category = "Security" // oversight: outside passes, alerts, threat mode
)

// Result of an audited action.
type Result string

const (
	ResultSuccess Result = "success"
	ResultFailure Result = "failure"
)

// SystemActor initiates what tapdesk does on its own (expiry, escalation).
var SystemActor = Actor{Name: "tapdesk (scheduled)"}

// Event is one line of the audit trail. It never holds a pass.
type Event struct {
	Seq           int64
	Time          time.Time // UTC, microseconds
	Activity      Activity
	Category      Category
	Result        Result
	Reason        string
	Actor         Actor
	ActorIP       string
	ActorAgent    string
	TargetID      string
	TargetUPN     string
	RequestID     string
	CorrelationID string
	TAPMethodID   string
	Details       map[string]string
	// HTTPRequestID is the id of the web request that wrote the event (its
	// X-Request-Id and log line), empty for events tapdesk wrote on its own.
	HTTPRequestID string
}

// ForRequest fills the request fields of the event from r.
func (e Event) ForRequest(r *Request) Event {
	e.RequestID = r.ID
	e.CorrelationID = r.CorrelationID
	e.TargetID = r.TargetID
	e.TargetUPN = r.TargetUPN
	if e.TAPMethodID == "" {
		e.TAPMethodID = r.TAPMethodID
	}
	return e
}

// ActOutsideScanFailing records that the outside-pass job could not read
// Entra's directory audit log for tapdesk.OutsideScanFailingRuns runs in a
// row: once per failing streak and instance (ops slice, issue 13).
const ActOutsideScanFailing Activity = "Read directory audit log failed"
