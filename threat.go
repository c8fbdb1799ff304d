package tapdesk

import (
	"errors"
	"fmt"
	"time"
	"unicode/utf8"
)

// Heightened-threat mode (issue 13): while an attack on the helpdesk is
// suspected, every pass needs two approvers, is one-time and lives as short
// as the tenant's policy allows, and no pass is given to a privileged
// target at all. An admin switches it in the portal (with a reason, audited)
// or TAPDESK_THREAT_MODE forces it on. The rules are enforced when a
// request is filed, when it is approved and again when its pass is issued,
// so a request filed before the switch cannot slip through on the rules it
// was filed under.

// ThreatApprovals is how many distinct approvers every request needs while
// the mode is on.
const ThreatApprovals = 2

// Bounds of the reason an admin gives for switching the mode.
const (
	MinThreatReason = 10
	MaxThreatReason = 500
)

// ThreatMode is the mode as stored (shared by every instance) and as forced
// by the setting.
type ThreatMode struct {
	On bool
	// Since is when it was last switched (on, when On).
	Since time.Time
	// By is who switched it last; Reason is what they gave.
	By     Actor
	Reason string
	// Forced: TAPDESK_THREAT_MODE holds it on; the portal cannot switch it
	// off.
	Forced bool
	// Held says why the mode is on although the stored row says off: the
	// row does not agree with the audit trail (HoldThreatMode).
	Held string
	// Missing: the row is not there (it is made with the table, and
	// tapdesk never deletes it). Unreadable: it holds a value tapdesk never
	// writes, and says which.
	Missing    bool
	Unreadable string
	// ReadFailed: the stored mode could not be read (a database error),
	// and the setting forcing the mode on is all that is known
	// (ThreatModeInForce).
	ReadFailed bool
}

// ThreatSwitchOf reads a switch of the mode from its audit event: ok only
// for a successful switch that says what it switched to (ThreatModeDetail),
// or a prune checkpoint that says what the mode was when it pruned the
// switches before it.
func ThreatSwitchOf(ev Event) (on, ok bool) {
	if (ev.Activity != ActThreatModeChanged || ev.Result == ResultFailure) && ev.Activity != ActAuditPruned {
		return false, false
	}
	switch ev.Details[ThreatModeDetail] {
	case OnOff(true):
		return true, true
	case OnOff(false):
		return false, true
	}
	return false, false
}

// ThreatSwitch is the last switch of the mode the audit trail holds.
type ThreatSwitch struct {
	Seq int64
	On  bool
	// Time, By and Reason are the switch's own (zero for a prune
	// checkpoint standing for it).
	Time   time.Time
	By     Actor
	Reason string
	// Verified: its mac checks against the event before it (or the prune
	// checkpoint standing for it) with a configured audit key, and its
	// event reads as a switch (ThreatSwitchOf).
	Verified bool
	// Broken is what a walk of the trail from this switch to its head
	// found wrong (the sweep's, ThreatTrailWalk): an event after it edited
	// or removed may be a later switch hidden.
	Broken string
}

// HoldThreatMode holds the stored mode to the audit trail's last switch
// (nil: the trail holds none, never switched or pruned since). The mode is
// one plain row: someone who can write to the database could switch it off
// there, with no event, no fresh sign-in and no alert. Each switch made
// through tapdesk writes the row and a signed event in one transaction, so
// a row the last signed switch does not explain was changed behind
// tapdesk's back: the mode is then held on, and finding says why, for the
// tamper alarm (ThreatModeTamperCheck). Forging a switch takes the audit
// key, which the database never holds; cutting the switch off the trail's
// end is caught as any cut is (audit verify against a kept head, the
// published checkpoints). A row deleted or unreadable is held on too.
//
// When, by whom and why it was switched are the signed switch's wherever
// one stands behind the mode shown: the row's words may have been
// rewritten alone. Held on without a verified switch on, they are not
// known and none is shown; with no switch in the trail, the row's stand.
func HoldThreatMode(stored ThreatMode, last *ThreatSwitch) (mode ThreatMode, finding string) {
	switch {
	case stored.Missing:
		finding = "the stored heightened-threat mode is missing from the database"
	case stored.Unreadable != "":
		finding = "the stored heightened-threat mode cannot be read: " + stored.Unreadable
	case last == nil:
		return stored, ""
	case !last.Verified:
		finding = fmt.Sprintf("the last switch of heightened-threat mode in the audit trail (event %d) does not verify", last.Seq)
	case last.Broken != "":
		finding = "the audit trail does not check out after the last switch of heightened-threat mode: " + last.Broken
	case last.On != stored.On:
		finding = fmt.Sprintf("the stored heightened-threat mode says %s, but the last switch in the audit trail (event %d) turned it %s",
			OnOff(stored.On), last.Seq, OnOff(last.On))
	default:
		// The row agrees with the signed switch.
		if !last.Time.IsZero() {
			stored.Since, stored.By, stored.Reason = last.Time, last.By, last.Reason
		}
		return stored, ""
	}
	stored.On, stored.Held = true, finding
	stored.Since, stored.By, stored.Reason = time.Time{}, Actor{}, ""
	if last != nil && last.Verified && last.Broken == "" && last.On && !last.Time.IsZero() {
		stored.Since, stored.By, stored.Reason = last.Time, last.By, last.Reason
	}
	return stored, finding
}

