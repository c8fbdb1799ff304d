package tapdesk

import (
	"fmt"
	"strings"
	"time"
)

// State is where a request is in its life.
type State string

const (
	StatePending   State = "pending"
	StateApproved  State = "approved"
	StateIssued    State = "issued"
	StateDenied    State = "denied"
	StateExpired   State = "expired"
	StateCancelled State = "cancelled"
	StateFailed    State = "failed"
	StateRevoked   State = "revoked"
	// StateDisputed: the target or their manager said "this wasn't me"
	// through the link in their notice. Nothing can be issued any more.
	StateDisputed State = "disputed"
)

// AllStates lists every state, for reports that show the empty ones too.
var AllStates = []State{StatePending, StateApproved, StateIssued, StateDenied, StateExpired,
	StateCancelled, StateFailed, StateRevoked, StateDisputed}

// transitions is the whole state machine: from -> allowed next states.
// Stores enforce it with UPDATE ... WHERE state = from.
var transitions = map[State][]State{
	StatePending:  {StateApproved, StateDenied, StateExpired, StateCancelled, StateDisputed},
	StateApproved: {StateIssued, StateFailed, StateExpired, StateCancelled, StateDisputed},
	StateIssued:   {StateRevoked, StateDisputed},
}

// CanTransition reports whether the machine allows from -> to.
func CanTransition(from, to State) bool {
	for _, s := range transitions[from] {
		if s == to {
			return true
		}
	}
	return false
}

// Terminal reports whether nothing can happen to a request in this state.
func (s State) Terminal() bool { return len(transitions[s]) == 0 }

// Label is the state as people read it.
func (s State) Label() string {
	if s == "" {
		return ""
	}
	return strings.ToUpper(string(s[:1])) + string(s[1:])
}

// Verification methods: how the agent verified the caller.
const (
	VerifyCallback   = "callback"
	VerifyManager    = "manager"
	VerifyVideoID    = "video_id"
	VerifyVerifiedID = "verified_id"
	VerifyInPerson   = "in_person"
)

// VerificationMethods in display order with their labels.
var VerificationMethods = []struct{ Value, Label string }{
	{VerifyCallback, "Called back the number on file"},
	{VerifyManager, "Manager confirmed identity"},
	{VerifyVideoID, "Video call with photo ID"},
	{VerifyVerifiedID, "Microsoft Entra Verified ID"},
	{VerifyInPerson, "In person"},
}

// VerificationLabel returns the label of a verification method value.
func VerificationLabel(v string) string {
	for _, m := range VerificationMethods {
		if m.Value == v {
			return m.Label
		}
	}
	return v
}

// Request is one ask for a Temporary Access Pass for one target user.
type Request struct {
	ID            string
	CorrelationID string // shared by every audit event of this request
	State         State

	Requester  Actor
	TargetID   string // Entra object id of the user who gets the pass
	TargetUPN  string
	TargetName string

	TicketRef          string
	Justification      string
	VerificationMethod string
	VerificationNote   string

	LifetimeMinutes   int
	UsableOnce        bool
	StartAt           *time.Time // nil: usable at once
	ApprovalsRequired int
	// PrivilegeReason says why the target needs two approvers, as Entra
	// showed them at filing ("holds Tap.Approver in tapdesk"); empty when
	// one approver is enough.
	PrivilegeReason string

	CreatedAt time.Time
	UpdatedAt time.Time
	ExpiresAt time.Time // no decision (or no issue) by then -> expired

	TAPMethodID string
	// TAPCreatedAt is when Graph says it created the pass (its own clock);
	// nil for passes issued before tapdesk kept it.
	TAPCreatedAt  *time.Time
	TAPStartAt    *time.Time
	TAPExpiresAt  *time.Time
	IssuedAt      *time.Time
	RevealedAt    *time.Time
	FailureReason string
	DecisionNote  string // denial reason, cancellation note
	// IssueClaimedAt is set while a reveal holds the request (approved) to
	// issue its pass; it also names that claim, so only its holder records
	// the outcome. See IssueClaimLease.
	IssueClaimedAt *time.Time

	Approvals []Approval // loaded with the request, oldest first
}

