package tapdesk

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"
)

// ErrReadAbandoned is the cause with which a read of the directory is
// cancelled when its answer is no longer needed (the step it was read for
// stopped on another check, or a read made beside it failed): a
// give-up, not a failure of Graph's.
var ErrReadAbandoned = errors.New("the read was given up: its answer was no longer needed")

// Directory is what tapdesk needs from Microsoft Entra ID (through Graph).
// The entra package implements it on msgraph-sdk-go; nothing else imports
// the SDK. Errors from Graph come back as *GraphError.
type Directory interface {
	// SearchUsers finds users whose UPN, mail or display name starts with q.
	SearchUsers(ctx context.Context, q string, limit int) ([]DirectoryUser, error)
	// User looks up one user by object id or UPN, with InTAPScope filled in.
	User(ctx context.Context, idOrUPN string) (*DirectoryUser, error)
	// Methods lists the user's registered authentication methods.
	Methods(ctx context.Context, userID string) ([]AuthMethod, error)
	// TAPPolicy reads the tenant's Temporary Access Pass policy.
	TAPPolicy(ctx context.Context) (*TAPPolicy, error)
	// TAPs lists the user's passes (at most one), never with the pass.
	TAPs(ctx context.Context, userID string) ([]TAPInfo, error)
	// CreateTAP creates a pass; it replaces any existing one (one per user).
	// prior is the user's passes as TAPs read them shortly before, by which
	// a create whose answer is lost tells the pass it made from those that
	// were there; unless it is FreshAt the create, CreateTAP reads them
	// itself.
	CreateTAP(ctx context.Context, userID string, spec TAPSpec, prior *PriorTAPs) (*IssuedTAP, error)
	// DeleteTAP deletes a pass by its method id.
	DeleteTAP(ctx context.Context, userID, methodID string) error
	// Manager looks up the user's manager as Entra records it; nil (and no
	// error) when Entra names none.
	Manager(ctx context.Context, userID string) (*DirectoryUser, error)
}

// DirectoryUser is the part of an Entra user tapdesk shows and decides on.
type DirectoryUser struct {
	ID             string
	DisplayName    string
	UPN            string
	Mail           string
	OtherMails     []string // Entra's additional addresses, read when Mail is empty
	JobTitle       string
	Department     string
	UserType       string // "Member" or "Guest"
	AccountEnabled bool
	OnPremisesSync bool
	InTAPScope     *bool // nil: unknown
	// ScopePolicy is the tenant's TAP policy User read to work out
	// InTAPScope, as Graph gave it then; nil when it could not be read (or
	// was not read). A page showing the user with the policy's bounds uses
	// it rather than read the policy a second time.
	ScopePolicy *TAPPolicy
	// CreatedAt is when the account was created (Graph's createdDateTime);
	// zero when Graph does not say (accounts created before 2018).
	CreatedAt time.Time
	// Roles names the Entra directory roles the user holds, directly or
	// through a group ("Global Administrator"). A role whose name tapdesk
	// may not read is listed by its object id.
	Roles []string
	// PrivilegedGroups are the configured privileged groups (object ids) the
	// user is a member of, directly or nested.
	PrivilegedGroups []string
	// TapdeskRoles are the tapdesk roles the user holds ("Tap.Approver"):
	// app roles of the sign-in app assigned to them or to a group they are
	// in, and roles of the groups mapped in TAPDESK_ROLE_GROUPS. A pass for
	// such a user makes a new agent or approver, so it needs two approvers.
	TapdeskRoles []string
}

// NoticeAddress is where tapdesk tells this person about a pass requested
// for them (or for someone they manage): the address Entra holds, mail or
// else the first of otherMails. Empty when Entra holds none. Never an
// address typed by an agent: a caller impersonating the user would give
// their own.
func (u *DirectoryUser) NoticeAddress() string {
	if a := strings.TrimSpace(u.Mail); a != "" {
		return a
	}
	for _, a := range u.OtherMails {
		if a = strings.TrimSpace(a); a != "" {
			return a
		}
	}
	return ""
}

// IsGuest reports whether the user is an external guest.
func (u *DirectoryUser) IsGuest() bool { return u.UserType == "Guest" }

// Privileged reports whether the user holds a directory role, is in a
// privileged group or holds a tapdesk role. A pass for such a user takes
// over an administrator or one of tapdesk's own agents and approvers (who
// could then approve or reveal alone), so it needs two approvers.
func (u *DirectoryUser) Privileged() bool {
	return len(u.Roles) > 0 || len(u.PrivilegedGroups) > 0 || len(u.TapdeskRoles) > 0
}

// PrivilegeReason says why u is privileged, as the end of a sentence that
// starts with their name: "holds Global Administrator".
func (u *DirectoryUser) PrivilegeReason() string {
	var parts []string
	if len(u.Roles) > 0 {
		parts = append(parts, "holds "+strings.Join(u.Roles, ", "))
	}
	if len(u.PrivilegedGroups) > 0 {
		parts = append(parts, "is in a group configured as privileged ("+strings.Join(u.PrivilegedGroups, ", ")+")")
	}
	if len(u.TapdeskRoles) > 0 {
		parts = append(parts, "holds "+strings.Join(u.TapdeskRoles, ", ")+" in tapdesk")
	}
	return strings.Join(parts, " and ")
}