// CheckThreatModeCopy refuses to copy (tapdesk db copy) a mode whose row
// was deleted or rewritten behind tapdesk's back: tapdesk holds such a
// mode on, and the copy must not decide for it.
func CheckThreatModeCopy(stored ThreatMode) error {
	if stored.Missing || stored.Unreadable != "" {
		return errors.New("the source's heightened-threat mode row is missing or holds values tapdesk never writes, which tapdesk records as tampering: " +
			"switch the mode at /admin/threat-mode on the source first (that writes the row again), then copy again; nothing was copied")
	}
	return nil
}

// ThreatModeUnreadSentence is the banner while the mode cannot be read (a
// database error): filing, approving and issuing refuse until it can be,
// rather than assume it is off (handlers' threatMode callers).
const ThreatModeUnreadSentence = "Heightened-threat mode could not be read just now. Until it can, tapdesk files, approves and issues no pass; denying and cancelling still work."

// ThreatModeInForce is the mode steps act under and pages show, from the
// stored mode as read (readErr: it could not be read) and whether
// TAPDESK_THREAT_MODE forces it on. Forced, the mode is on whatever the
// row holds, so a row that cannot be read holds nothing up and the banner
// says forced, as the steps act; not forced, a failed read refuses
// (ThreatModeUnreadable) rather than assume the mode is off.
func ThreatModeInForce(stored ThreatMode, readErr error, forced bool) (ThreatMode, error) {
	if readErr != nil {
		if forced {
			return ThreatMode{On: true, Forced: true, ReadFailed: true}, nil
		}
		return ThreatMode{}, ThreatModeUnreadable()
	}
	if forced {
		stored.On, stored.Forced = true, true
	}
	return stored, nil
}

// ThreatModeStoredUnreadSentence is what the admin's page adds while the
// setting forces the mode on and the stored mode cannot be read.
const ThreatModeStoredUnreadSentence = "The stored mode could not be read just now; the log has the database's error. " +
	"Until it can be, tapdesk goes by " + ThreatModeSetting + " alone, and what the mode will be once that setting is removed is not known."

// ThreatModeUnreadable is the refusal of a step that must know the mode
// while it cannot be read.
func ThreatModeUnreadable() *Error {
	return Titledf(EUNAVAILABLE, "Threat mode unreadable", "%s", ThreatModeUnreadSentence)
}

// ThreatModeHeldSentence is what the banner adds while the mode is held on.
const ThreatModeHeldSentence = "It is held on because the audit trail does not back up its stored setting, which tapdesk records as tampering."

// ThreatModeTamperCheck names the check that held the mode on, in the
// tamper event it records.
const ThreatModeTamperCheck = "heightened-threat mode held to the audit trail"

// ThreatModeDetail is the detail of a switch's audit event that says what
// it switched the mode to (OnOff).
const ThreatModeDetail = "threat_mode"

// OnOff is "on" or "off".
func OnOff(on bool) string {
	if on {
		return "on"
	}
	return "off"
}

// ThreatModeSetting is the setting that forces the mode on.
const ThreatModeSetting = "TAPDESK_THREAT_MODE"

// ThreatModeForcedReason is the reason recorded when the setting switches
// the mode on at start.
const ThreatModeForcedReason = "Switched on at start because " + ThreatModeSetting + " is set."

// ThreatModeForcedNote says why the portal offers no way off while the
// setting holds the mode on, and what switching it off takes: the stored
// mode stays on after the setting is removed (the start recorded it), so
// an admin still switches it off here, as any switch off.
const ThreatModeForcedNote = "Heightened-threat mode is forced on by " + ThreatModeSetting +
	", so it cannot be switched off here. Remove that setting from every instance of the deployment and restart them; " +
	"the mode then stays on until an administrator switches it off on this page, with a fresh sign-in."