// Decision is an approver's answer.
type Decision string

const (
	DecisionApprove Decision = "approve"
	DecisionDeny    Decision = "deny"
)

// Approval is one approver's decision on a request.
type Approval struct {
	RequestID string
	Approver  Actor
	Decision  Decision
	Reason    string
	CreatedAt time.Time
}

// ApprovedBy reports whether the actor has already decided this request.
func (r *Request) DecidedBy(a Actor) bool {
	for _, ap := range r.Approvals {
		if ap.Approver.Same(a) {
			return true
		}
	}
	return false
}

// ApprovalCount is the number of approve decisions so far.
func (r *Request) ApprovalCount() int {
	n := 0
	for _, ap := range r.Approvals {
		if ap.Decision == DecisionApprove {
			n++
		}
	}
	return n
}

// IsTarget reports whether the person is the target of the request.
func (r *Request) IsTarget(p Principal) bool { return p.ObjectID != "" && p.ObjectID == r.TargetID }

// IsRequester reports whether the person filed the request.
func (r *Request) IsRequester(p Principal) bool { return r.Requester.Same(p.Actor()) }

// PassCreatedAt is when the issued pass was created: Graph's own stamp when
// tapdesk kept it, else tapdesk's issue time. Zero when nothing was issued.
func (r *Request) PassCreatedAt() time.Time {
	switch {
	case r.TAPCreatedAt != nil:
		return *r.TAPCreatedAt
	case r.IssuedAt != nil:
		return *r.IssuedAt
	}
	return time.Time{}
}

// Open reports whether a request still stands to issue a pass: pending a
// decision or approved and not yet issued (a reveal may hold it under a
// claim). A target has at most one open request, so approvers see one
// request per person and a flood of filings cannot bury the real one.
func (s State) Open() bool { return s == StatePending || s == StateApproved }

// OpenStates are the states Open reports, for queries.
var OpenStates = []State{StatePending, StateApproved}

// SecondOpenRequest is the refusal of a filing for a target who already has
// an open request, as the audit trail records it. People read the sentence
// of NoticeOfOpenRequest, written for who they are.
func SecondOpenRequest(open *Request) *Error {
	return Titledf(ECONFLICT, "Already an open request", "%s already has an open request (%s, filed by %s on %s UTC); a second cannot be filed while it is open.",
		open.TargetName, strings.ToLower(open.State.Label()), open.Requester.Name, openedOn(open))
}

// OpenRequestNotice is what a person coming to file for a target reads
// about the target's open request.
type OpenRequestNotice struct {
	Request  *Request
	Sentence string
	// Linked is whether the reader may open the request (CanView), so the
	// page links to it; a link others cannot follow only misleads them.
	Linked bool
}

// NoticeOfOpenRequest words the open request for p. Its requester is told
// to follow or cancel it (only they can cancel). Anyone else is told whom
// to ask: the requester is named, since a helpdesk coordinates by name, but
// cancelling it is not theirs to do.
func NoticeOfOpenRequest(open *Request, p Principal) OpenRequestNotice {
	n := OpenRequestNotice{Request: open, Linked: CanView(open, p)}
	state := strings.ToLower(open.State.Label())
	if open.IsRequester(p) {
		n.Sentence = fmt.Sprintf("You already have an open request for %s (%s, filed on %s UTC). Follow it, or cancel it before filing another.",
			open.TargetName, state, openedOn(open))
	} else {
		n.Sentence = fmt.Sprintf("%s already has an open request (%s, filed by %s on %s UTC). Ask %s or an approver about it; a second cannot be filed while it is open.",
			open.TargetName, state, open.Requester.Name, openedOn(open), open.Requester.Name)
	}
	return n
}

func openedOn(r *Request) string { return r.CreatedAt.UTC().Format("2 Jan 2006 15:04") }