// ApprovalsRequired is how many distinct approvers a request for u needs.
func (u *DirectoryUser) ApprovalsRequired() int {
	if u.Privileged() {
		return 2
	}
	return 1
}

// AuthMethod is one registered authentication method of a user.
type AuthMethod struct {
	ID        string
	Kind      string // short type: "fido2", "password", ... or the raw @odata.type when unknown
	ODataType string
	Label     string   // what people read: "Passkey (FIDO2)"
	Detail    string   // model, phone number (masked), display name ...
	TAP       *TAPInfo // set for temporaryAccessPass
	// CreatedAt is when the method was registered; zero when Graph does not
	// say (not every method type has the property).
	CreatedAt time.Time
}

// Strong reports whether the method is passwordless-strong (closes the loop).
func (m AuthMethod) Strong() bool {
	switch m.Kind {
	case "fido2", "microsoftAuthenticator", "windowsHelloForBusiness":
		return true
	}
	return false
}

// TAPInfo describes an existing Temporary Access Pass (never the pass itself).
type TAPInfo struct {
	MethodID        string
	CreatedAt       time.Time
	StartAt         time.Time
	LifetimeMinutes int
	UsableOnce      bool
	Usable          bool
	UsabilityReason string // EnabledByPolicy, DisabledByPolicy, Expired, NotYetValid, OneTimeUsed
}

// ExpiresAt is when the pass stops working.
func (t TAPInfo) ExpiresAt() time.Time {
	return t.StartAt.Add(time.Duration(t.LifetimeMinutes) * time.Minute)
}

// TAPPolicy is the tenant's Temporary Access Pass policy.
type TAPPolicy struct {
	Enabled         bool
	DefaultLifetime int // minutes
	MinLifetime     int
	MaxLifetime     int
	DefaultLength   int
	UsableOnce      bool // true: every pass is one-time
	IncludeGroups   []string
	ExcludeGroups   []string
}

// TAPSpec is what tapdesk asks Graph to create.
type TAPSpec struct {
	StartAt         *time.Time
	LifetimeMinutes int
	UsableOnce      bool
}

// IssuedTAP is the result of a create: the only place the pass exists, in
// memory, for the one response that shows it.
type IssuedTAP struct {
	TAPInfo
	Pass string
}

// GraphErrorKind tells Graph's refusals apart so each gets its own sentence.
type GraphErrorKind string

const (
	GraphPolicyDisallows    GraphErrorKind = "policy_disallows"
	GraphLifetimeOutOfRange GraphErrorKind = "lifetime_out_of_range"
	GraphGuestUser          GraphErrorKind = "guest_user"
	GraphNotFound           GraphErrorKind = "not_found"
	GraphForbidden          GraphErrorKind = "forbidden"
	GraphUnauthorized       GraphErrorKind = "unauthorized"
	GraphThrottled          GraphErrorKind = "throttled"
	GraphUnavailable        GraphErrorKind = "unavailable"
	GraphBadRequest         GraphErrorKind = "bad_request"
	GraphUnknown            GraphErrorKind = "unknown"
	// GraphAnswerLost: a create's answer never arrived, Graph had created a
	// pass anyway, and tapdesk deleted it (nobody knows it). Nothing was issued.
	GraphAnswerLost GraphErrorKind = "answer_lost"
	// GraphAnswerLostPassLeft is GraphAnswerLost where the delete failed
	// too: an unknown pass is left on the account until replaced or expired.
	GraphAnswerLostPassLeft GraphErrorKind = "answer_lost_pass_left"
	// GraphOutcomeUnknown: a create's answer never arrived and tapdesk could
	// not find out whether Graph created a pass.
	GraphOutcomeUnknown GraphErrorKind = "outcome_unknown"
	// GraphNothingCreated: a create failed with an unclear answer (a 5xx, or
	// a success without a body), and the user's passes, read afterwards,
	// show that Graph created none. Nothing was issued.
	GraphNothingCreated GraphErrorKind = "nothing_created"
)

// GraphError is a refusal from Microsoft Graph: the raw status, code and
// message are kept for the audit log, UserMessage is what the agent reads.
type GraphError struct {
	Kind       GraphErrorKind
	Status     int
	Code       string
	Message    string
	RequestID  string
	RetryAfter time.Duration
	// OrphanMethodID is the method id of a pass Graph created whose answer
	// was lost (kinds GraphAnswerLost and GraphAnswerLostPassLeft), for the
	// audit log.
	OrphanMethodID string
}

func (e *GraphError) Error() string {
	return fmt.Sprintf("graph: %d %s: %s", e.Status, e.Code, e.Message)
}

// NothingIssuedTryAgain reports whether a failed create certainly left no
// pass behind and trying again soon can work: throttling (Graph did not act),
// a lost answer whose pass tapdesk deleted, or a 5xx after which the user's
// passes showed none was created. An approved request then stays approved
// instead of failing, so the agent need not start over. Other failures (a
// timeout Graph may still act on, a pass left behind, a refusal) end it.
func (e *GraphError) NothingIssuedTryAgain() bool {
	return e.Kind == GraphThrottled || e.Kind == GraphAnswerLost || e.Kind == GraphNothingCreated
}

