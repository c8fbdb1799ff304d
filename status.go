package tapdesk

import (
	"fmt"
	"strconv"
	"time"
)

// RequestStatus is what heads a request's page: where it stands in words,
// why it ended without a (working) pass, and what the reader can do next.
// The sentences are written for the reader p: the agent who filed it is
// told "you", everyone else is told who.
type RequestStatus struct {
	State    State
	Headline string // "Waiting for approval", "Ready to issue", "Denied", ...
	// Reason says why it ended as it did, with who and when: the denial
	// and its approver, why it expired, Graph's failure in words. Empty
	// for pending, approved and issued.
	Reason string
	// Next is what the reader can do now, as a sentence.
	Next string
	// Due is the decision or issue deadline of an open request (zero
	// otherwise).
	Due time.Time
	// Refile offers "File a new request" for the same user, prefilled from
	// this one: the request ended without a working pass and the reader may
	// file (an agent, not the target).
	Refile bool
	// Issue makes Issue and reveal the page's main action: approved and the
	// reader is the agent who may reveal it now.
	Issue bool
	// Live says whether the page should watch for changes: something can
	// still happen to the request that its reader waits for.
	Live bool
}

// Ended reports whether the request ended without a pass that works now,
// so the reason heads its page and filing again is the next step.
func (s State) Ended() bool {
	switch s {
	case StateDenied, StateExpired, StateFailed, StateCancelled, StateRevoked, StateDisputed:
		return true
	}
	return false
}

// StatusOf words r's state for p at now. timeline is r's audit events
// (either order): the reason for an ending is read from the event that
// ended it, which names who and when.
func StatusOf(r *Request, timeline []Event, p Principal, now time.Time) RequestStatus {
	s := RequestStatus{State: r.State, Headline: r.State.Label(), Live: r.State.Open()}
	mine := r.IsRequester(p)
	mayFile := p.Has(RoleRequester) && !r.IsTarget(p)
	when := func(t time.Time) string { return t.UTC().Format("2006-01-02 15:04 UTC") }
	last := func(acts ...Activity) *Event {
		var found *Event
		for i := range timeline {
			ev := &timeline[i]
			if ev.Result == ResultFailure {
				continue
			}
			for _, a := range acts {
				if ev.Activity == a && (found == nil || ev.Time.After(found.Time)) {
					found = ev
				}
			}
		}
		return found
	}
	by := func(ev *Event) string {
		if ev == nil || ev.Actor.Name == "" {
			return ""
		}
		return " by " + IsolateName(ev.Actor.Name)
	}
	switch r.State {
	case StatePending:
		s.Headline = "Waiting for approval"
		s.Due = r.ExpiresAt
		need := r.ApprovalsRequired - r.ApprovalCount()
		who := "an approver"
		if need > 1 {
			who = strconv.Itoa(need) + " different approvers"
		} else if r.ApprovalCount() > 0 {
			who = "a second approver, not " + IsolateName(r.Approvals[len(r.Approvals)-1].Approver.Name)
		}
		s.Next = fmt.Sprintf("Waiting for %s to decide, by %s; if nobody does, it expires.", who, when(r.ExpiresAt))
		if mine {
			s.Next += " You are also told by email when it is decided."
		}
	case StateApproved:
		s.Headline = "Approved: ready to issue"
		s.Due = r.ExpiresAt
		s.Issue = CheckReveal(r, p, now) == nil
		switch {
		case mine && r.IssueClaimedAt != nil:
			s.Next = "The pass is being issued. Open the request again in a moment to see the outcome."
		case s.Issue:
			s.Next = fmt.Sprintf("With the caller on the line, press Issue and reveal before %s; after that the approval expires.", when(r.ExpiresAt))
		case mine:
			s.Next = ErrorMessage(CheckReveal(r, p, now))
		default:
			s.Next = fmt.Sprintf("Waiting for %s to issue the pass, by %s.", IsolateName(r.Requester.Name), when(r.ExpiresAt))
		}
	case StateIssued:
		s.Headline = "Pass issued"
		if r.TAPExpiresAt != nil {
			if now.Before(*r.TAPExpiresAt) {
				s.Next = "The pass works until " + when(*r.TAPExpiresAt) + ". If it did not reach the user, or reached someone else, revoke it."
			} else {
				s.Headline = "Pass issued (now expired)"
				s.Next = "The pass stopped working at " + when(*r.TAPExpiresAt) + ". If the user still needs one, file a new request."
				s.Refile = mayFile
			}
		}
	case StateDenied:
		for _, ap := range r.Approvals {
			if ap.Decision == DecisionDeny {
				s.Reason = fmt.Sprintf("Denied by %s on %s: %s", IsolateName(ap.Approver.Name), when(ap.CreatedAt), ap.Reason)
			}
		}
		if s.Reason == "" {
			s.Reason = "Denied" + by(last(ActDeny)) + ": " + r.DecisionNote
		}
		s.Next = "No pass can be issued for this request. If the reason can be put right, file a new request."
	case StateExpired:
		s.Reason = "Nobody acted in time."
		if ev := last(ActRequestExpired, ActIssueSettled); ev != nil && ev.Reason != "" {
			s.Reason = ev.Reason
		}
		s.Next = "Nothing was issued. If the user still needs a pass, file a new request."
	case StateFailed:
		s.Headline = "Failed: no pass was issued"
		s.Reason = r.FailureReason
		if s.Reason == "" {
			s.Reason = "Microsoft Graph refused to issue the pass."
		}
		s.Next = "Nothing usable was issued. Put right what the reason names, then file a new request."
	case StateCancelled:
		ev := last(ActRequestCancel)
		s.Reason = "Cancelled" + by(ev)
		if ev != nil {
			s.Reason += " on " + when(ev.Time)
		}
		s.Reason += "."
		if r.DecisionNote != "" {
			s.Reason += " " + r.DecisionNote
		}
		s.Next = "Nothing was issued. If the user still needs a pass, file a new request."
	case StateRevoked:
		s.Headline = "Revoked: the pass no longer works"
		if ev := last(ActLoopRemoved); ev != nil {
			s.Reason = "The user registered a strong sign-in method, so tapdesk deleted the pass on " + when(ev.Time) + "."
		} else {
			ev := last(ActRevoke)
			s.Reason = "The pass was deleted in Entra ID" + by(ev)
			if ev != nil {
				s.Reason += " on " + when(ev.Time)
			}
			s.Reason += "."
		}
		s.Next = "If the user still needs a pass, file a new request."
	case StateDisputed:
		s.Headline = "Stopped: \"This wasn't me\""
		s.Reason = DisputedSentence
		s.Next = "Call the user back on a number from the directory; file a new request only once they confirm."
	}
	if r.State.Ended() {
		s.Refile = mayFile
		if !mayFile {
			s.Next = ""
		}
	}
	return s
}

