package tapdesk

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
)

// A request's audit events are its signed history; the requests and
// approvals tables are a copy that anyone with write access to the database
// can edit. Replaying the events through the state machine says what the
// request must be, so tapdesk can check the copy before it issues a pass
// (CheckIssueEvidence) and whenever the trail is verified (Mismatches).

// RequestTrail is what a request's own audit events say about it.
type RequestTrail struct {
	FiledSeq          int64 // the "File request" event; 0: none seen
	Requester         Actor
	TargetID          string
	ApprovalsRequired int
	LifetimeMinutes   int
	UsableOnce        bool
	// Expires is the decision deadline the filing event records (zero for
	// events written before it did).
	Expires time.Time
	// TAPMethodID and IssuedAt are from the signed successful issue event:
	// the pass tapdesk made, and when.
	TAPMethodID string
	IssuedAt    time.Time
	Approvers   []Actor  // distinct approvers whose approval counts, in order
	State       State    // where the events lead ("" before the filing event)
	Problems    []string // events that do not fit the machine, in order
}

// trailMoves are the events that move a request to a state by themselves
// when they succeed. Filing, approving and issuing are replayed in Apply.
// Activities not named here or there change nothing (mail, links,
// refusals, and activities this version does not know).
var trailMoves = map[Activity]State{
	ActDeny:           StateDenied,
	ActRequestCancel:  StateCancelled,
	ActRequestExpired: StateExpired,
	ActRevoke:         StateRevoked,
	ActLoopRemoved:    StateRevoked,
	ActDispute:        StateDisputed,
}

// ReplayReads reports whether Apply does anything with events of this
// activity, so a long walk can skip decoding the others.
func ReplayReads(a Activity) bool {
	_, moves := trailMoves[a]
	return moves || a == ActRequestFiled || a == ActApprove || a == ActIssueAttempt
}

// ReplayRequest replays one request's events, in trail order.
func ReplayRequest(events []Event) *RequestTrail {
	evs := slices.Clone(events)
	slices.SortFunc(evs, func(a, b Event) int { return int(a.Seq - b.Seq) })
	t := &RequestTrail{}
	for _, ev := range evs {
		t.Apply(ev)
	}
	return t
}

// Apply replays one more event of the request (events in trail order).
func (t *RequestTrail) Apply(ev Event) {
	if ev.Result == ResultFailure {
		// A failed create fails the request, unless tapdesk knew nothing
		// was issued and kept it approved for another try.
		// A pass Graph made that tapdesk could not record (and deleted)
		// decides nothing either: the claim's release, its settling or a
		// dispute says where the request went.
		if ev.Activity == ActIssueAttempt && ev.Details["request_kept"] != string(StateApproved) && ev.Details["unrecorded_method_id"] == "" {
			t.move(ev, StateFailed)
		}
		return
	}
	to, moves := trailMoves[ev.Activity]
	switch {
	case ev.Activity == ActRequestFiled:
		t.file(ev)
	case ev.Activity == ActApprove:
		t.approve(ev)
	case ev.Activity == ActIssueAttempt:
		t.move(ev, StateIssued)
		t.TAPMethodID, t.IssuedAt = ev.TAPMethodID, ev.Time
	case ev.Activity == ActRevoke && t.State == StateDisputed:
		// The pass of a request disputed after issue is deleted with the
		// dispute: the request stays disputed.
	case moves:
		t.move(ev, to)
	}
}

func (t *RequestTrail) file(ev Event) {
	if t.FiledSeq != 0 {
		t.problem(ev, "files the request a second time (first filed in event %d)", t.FiledSeq)
		return
	}
	t.FiledSeq, t.State = ev.Seq, StatePending
	t.Requester, t.TargetID = ev.Actor, ev.TargetID
	n, err := strconv.Atoi(ev.Details["approvals_required"])
	if err != nil || n < 1 {
		t.problem(ev, "does not record how many approvals the request needs")
		n = 0
	}
	t.ApprovalsRequired = n
	t.LifetimeMinutes, _ = strconv.Atoi(ev.Details["lifetime_minutes"])
	t.UsableOnce = ev.Details["usable_once"] == "true"
	if e, err := time.Parse(time.RFC3339Nano, ev.Details["expires"]); err == nil {
		t.Expires = e
	}
}

func (t *RequestTrail) approve(ev Event) {
	switch {
	case t.State != StatePending:
		t.problem(ev, "approves the request while it is %s", t.stateName())
	case ev.Actor.Same(t.Requester):
		t.problem(ev, "is an approval by the agent who filed the request")
	case ev.Actor.ObjectID != "" && ev.Actor.ObjectID == t.TargetID:
		t.problem(ev, "is an approval by the person the pass is for")
	case slices.ContainsFunc(t.Approvers, ev.Actor.Same):
		t.problem(ev, "is a second approval by the same approver")
	case ev.Actor.ObjectID == "":
		t.problem(ev, "is an approval by nobody in particular")
	default:
		t.Approvers = append(t.Approvers, ev.Actor)
		if t.ApprovalsRequired > 0 && len(t.Approvers) >= t.ApprovalsRequired {
			t.move(ev, StateApproved)
		}
	}
}