// Banner is the sentence every page shows while the mode is on.
func (m ThreatMode) Banner() string {
	if !m.On {
		return ""
	}
	s := "Heightened-threat mode is on"
	if !m.Since.IsZero() {
		s += " since " + m.Since.UTC().Format("2006-01-02 15:04 UTC")
	}
	s += ": every pass needs two approvers, is one-time and as short as the policy allows, and privileged users get none."
	if m.Forced {
		s += " It is set by " + ThreatModeSetting + "."
	}
	if m.Held != "" {
		s += " " + ThreatModeHeldSentence
	}
	return s
}

// ApprovalsRequired is how many approvers a request for target needs now.
func (m ThreatMode) ApprovalsRequired(target *DirectoryUser) int {
	n := target.ApprovalsRequired()
	if m.On {
		n = max(n, ThreatApprovals)
	}
	return n
}

// refusedPrivileged is the refusal of a pass for a privileged target.
func refusedPrivileged(name, reason string) *Error {
	return Titledf(EFORBIDDEN, "Refused in heightened-threat mode",
		"Heightened-threat mode is on, and %s %s, so tapdesk gives them no pass while it lasts. An administrator with access to Entra must help them directly, or wait until the mode is switched off.",
		IsolateName(name), reason)
}

// CheckThreatFile refuses, while the mode is on, a request for a privileged
// target.
func CheckThreatFile(m ThreatMode, target *DirectoryUser) error {
	if m.On && target.Privileged() {
		return refusedPrivileged(target.DisplayName, target.PrivilegeReason())
	}
	return nil
}

// ClampDraft fixes, while the mode is on, what the form would let an agent
// choose: the policy's shortest lifetime and one-time use, whatever was
// posted.
func (m ThreatMode) ClampDraft(d *RequestDraft, pol *TAPPolicy) {
	if !m.On {
		return
	}
	d.Lifetime = fmt.Sprint(pol.MinLifetime)
	d.UsableOnce = true
}

// ClampSpec is ClampDraft at issue: a request filed before the switch gets
// a one-time pass at the policy's shortest lifetime.
func (m ThreatMode) ClampSpec(s TAPSpec, pol *TAPPolicy) TAPSpec {
	if !m.On {
		return s
	}
	s.UsableOnce = true
	if pol != nil && pol.MinLifetime > 0 {
		s.LifetimeMinutes = min(s.LifetimeMinutes, pol.MinLifetime)
	}
	return s
}

// CheckThreatApprove refuses, while the mode is on, an approval of a
// request filed on fewer approvals than the mode needs, or for a privileged
// target: such a request was filed before the switch. Denying stays
// possible.
func CheckThreatApprove(m ThreatMode, r *Request) error {
	if !m.On {
		return nil
	}
	if r.PrivilegeReason != "" {
		return refusedPrivileged(r.TargetName, r.PrivilegeReason)
	}
	if r.ApprovalsRequired < ThreatApprovals {
		return Titledf(ECONFLICT, "Filed before heightened-threat mode",
			"This request was filed before heightened-threat mode was switched on and needs only %s approver; while the mode is on every pass needs two. Deny it, or let the agent cancel it and file it again.",
			approversWord(r.ApprovalsRequired))
	}
	return nil
}

// CheckThreatIssue is the last check before a pass is created, against the
// target as Entra describes them now: a request approved before the switch
// on one approval, or a target privileged now, gets no pass.
func CheckThreatIssue(m ThreatMode, r *Request, target *DirectoryUser) error {
	if !m.On {
		return nil
	}
	if target.Privileged() {
		return refusedPrivileged(target.DisplayName, target.PrivilegeReason())
	}
	if r.PrivilegeReason != "" {
		return refusedPrivileged(r.TargetName, r.PrivilegeReason)
	}
	if r.ApprovalsRequired < ThreatApprovals {
		return Titledf(ECONFLICT, "Filed before heightened-threat mode",
			"This request was approved by %s approver before heightened-threat mode was switched on; while the mode is on every pass needs two. Cancel it and file it again.",
			approversWord(r.ApprovalsRequired))
	}
	return nil
}

