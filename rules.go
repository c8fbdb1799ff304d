package tapdesk

import (
	"cmp"
	"strconv"
	"time"
)

// The separation-of-duty rules. They are plain functions over domain values
// so handlers, stores and tests all use the same ones; none is configurable.

// CheckFile decides whether p may request a pass for target.
func CheckFile(p Principal, target *DirectoryUser) error {
	if !p.Has(RoleRequester) {
		return Titledf(EFORBIDDEN, "Not one of your tasks", "You need the Tap.Requester role to request a Temporary Access Pass.")
	}
	if target.ID == p.ObjectID {
		return Titledf(EFORBIDDEN, "Not for your own account", "You cannot request a Temporary Access Pass for yourself. Ask a colleague on the helpdesk.")
	}
	return CheckTargetEligible(target)
}

// CheckTargetEligible refuses targets Entra would refuse or that make no sense.
func CheckTargetEligible(target *DirectoryUser) error {
	switch {
	case target.IsGuest():
		return Titledf(EINVALID, "No pass for guests", "%s is an external guest. Entra does not give Temporary Access Passes to guests; their home organisation must help them.", target.UPN)
	case !target.AccountEnabled:
		return Titledf(EINVALID, "Account disabled", "%s's account is disabled. Enable the account first (that needs its own change ticket); a pass would not let them sign in.", target.UPN)
	case target.InTAPScope != nil && !*target.InTAPScope:
		return Titledf(EINVALID, "Outside the pass policy", "%s is outside the tenant's Temporary Access Pass policy (not in an included group, or in an excluded one). An administrator must add them to the policy's scope.", target.UPN)
	}
	return nil
}

// CheckStillEnoughApprovals decides, just before a pass is issued, whether
// the approvals r collected still suffice for target as Entra describes
// them now. Privilege is read again at issue: a user given a directory role
// or a tapdesk role after the request was filed would otherwise get a pass
// on one approval (and become an approver who can approve alone). A target
// that became a guest, disabled or out of the pass policy's scope is
// refused with the filing's sentence. r.ApprovalsRequired is the number its
// signed filing event records (the recount checks that first).
func CheckStillEnoughApprovals(r *Request, target *DirectoryUser) error {
	if err := CheckTargetEligible(target); err != nil {
		return err
	}
	if need := target.ApprovalsRequired(); need > r.ApprovalsRequired {
		return Titledf(ECONFLICT, "Needs more approvals now", "%s now %s, so a pass needs %s approvers; this request was filed when %s was enough. File a new request.",
			IsolateName(target.DisplayName), cmp.Or(target.PrivilegeReason(), "is privileged"), approversWord(need), approversWord(r.ApprovalsRequired))
	}
	return nil
}

func approversWord(n int) string {
	switch n {
	case 1:
		return "one"
	case 2:
		return "two"
	}
	return strconv.Itoa(n)
}

// CheckDecide decides whether p may approve or deny r now.
func CheckDecide(r *Request, p Principal, now time.Time) error {
	if !p.Has(RoleApprover) {
		return Titledf(EFORBIDDEN, "Not one of your tasks", "You need the Tap.Approver role to decide requests.")
	}
	if r.IsRequester(p) {
		return Titledf(EFORBIDDEN, "Not yours to decide", "You filed this request, so you cannot approve or deny it. Another approver must decide.")
	}
	if r.IsTarget(p) {
		return Titledf(EFORBIDDEN, "Not yours to decide", "This request is for your own account, so you cannot decide it.")
	}
	if r.DecidedBy(p.Actor()) {
		return Titledf(ECONFLICT, "Already decided by you", "You have already decided this request. A second approval must come from someone else.")
	}
	if r.State == StateDisputed {
		return Titledf(ECONFLICT, DisputedTitle, "%s", DisputedSentence)
	}
	if r.State != StatePending {
		return Titledf(ECONFLICT, decidedTitle(r.State), "This request is %s; only pending requests can be decided.", r.State)
	}
	if !now.Before(r.ExpiresAt) {
		return Titledf(ECONFLICT, "Request expired", "This request has expired without a decision. The agent must file a new one.")
	}
	return nil
}

// PassClipboardHold is how long a pass copied from the reveal page may stay
// in the clipboard: then the page empties the clipboard if it still holds
// the pass. A minute is enough to paste it into a remote-support tool.
const PassClipboardHold = 60 * time.Second