func (t *RequestTrail) move(ev Event, to State) {
	if !CanTransition(t.State, to) {
		t.problem(ev, "moves the request from %s to %s, which the state machine does not allow", t.stateName(), to)
	}
	t.State = to
}

func (t *RequestTrail) problem(ev Event, format string, args ...any) {
	t.Problems = append(t.Problems, fmt.Sprintf("event %d (%s) ", ev.Seq, ev.Activity)+fmt.Sprintf(format, args...))
}

func (t *RequestTrail) stateName() string {
	if t.State == "" {
		return "not yet filed"
	}
	return string(t.State)
}

// Mismatches lists, one sentence each, what the stored request r (with its
// approvals) says that its trail does not explain. None: the trail explains it.
func (t *RequestTrail) Mismatches(r *Request) []string {
	if t.FiledSeq == 0 {
		return []string{fmt.Sprintf("request %s is %s but its trail holds no %q event", r.ID, r.State, ActRequestFiled)}
	}
	var out []string
	add := func(format string, args ...any) {
		out = append(out, fmt.Sprintf("request %s ", r.ID)+fmt.Sprintf(format, args...))
	}
	for _, p := range t.Problems {
		add("has an event that does not fit: %s", p)
	}
	switch {
	case r.State == t.State:
	case r.State == StateApproved && t.State == StatePending:
		add("is approved but its trail holds %d of %d required approvals", len(t.Approvers), t.ApprovalsRequired)
	default:
		add("is %s but its events leave it %s", r.State, t.State)
	}
	if r.ApprovalsRequired != t.ApprovalsRequired {
		add("needs %d approvals in the database but %d in its signed filing event (%d)", r.ApprovalsRequired, t.ApprovalsRequired, t.FiledSeq)
	}
	if !r.Requester.Same(t.Requester) {
		add("names %s as its requester, but %s filed it (event %d)", actorName(r.Requester), actorName(t.Requester), t.FiledSeq)
	}
	if r.TargetID != t.TargetID {
		add("is for user %s in the database but was filed for user %s (event %d)", r.TargetID, t.TargetID, t.FiledSeq)
	}
	if r.LifetimeMinutes != t.LifetimeMinutes || r.UsableOnce != t.UsableOnce {
		add("asks for a %d-minute pass (one-time use %v) but was filed for %d minutes (one-time use %v)",
			r.LifetimeMinutes, r.UsableOnce, t.LifetimeMinutes, t.UsableOnce)
	}
	if r.TAPMethodID != t.TAPMethodID && (r.TAPMethodID != "" || t.TAPMethodID != "") {
		add("names pass %q in the database, but its signed issue event names pass %q", r.TAPMethodID, t.TAPMethodID)
	}
	if !t.Expires.IsZero() && !r.ExpiresAt.Truncate(time.Microsecond).Equal(t.Expires.Truncate(time.Microsecond)) {
		add("expires at %s in the database but was filed to expire at %s (event %d)",
			r.ExpiresAt.UTC().Format(time.RFC3339), t.Expires.UTC().Format(time.RFC3339), t.FiledSeq)
	}
	var stray []string
	for _, a := range r.Approvals {
		if a.Decision == DecisionApprove && !slices.ContainsFunc(t.Approvers, a.Approver.Same) {
			stray = append(stray, actorName(a.Approver))
		}
	}
	switch n := r.ApprovalCount(); {
	case len(stray) > 0:
		add("has approvals by %s that no signed approval event backs", strings.Join(stray, ", "))
	case n != len(t.Approvers):
		add("holds %d approvals in the database but %d in its trail", n, len(t.Approvers))
	}
	return out
}

func actorName(a Actor) string {
	switch {
	case a.UPN != "":
		return a.UPN
	case a.ObjectID != "":
		return a.ObjectID
	case a.Name != "":
		return a.Name
	}
	return "nobody"
}

// CheckIssueEvidence recounts, just before a pass is issued, what the
// request's signed audit events say: the events (those whose mac checks out
// against the audit key; unverified names the request's events that do not)
// must leave the request approved, by enough distinct approvers who are
// neither its requester nor its target, and agree with the stored request
// on who asked, for whom, how many approvals and what pass. finding says
// for the audit trail what did not check out; the error is the refusal
// people read.
func CheckIssueEvidence(r *Request, events []Event, unverified []int64) (finding string, err error) {
	var found []string
	for _, seq := range unverified {
		found = append(found, fmt.Sprintf("event %d, in the audit trail since request %s was filed, is missing or does not check out with the audit key (deleted, changed, written without the key, or signed with a retired key)", seq, r.ID))
	}
	t := ReplayRequest(events)
	found = append(found, t.Mismatches(r)...)
	if t.State != StateApproved && r.State == t.State { // else Mismatches named it
		found = append(found, fmt.Sprintf("request %s is %s in its trail, not approved", r.ID, t.State))
	}
	if len(found) == 0 {
		return "", nil
	}
	finding = strings.Join(found, "; ")
	return finding, Titledf(EFORBIDDEN, "Audit trail does not match", "tapdesk will not issue this pass: the audit trail does not back the request up (%s). "+
		"Someone may have changed the database outside tapdesk. Nothing was issued; the attempt was recorded, and your security team should look into it.", found[0])
}