// CheckThreatSwitch decides whether p may switch the mode to on, with
// reason, given the mode as it is.
func CheckThreatSwitch(p Principal, cur ThreatMode, on bool, reason string) error {
	if !p.Has(RoleAdmin) {
		return Titledf(EFORBIDDEN, "Not one of your tasks", "Only an administrator (Tap.Admin) can switch heightened-threat mode.")
	}
	if !on && cur.Forced {
		return Titledf(ECONFLICT, "Set by the deployment", "%s", ThreatModeForcedNote)
	}
	// A mode held on (HoldThreatMode) may be switched on: that records
	// the signed switch the row lacks.
	if on == cur.On && !(on && cur.Held != "") {
		if on {
			return Titledf(ECONFLICT, "Already on", "Heightened-threat mode is already on.")
		}
		return Titledf(ECONFLICT, "Already off", "Heightened-threat mode is already off.")
	}
	var ve ValidationError
	switch hidden := CheckVisibleText("The reason", reason); {
	case hidden != nil:
		ve.Add("reason", ErrorMessage(hidden))
	case utf8.RuneCountInString(reason) < MinThreatReason:
		ve.Add("reason", fmt.Sprintf("Say why, in a sentence (at least %d characters): the audit trail keeps it.", MinThreatReason))
	case utf8.RuneCountInString(reason) > MaxThreatReason || !Printable(reason, true):
		ve.Add("reason", fmt.Sprintf("The reason is at most %d characters of text.", MaxThreatReason))
	}
	return ve.Err()
}

// Switching off lowers every guard at once, so it is what someone holding
// a stolen admin session would do first: it needs the sign-in an approval
// needs (recent, with MFA where the deployment asks approvers for it), and
// it raises an alert (AlertThreatModeOff). Switching on only raises guards
// and needs the admin's session alone.

// CheckThreatSwitchSignIn decides whether p's sign-in is fresh enough to
// switch the mode to on: any sign-in for on, CheckFreshSignIn with the
// approvers' maxAge and requireMFA for off.
func CheckThreatSwitchSignIn(p Principal, on bool, maxAge time.Duration, requireMFA bool, now time.Time) error {
	if on {
		return nil
	}
	return CheckFreshSignIn(p, maxAge, requireMFA, now)
}

// ThreatOffSignInNote says on the admin's page what switching off takes,
// before they try; mailed says security addresses are set
// (TAPDESK_SECURITY_EMAILS), so the alert goes out by mail.
func ThreatOffSignInNote(maxAge time.Duration, requireMFA, mailed bool) string {
	alerted := "The security team is alerted by mail."
	if !mailed {
		alerted = "An alert is recorded, but not mailed: no security addresses are set (TAPDESK_SECURITY_EMAILS)."
	}
	switch {
	case maxAge > 0 && requireMFA:
		return fmt.Sprintf("Switching it off needs a sign-in with multi-factor authentication from the last %s; with an older one you are asked to sign in again first. %s", HumanDuration(maxAge), alerted)
	case maxAge > 0:
		return fmt.Sprintf("Switching it off needs a sign-in from the last %s; with an older one you are asked to sign in again first. %s", HumanDuration(maxAge), alerted)
	case requireMFA:
		return "Switching it off needs a sign-in with multi-factor authentication. " + alerted
	}
	if !mailed {
		return "Switching it off records an alert, not mailed: no security addresses are set (TAPDESK_SECURITY_EMAILS)."
	}
	return "Switching it off alerts the security team by mail."
}

// ThreatOffAlertSentence says, after a switch off, what became of its
// alert: raised says the alert rules ran over the switch at once (one that
// failed or ran out of time leaves it to the next check, the sweep's),
// mailed that the raised alert's mail is queued, addressesSet that
// security addresses are set at all.
func ThreatOffAlertSentence(raised, mailed, addressesSet bool) string {
	switch {
	case !addressesSet && raised:
		return "The alert is recorded but not mailed: no security addresses are set (TAPDESK_SECURITY_EMAILS)."
	case !addressesSet:
		return "The alert will be recorded at the next check, but not mailed: no security addresses are set (TAPDESK_SECURITY_EMAILS)."
	case raised && mailed:
		return "The security team has been alerted by mail."
	}
	return "The switch is recorded; the alert will be raised and mailed at the next check."
}

// Sentences around the fresh sign-in for switching off: flashed before the
// identity provider and after it.
const (
	ThreatOffSignInBefore = "Switching heightened-threat mode off needs a recent sign-in. Sign in again, then switch it off."
	ThreatOffSignInAfter  = "Signed in again. Check the reason and switch heightened-threat mode off."
)