// DomainCode maps the refusal onto a domain error code.
func (e *GraphError) DomainCode() string {
	switch e.Kind {
	case GraphNotFound:
		return ENOTFOUND
	case GraphPolicyDisallows, GraphLifetimeOutOfRange, GraphGuestUser, GraphBadRequest:
		return EINVALID
	default:
		return EUNAVAILABLE
	}
}

// Title names the refusal in a few words, for the error page's heading.
func (e *GraphError) Title() string {
	switch e.Kind {
	case GraphPolicyDisallows:
		return "Refused by the pass policy"
	case GraphLifetimeOutOfRange:
		return "Lifetime outside the policy"
	case GraphGuestUser:
		return "No pass for guests"
	case GraphNotFound:
		return "User not in Entra"
	case GraphForbidden:
		return "Graph permission missing"
	case GraphUnauthorized:
		return "tapdesk cannot sign in to Graph"
	case GraphThrottled:
		return "Microsoft Graph is busy"
	case GraphAnswerLost, GraphNothingCreated:
		return "Nothing was issued"
	case GraphAnswerLostPassLeft:
		return "Unknown pass left behind"
	case GraphOutcomeUnknown:
		return "Microsoft Graph did not answer"
	case GraphUnavailable:
		return "Microsoft Graph did not answer"
	case GraphBadRequest:
		return "Refused by Microsoft Entra"
	}
	return "Unexpected answer from Graph"
}

// UserMessage is a plain sentence that says what happened and what to do.
func (e *GraphError) UserMessage() string {
	switch e.Kind {
	case GraphPolicyDisallows:
		return "Microsoft Entra refused: the Temporary Access Pass policy is turned off, or this user is not in its scope. An administrator must enable the policy or add the user to an included group."
	case GraphLifetimeOutOfRange:
		return "Microsoft Entra refused the lifetime: " + e.Message + " Choose a lifetime inside the policy's range."
	case GraphGuestUser:
		return "Microsoft Entra does not give Temporary Access Passes to external guests. The guest's home organisation must help them."
	case GraphNotFound:
		return "Microsoft Entra has no such user (it may have been deleted or renamed). Look the user up again."
	case GraphForbidden:
		return "tapdesk's app registration lacks the Graph permission for this. An administrator must grant it (see the README's permission list)."
	case GraphUnauthorized:
		return "tapdesk could not authenticate to Microsoft Graph (its credentials are wrong or expired). An administrator must fix the app registration secret or certificate."
	case GraphThrottled:
		return "Microsoft Graph is throttling tapdesk (too many requests at the moment), and waiting longer would keep you here too long. Nothing was changed; try again " + retryIn(e.RetryAfter) + "."
	case GraphAnswerLost:
		return "Microsoft Graph created a pass but its answer was lost on the way, so tapdesk deleted that pass: nobody knows it and nothing was issued. Try again."
	case GraphAnswerLostPassLeft:
		return "Microsoft Graph created a pass but its answer was lost on the way, and tapdesk could not delete it. Nobody knows that pass; issuing again replaces it, or an administrator can delete it under the user's authentication methods in Entra."
	case GraphOutcomeUnknown:
		return "Microsoft Graph did not answer, and tapdesk could not check whether it created a pass. Nobody knows such a pass; wait a minute, open the user's card, and try again (a new pass replaces any unknown one)."
	case GraphNothingCreated:
		return "Microsoft Graph had an internal error while creating the pass; tapdesk then checked the user's passes and none was created, so nothing was issued. Try again " + retryIn(e.RetryAfter) + "."
	case GraphUnavailable:
		return "Microsoft Graph did not answer in time or had an internal error. Try again in a minute; nothing was issued if this page says so."
	case GraphBadRequest:
		return "Microsoft Entra refused the request: " + e.Message
	}
	return fmt.Sprintf("Microsoft Graph answered with an unexpected error (%d %s). Try again; tell your administrator if it keeps happening.", e.Status, http.StatusText(e.Status))
}

// retryIn says when to try again, in words.
func retryIn(d time.Duration) string {
	switch {
	case d <= 0:
		return "in a minute"
	case d <= 10*time.Second:
		return "in a few seconds"
	case d < 90*time.Second:
		return fmt.Sprintf("in %d seconds", int((d+time.Second-1)/time.Second))
	case d < 90*time.Minute:
		return fmt.Sprintf("in %d minutes", int((d+time.Minute-1)/time.Minute))
	}
	return fmt.Sprintf("in %d hours", int((d+time.Hour-1)/time.Hour))
}

// LogValue keeps the pass out of any log line that prints the struct.
func (t IssuedTAP) LogValue() slog.Value {
	return slog.GroupValue(slog.String("method_id", t.MethodID), slog.String("pass", "[redacted]"))
}

// String keeps the pass out of %v and %s.
func (t IssuedTAP) String() string { return "IssuedTAP{" + t.MethodID + ", pass redacted}" }
