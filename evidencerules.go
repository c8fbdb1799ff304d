package tapdesk

import (
	"fmt"
	"time"
)

// DefaultAuditHeadInterval is how often a signed checkpoint of the audit
// trail's head is published (TAPDESK_AUDIT_HEAD_INTERVAL).
const DefaultAuditHeadInterval = time.Hour

// MinAuditHeadInterval bounds the interval from below: each checkpoint
// verifies the trail first, and writes an event of its own.
const MinAuditHeadInterval = time.Minute

// AuditHeadIntervalProblem says what is wrong with an interval ("" if fine).
func AuditHeadIntervalProblem(d time.Duration) string {
	if d < MinAuditHeadInterval {
		return fmt.Sprintf("must be at least %s (each checkpoint verifies the trail first)", MinAuditHeadInterval)
	}
	return ""
}

// CanExportEvidence says who may download a request's evidence pack:
// auditors, and the agent who filed it (to attach to their ticket).
// Approvers see the request but its evidence is not theirs to hand out.
func CanExportEvidence(r *Request, p Principal) bool {
	return p.Has(RoleAuditor) || r.IsRequester(p)
}

// ErrEvidenceUnavailable is the sentence for an installation without a
// signing key: packs are signed, or they are not evidence.
func ErrEvidenceUnavailable() error {
	return Titledf(EUNAVAILABLE, "Evidence packs not set up", "Evidence packs are not set up here: tapdesk needs a signing key (TAPDESK_AUDIT_SIGNING_KEY) to sign them. Ask the operator.")
}

// ErrEvidenceTampered is the sentence when the trail does not check out:
// tapdesk does not sign a trail it cannot vouch for.
func ErrEvidenceTampered() error {
	return Titledf(ECONFLICT, "Audit trail does not check out", "The audit trail does not check out, so tapdesk will not sign evidence from it. The security team has been told; an auditor can see where it breaks under Audit, Verify.")
}

// AuditFullVerifyEvery is how often a process walks the whole audit trail
// rather than from the last signed checkpoint. The walk from a checkpoint
// catches every rewrite that forges macs (the chain breaks at the
// checkpoint's signed mac) and everything after it; an event before it
// changed without the audit key leaves the macs after it intact, and only
// a walk over that event sees it.
const AuditFullVerifyEvery = 24 * time.Hour

// AuditAlarm says whether an audit event reports that the trail failed a
// check: tapdesk's own tampering events (a refused checkpoint or pack),
// or a verify that failed.
func AuditAlarm(act Activity, res Result) bool {
	return act == ActTamperDetected || act == ActAuditVerified && res == ResultFailure
}

// AuditFullWalkDue says whether a checkpoint or an evidence pack (for any
// reason: interval, evidence, shutdown) must walk the whole trail rather
// than from the last signed checkpoint: when this process has not walked
// it whole yet (lastFull zero: a fresh or short-lived instance), or not
// within AuditFullVerifyEvery, or when the stretch after the checkpoint
// holds an alarm (AuditAlarm). An alarm after the checkpoint is mac'd into
// the chain, so it cannot be hidden without breaking it; it may be another
// instance's full walk finding a record changed before the checkpoint,
// which this process's walk from the checkpoint cannot see. The schedule
// lives in process memory only; the alarm is what carries one instance's
// finding to every other one and across restarts.
func AuditFullWalkDue(lastFull, now time.Time, alarmSinceCheckpoint bool) bool {
	return alarmSinceCheckpoint || lastFull.IsZero() || !lastFull.After(now.Add(-AuditFullVerifyEvery))
}
