package tapdesk

import (
	"context"
	"fmt"
	"time"
)

// The rules around issuing a pass that tapdesk applies on its own: how long
// a reveal may hold its claim on a request, which pass a stranded claim may
// have made, and which method shows that a pass did its job.

// IssueClaimLease is how long a reveal's claim on an approved request holds.
// A reveal's Graph work ends well within it (the create, with the read of
// the user's passes it may wait for, both begun before the create's 60 s
// bound runs out; the look and clean-up after a lost answer at 30 s each,
// and the outcome recorded right after), so a claim older than this
// belongs to a reveal that died or could not record its outcome, and the
// sweep settles it.
const IssueClaimLease = 5 * time.Minute

// ClaimTakenTitle heads the page of a second reveal while a claim holds the
// request.
const ClaimTakenTitle = "Pass already being issued"

// ClaimTakenMessage is what a second reveal (another tab, a double click)
// reads while a claim holds the request.
var ClaimTakenMessage = fmt.Sprintf("This pass is already being issued or was issued. It is shown only once. "+
	"If an issue was interrupted, tapdesk settles it within %d minutes; open the request again then.", int(IssueClaimLease/time.Minute)+1)

// ClaimClockSkew is how far Graph's clock may run behind tapdesk's when
// deciding which pass a stranded claim made: Graph stamps the pass with its
// own clock, tapdesk the claim with its own.
const ClaimClockSkew = time.Minute

// ClaimStale reports whether a claim taken at claimedAt has outlived its
// lease at now, so no live reveal holds it any more.
func ClaimStale(claimedAt, now time.Time) bool {
	return !now.Before(claimedAt.Add(IssueClaimLease))
}

// ClaimMayHaveCreated reports whether a pass Graph created at created may
// be the one a reveal that claimed at claimedAt made and never recorded:
// the reveal could only create within its lease. The caller also rules out
// passes tapdesk recorded for a request (shown to someone).
func ClaimMayHaveCreated(claimedAt, created time.Time) bool {
	return !created.Before(claimedAt.Add(-ClaimClockSkew)) && !created.After(claimedAt.Add(IssueClaimLease))
}

// PriorTAPs is what a read of a user's passes before a create gave
// (ReadPriorTAPs): the passes, or why they could not be read, and when the
// read began. A create whose answer is lost takes a pass that is not among
// them, made since, for its own and deletes it.
type PriorTAPs struct {
	TAPs   []TAPInfo
	Err    error
	ReadAt time.Time
}

// PriorTAPsFresh is how long before a create a read of the user's passes
// may have begun for the create to go by it. A pass someone else makes
// between that read and a create whose answer is then lost is taken for
// the lost one and deleted: a reveal reads the passes beside its other
// reads to spare the agent a round trip, and this bounds what that may
// cost. Longer ago (a slow lookup, throttling), the create reads them
// again.
const PriorTAPsFresh = 2 * time.Second

// ReadPriorTAPs reads userID's passes for a create to go by.
func ReadPriorTAPs(ctx context.Context, dir interface {
	TAPs(context.Context, string) ([]TAPInfo, error)
}, userID string) PriorTAPs {
	read := PriorTAPs{ReadAt: time.Now()}
	read.TAPs, read.Err = dir.TAPs(ctx, userID)
	return read
}

// FreshAt reports whether a create at now may go by p: a read there is,
// timed, and begun at most PriorTAPsFresh before.
func (p *PriorTAPs) FreshAt(now time.Time) bool {
	return p != nil && !p.ReadAt.IsZero() && !now.After(p.ReadAt.Add(PriorTAPsFresh))
}

// LoopTolerance is how much earlier than its pass a strong method may be
// stamped and still count as registered with that pass. Graph stamps
// methods in whole seconds while the pass's own stamp has fractions, and
// different Graph services stamp with clocks a little apart. It stays small
// on purpose: a strong method from before the pass (a lost key still on the
// account, the usual reason for a pass) must not delete the pass the user
// has not used yet. A method registered a few seconds before the pass was
// set up without it anyway, so the pass is not needed either way.
const LoopTolerance = 5 * time.Second

// ClosesLoop reports whether m shows that a pass Graph created at
// passCreated did its job: m is strong and was registered no earlier than
// the pass's second, less LoopTolerance.
func (m AuthMethod) ClosesLoop(passCreated time.Time) bool {
	if !m.Strong() || m.CreatedAt.IsZero() || passCreated.IsZero() {
		return false
	}
	return !m.CreatedAt.Before(passCreated.Truncate(time.Second).Add(-LoopTolerance))
}

// IsPassOfIssue reports whether m is the pass a request issued at issuedAt,
// found by its creation stamp when its method id no longer answers (the
// stored id was changed, or Graph renumbered it): a pass Graph created
// within ClaimClockSkew of the issue.
func (m AuthMethod) IsPassOfIssue(issuedAt time.Time) bool {
	return m.TAP != nil && !m.CreatedAt.IsZero() && m.CreatedAt.Sub(issuedAt).Abs() <= ClaimClockSkew
}
