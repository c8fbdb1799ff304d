package tapdesk

import (
	"fmt"
	"time"
)

// Activities are the activities tapdesk records, in the order the audit
// page's filter lists them (the order they are declared in).
func Activities() []Activity {
	return []Activity{
		ActSignIn, ActSignInRefused, ActSignOut, ActUserLookup,
		ActRequestFiled, ActRequestCancel, ActRequestExpired, ActRequestEscalate,
		ActApprove, ActDeny, ActLinkOpened, ActLinkRefused,
		ActIssueStart, ActIssueAttempt, ActIssueSettled, ActReveal, ActRevoke, ActLoopRemoved,
		ActMailQueued, ActMailSent, ActMailFailed,
		ActExport, ActAuditPruned, ActAuditVerified,
		ActAccessRefused, ActServiceStarted, ActRequestRefused, ActDecisionRefused, ActRevealRefused, ActTamperDetected,
		ActNoticeSkipped, ActDisputeOpened, ActDispute, ActDisputeRefused,
		ActRateLimited,
		ActOutsidePassFound, ActOutsidePassDeleted, ActOutsideScanFailing, ActCheckpointPublished, ActEvidenceExported,
		ActAlertRaised, ActThreatModeChanged,
	}
}

// KnownActivity reports whether a is one of Activities.
func KnownActivity(a string) bool {
	for _, k := range Activities() {
		if string(k) == a {
			return true
		}
	}
	return false
}

// UnknownActivityNote is said when the audit page is filtered by an
// activity this version does not record: an older version may have
// recorded it, so the filter still applies.
func UnknownActivityNote(a string) string {
	return fmt.Sprintf("%q is not an activity this version of tapdesk records; showing the events that carry it anyway (an older version may have written them).", a)
}

// AuditCountCap bounds how many events the audit page counts: beyond it
// the page says "more than", so a count never reads the whole trail.
const AuditCountCap = 10000

// AuditFilterTimeLayout is how the audit page's From and To fields are
// written (datetime-local, UTC).
const AuditFilterTimeLayout = "2006-01-02T15:04"

// AuditPreset is a ready-made time window for the audit page: From set to
// Span before now.
type AuditPreset struct {
	Label string
	Span  time.Duration
}

// AuditPresets are the audit page's time windows, shortest first.
func AuditPresets() []AuditPreset {
	return []AuditPreset{{"Last 24 hours", 24 * time.Hour}, {"Last 7 days", 7 * 24 * time.Hour}, {"Last 30 days", 30 * 24 * time.Hour}}
}

// ParseAuditTime reads an audit filter time as typed, in UTC; empty is no
// bound. Accepted: the datetime-local form, with seconds, RFC 3339 and a
// bare date.
func ParseAuditTime(s string) (time.Time, bool) {
	if s == "" {
		return time.Time{}, true
	}
	for _, layout := range []string{AuditFilterTimeLayout, "2006-01-02T15:04:05", time.RFC3339, "2006-01-02"} {
		if t, err := time.ParseInLocation(layout, s, time.UTC); err == nil {
			return t, true
		}
	}
	return time.Time{}, false
}

// AuditTimeRefusal is the sentence for an audit filter time that is not
// one (field names "From" or "To").
func AuditTimeRefusal(field, typed string) string {
	return fmt.Sprintf("The %s time %q is not a date and time like 2026-11-23T14:30 (UTC). Correct it or clear it.", field, typed)
}

// AuditRangeRefusal is said when From is not before To.
const AuditRangeRefusal = "The From time is not before the To time, so no event could match. Swap them or clear one."
