package tapdesk

import (
	"strings"
	"time"
)

// The people concerned are told: when a pass is requested for a user, the
// user (and, if Entra names one, their manager) get a notice at the address
// Entra holds, with a "This wasn't me" link. The link needs no sign-in, so
// it can only stop: a request disputed through it ends, and no pass can be
// issued for it.

// Dispute link refusals, told apart so each is audited with its reason.
var (
	ErrDisputeLinkUnknown = Titledf(ENOTFOUND, "Link not valid", "This link is not valid. It may have been altered or cut short by your mail program; open the whole link from the mail, or call your IT helpdesk on a number you know.")
	ErrDisputeLinkUsed    = Titledf(ECONFLICT, "Link already used", "This link has already been used. If you have not stopped the request yourself, call your IT security team on a number you know.")
	ErrDisputeLinkExpired = Titledf(ECONFLICT, "Link expired", "This link has expired: the request it was about can no longer give anyone a pass. If you did not ask for it, tell your IT security team.")
)

// DisputedTitle heads the page of anyone who tries to act on a disputed request.
const DisputedTitle = "Stopped: \"This wasn't me\""

// DisputedSentence is what anyone who tries to act on a disputed request reads.
const DisputedSentence = "The user or their manager answered the notice with \"This wasn't me\", so this request is stopped and no pass can be issued for it. Call the user back on a number from the directory before filing again; security has been alerted."

// CheckDispute decides whether r can still be stopped through a dispute
// link at now: while it is pending or approved (including an issue under
// way) and while an issued pass may still work.
func CheckDispute(r *Request, now time.Time) error {
	switch r.State {
	case StatePending, StateApproved, StateIssued:
	case StateDisputed:
		return Titledf(ECONFLICT, "Already stopped", "This request was already stopped with \"This wasn't me\". Nothing more is needed; security has been alerted.")
	default:
		return Titledf(ECONFLICT, "Request already ended", "This request has already ended (%s); no pass from it can be used. If you did not ask for it, tell your IT security team.", r.State)
	}
	if !now.Before(DisputeLinkExpiry(r)) {
		return Titledf(ECONFLICT, "Request already ended", "This request has already ended; no pass from it can be used any more. If you did not ask for it, tell your IT security team.")
	}
	return nil
}

// DisputeLinkExpiry is the last moment a pass of r could still work, so the
// moment its dispute links stop: the issued pass's own expiry, or, before
// issue, the latest start the request allows plus its lifetime (a pass is
// issued before the request expires, starting then or at the chosen start).
func DisputeLinkExpiry(r *Request) time.Time {
	if r.TAPExpiresAt != nil {
		return *r.TAPExpiresAt
	}
	start := r.ExpiresAt
	if r.StartAt != nil && r.StartAt.After(start) {
		start = *r.StartAt
	}
	return start.Add(time.Duration(r.LifetimeMinutes) * time.Minute)
}

// DisputeAlertRecipients is who hears that r was disputed: its agent, the
// configured approvers (the target aside, if they are one), everyone who
// decided it, and security; each address once.
func DisputeAlertRecipients(r *Request, approvers, security []string) []string {
	to := []string{r.Requester.UPN}
	for _, a := range approvers {
		if !strings.EqualFold(strings.TrimSpace(a), r.TargetUPN) {
			to = append(to, a)
		}
	}
	for _, a := range r.Approvals {
		to = append(to, a.Approver.UPN)
	}
	return UniqueAddresses(append(to, security...)...)
}

// UniqueAddresses keeps each mail address once (addresses compare without
// regard to case), in order, dropping blanks.
func UniqueAddresses(addrs ...string) []string {
	var out []string
	seen := map[string]bool{}
	for _, a := range addrs {
		a = strings.TrimSpace(a)
		if a != "" && !seen[strings.ToLower(a)] {
			seen[strings.ToLower(a)] = true
			out = append(out, a)
		}
	}
	return out
}