// CheckReveal decides whether p may issue and reveal the pass of r now. The
// role is the one p holds now (read from the latest sign-in), not the one
// held when the request was filed.
func CheckReveal(r *Request, p Principal, now time.Time) error {
	if !r.IsRequester(p) {
		return Titledf(EFORBIDDEN, "Not your request", "Only the agent who filed this request can reveal its pass.")
	}
	if !p.Has(RoleRequester) {
		return Titledf(EFORBIDDEN, "Not one of your tasks", "You no longer hold the Tap.Requester role, so you cannot reveal this pass. If you should still have it, ask an administrator, then sign in again.")
	}
	switch r.State {
	case StateApproved:
	case StateDisputed:
		return Titledf(ECONFLICT, DisputedTitle, "%s", DisputedSentence)
	case StateIssued:
		return Titledf(ECONFLICT, "Pass already shown", "The pass for this request was already revealed%s. It is shown only once; revoke it and file a new request if it was lost.", revealedWhen(r))
	default:
		return Titledf(ECONFLICT, notIssuableTitle(r.State), "This request is %s; a pass can only be issued once it is approved.", r.State)
	}
	if !now.Before(r.ExpiresAt) {
		return Titledf(ECONFLICT, "Approval expired", "The approval of this request has expired before the pass was issued. File a new request.")
	}
	return nil
}

// decidedTitle names why a request in state s can no longer be decided.
func decidedTitle(s State) string {
	switch s {
	case StateCancelled:
		return "Request withdrawn"
	case StateExpired:
		return "Request expired"
	}
	return "Already decided"
}

// notIssuableTitle names why no pass can be issued for a request in state s.
func notIssuableTitle(s State) string {
	switch s {
	case StatePending:
		return "Not approved yet"
	case StateDenied:
		return "Request denied"
	case StateCancelled:
		return "Request withdrawn"
	case StateExpired:
		return "Request expired"
	case StateRevoked:
		return "Pass already revoked"
	}
	return "No pass to issue"
}

// notRevocableTitle names why a request in state s has no pass to revoke.
func notRevocableTitle(s State) string {
	if s == StateRevoked {
		return "Already revoked"
	}
	return "No pass to revoke"
}

func revealedWhen(r *Request) string {
	if r.RevealedAt == nil {
		return ""
	}
	return " at " + r.RevealedAt.UTC().Format("2006-01-02 15:04 UTC")
}

// CheckCancel decides whether p may cancel r: its requester, still holding
// Tap.Requester.
func CheckCancel(r *Request, p Principal) error {
	if !r.IsRequester(p) {
		return Titledf(EFORBIDDEN, "Not your request", "Only the agent who filed this request can cancel it.")
	}
	if !p.Has(RoleRequester) {
		return Titledf(EFORBIDDEN, "Not one of your tasks", "You no longer hold the Tap.Requester role, so you cannot cancel this request. An approver can deny it, or it expires on its own.")
	}
	if !CanTransition(r.State, StateCancelled) {
		return Titledf(ECONFLICT, "Too late to cancel", "This request is %s and can no longer be cancelled.", r.State)
	}
	return nil
}

// CheckRevoke decides whether p may delete the issued pass of r: its
// requester while still holding Tap.Requester, any approver, any admin.
func CheckRevoke(r *Request, p Principal) error {
	requester := r.IsRequester(p) && p.Has(RoleRequester)
	if !requester && !p.Has(RoleApprover) && !p.Has(RoleAdmin) {
		return Titledf(EFORBIDDEN, "Not yours to revoke", "Only the requesting agent (with the Tap.Requester role), an approver or an administrator can revoke this pass.")
	}
	if r.State != StateIssued {
		return Titledf(ECONFLICT, notRevocableTitle(r.State), "This request is %s; only an issued pass can be revoked.", r.State)
	}
	return nil
}

// CheckFreshSignIn decides whether p's sign-in is recent enough, and strong
// enough, for an action that needs it (deciding, revealing). maxAge 0 means
// no age limit. A missing MFA is EFORBIDDEN (signing in again the same way
// does not help); an old sign-in is EUNAUTHORIZED, which handlers answer by
// sending the person through the identity provider again.
func CheckFreshSignIn(p Principal, maxAge time.Duration, requireMFA bool, now time.Time) error {
	if requireMFA && !p.MFA {
		return Titledf(EFORBIDDEN, "Sign in with MFA", "This needs a sign-in with multi-factor authentication, and yours was without it. Sign out, sign in again with MFA, and repeat.")
	}
	if maxAge > 0 && (p.AuthTime.IsZero() || now.Sub(p.AuthTime) > maxAge) {
		return Titledf(EUNAUTHORIZED, "Sign in again", "This needs a sign-in from the last %s, and yours is older. Sign in again, then repeat.", HumanDuration(maxAge))
	}
	return nil
}

// HumanDuration writes d in the largest whole unit that fits: "15 minutes".
func HumanDuration(d time.Duration) string {
	n, unit := int64(d/time.Second), "second"
	switch {
	case d >= time.Hour && d%time.Hour == 0:
		n, unit = int64(d/time.Hour), "hour"
	case d >= time.Minute && d%time.Minute == 0:
		n, unit = int64(d/time.Minute), "minute"
	}
	if n == 1 {
		return "1 " + unit
	}
	return strconv.FormatInt(n, 10) + " " + unit + "s"
}

// CanView reports whether p may see r: its requester, approvers, auditors, admins.
func CanView(r *Request, p Principal) bool {
	return r.IsRequester(p) || p.Has(RoleApprover) || p.Has(RoleAuditor) || p.Has(RoleAdmin)
}
