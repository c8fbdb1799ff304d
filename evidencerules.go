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

// AuditFullVerifyEvery is how often the interval's checkpoint walks the
// whole audit trail rather than from the last signed checkpoint. The walk
// from a checkpoint catches every rewrite that forges macs (the chain
// breaks at the checkpoint's signed mac) and everything after it; an event
// before it changed without the audit key leaves the macs after it intact,
// and only a walk over that event sees it.
const AuditFullVerifyEvery = 24 * time.Hour