// RefileDraft is the new-request form filled from an earlier request for
// the same user: what the case was about and how the pass should be made.
// The verification note is left empty on purpose: it records the check
// made on that call, and a new request needs a fresh check, written for it;
// copying it would have the agent attest to a check they did not redo. The
// start time is left empty too (it is in the past, or was for that call).
// A lifetime outside the tenant's current bounds falls back to its default.
func RefileDraft(r *Request, pol *TAPPolicy) RequestDraft {
	d := RequestDraft{TicketRef: r.TicketRef, Justification: r.Justification,
		Verification: r.VerificationMethod, UsableOnce: r.UsableOnce || pol.UsableOnce}
	d.Lifetime = strconv.Itoa(pol.DefaultLifetime)
	if r.LifetimeMinutes >= pol.MinLifetime && r.LifetimeMinutes <= pol.MaxLifetime {
		d.Lifetime = strconv.Itoa(r.LifetimeMinutes)
	}
	return d
}

// StatusVersion names what a watching page shows of r: it changes when the
// state, a decision or the issue changes, so a page can ask "still the
// same?" (an ETag) and reload only when it is not.
func StatusVersion(r *Request) string {
	return fmt.Sprintf("%s.%d.%d", r.State, r.UpdatedAt.UnixNano(), len(r.Approvals))
}

// Confirmation is what a person reads before a step that cannot be undone.
type Confirmation struct {
	Title  string // the question
	Effect string // what will happen, in words
	Do     string // the button that does it
	Keep   string // the button that does not
}

// ConfirmCancel words cancelling r.
func ConfirmCancel(r *Request) Confirmation {
	return Confirmation{
		Title: "Cancel this request?",
		Effect: fmt.Sprintf("The request for %s (ticket %s) stops here: approvers can no longer approve it and no pass can be issued for it. "+
			"This cannot be undone; if %s needs a pass later, file a new request.", IsolateName(r.TargetName), r.TicketRef, IsolateName(r.TargetName)),
		Do:   "Cancel request",
		Keep: "Keep the request",
	}
}

// ConfirmRevoke words revoking r's pass.
func ConfirmRevoke(r *Request) Confirmation {
	return Confirmation{
		Title: "Revoke this pass?",
		Effect: fmt.Sprintf("The pass of %s is deleted in Entra ID at once and stops working, for whoever holds it; a sign-in with it now fails. "+
			"Methods %s already registered with it stay. This cannot be undone; if %s still needs a pass, file a new request.", IsolateName(r.TargetName), IsolateName(r.TargetName), IsolateName(r.TargetName)),
		Do:   "Revoke pass",
		Keep: "Keep the pass",
	}
}

// RegisterMethodURL is where a user registers a sign-in method with their
// pass (Microsoft's short link to My Security Info).
const RegisterMethodURL = "https://aka.ms/mysecurityinfo"

// PassWords are the sentences the agent reads to the caller with the pass,
// in the caller's terms: how long it works from now, and how often.
type PassWords struct {
	// Lasts is "for the next 60 minutes" (or "from 14:00 UTC, for 60
	// minutes" when it starts later); the page adds the end time.
	Lasts string
	// Uses says whether it signs in once or several times.
	Uses string
}

// PassWordsFor words a pass valid from start to end, read out at now.
func PassWordsFor(start, end time.Time, usableOnce bool, now time.Time) PassWords {
	var w PassWords
	if start.After(now.Add(time.Minute)) {
		w.Lasts = fmt.Sprintf("from %s, for %s", start.UTC().Format("2006-01-02 15:04 UTC"), roundedMinutes(end.Sub(start)))
	} else {
		w.Lasts = "for the next " + roundedMinutes(end.Sub(now))
	}
	if usableOnce {
		w.Uses = "It works for one sign-in only: use that sign-in to register a method straight away."
	} else {
		w.Uses = "You can sign in with it more than once until then."
	}
	return w
}

// roundedMinutes is d in whole minutes (at least one) as people say it:
// "60 minutes" rather than "1 hour", whole hours from two on.
func roundedMinutes(d time.Duration) string {
	m := max(int(d.Round(time.Minute)/time.Minute), 1)
	switch {
	case m == 1:
		return "1 minute"
	case m >= 120 && m%60 == 0:
		return strconv.Itoa(m/60) + " hours"
	}
	return strconv.Itoa(m) + " minutes"
}
