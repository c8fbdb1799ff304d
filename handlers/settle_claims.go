package handlers

import (
	"context"
	"errors"
	"time"

	"github.com/tapdesk/tapdesk"
	"github.com/tapdesk/tapdesk/mail"
	"github.com/tapdesk/tapdesk/store"
)

// SettleClaims settles issue claims that outlived their lease
// (tapdesk.IssueClaimLease). Such a claim belongs to a reveal that died, or
// could not record its outcome, between claiming the request and recording
// what Graph did; left alone the request would stay approved and claimed for
// good (expiry skips it, cancel refuses it, reveal says conflict). For each,
// SettleClaims asks Graph whether a pass was created in the claim's window
// and deletes it (nobody saw it), then returns the request to approved, or
// expires it when its window has closed; a request disputed meanwhile only
// has its claim cleared and stays disputed: audited as tapdesk's own action, in
// the same transaction as the change. A claim whose user's passes cannot be
// read or deleted is logged and left for the next sweep. It runs on the
// sweep timer, not in a web request; it returns how many claims it settled.
func (h *Handler) SettleClaims(ctx context.Context, now time.Time) (int, error) {
	stale, err := h.store.StaleClaims(ctx, now)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, r := range stale {
		settled, err := h.settleClaim(ctx, r, now)
		if err != nil {
			// Logged, not audited: the sweep retries every interval.
			h.log.Warn("settling an interrupted issue; left for the next sweep", "request", r.ID, "err", err)
			continue
		}
		if settled {
			n++
		}
	}
	return n, nil
}

func (h *Handler) settleClaim(ctx context.Context, r *tapdesk.Request, now time.Time) (bool, error) {
	if r.IssueClaimedAt == nil || !tapdesk.ClaimStale(*r.IssueClaimedAt, now) {
		return false, nil
	}
	claimedAt := *r.IssueClaimedAt
	ctx, cancel := context.WithTimeout(ctx, graphTimeout)
	defer cancel()
	ev := tapdesk.Event{Time: now, Activity: tapdesk.ActIssueSettled, Category: tapdesk.CatMethod, Actor: tapdesk.SystemActor,
		Details: map[string]string{"claimed_at": claimedAt.UTC().Format(time.RFC3339Nano)}}
	orphan, err := h.strandedPass(ctx, r, claimedAt)
	if err != nil {
		return false, err
	}
	if orphan == nil {
		ev.Details["pass"] = "no pass found"
		ev.Reason = "An issue was interrupted before its outcome was recorded; Entra holds no pass from it, so nothing was issued."
	} else {
		// Delete only while the claim is still the one read. Once another
		// sweep settled it, a new reveal may have put a pass on the account
		// that its agent has seen; the list above was read before that.
		cur, err := h.store.Request(ctx, r.ID)
		if err != nil {
			return false, err
		}
		if cur.State != r.State || cur.IssueClaimedAt == nil || !cur.IssueClaimedAt.Equal(claimedAt) {
			return false, nil
		}
		if err := h.dir.DeleteTAP(ctx, r.TargetID, orphan.MethodID); err != nil && !notInEntra(err) {
			return false, err
		}
		ev.TAPMethodID = orphan.MethodID
		ev.Details["deleted_method_id"] = orphan.MethodID
		ev.Details["pass_created"] = orphan.CreatedAt.UTC().Format(time.RFC3339Nano)
		ev.Reason = "An issue was interrupted before its outcome was recorded; Graph had created a pass that nobody saw, and tapdesk deleted it. Nothing was issued."
	}
	to := tapdesk.StateApproved
	var expiry []tapdesk.Event
	var mails []store.Mail
	switch {
	case r.State != tapdesk.StateApproved:
		// Stopped while its pass was being created (disputed): the pass is
		// gone now, the claim is cleared, the state stays.
		to = r.State
		ev.Details["request_now"] = string(r.State)
		ev.Reason += " The request stays " + string(r.State) + "."
	case now.Before(r.ExpiresAt):
		ev.Details["request_kept"] = string(tapdesk.StateApproved)
	default:
		to = tapdesk.StateExpired
		ev.Details["request_now"] = string(tapdesk.StateExpired)
		expiry = append(expiry, tapdesk.Event{Time: now, Activity: tapdesk.ActRequestExpired, Category: tapdesk.CatRequest,
			Actor: tapdesk.SystemActor, Reason: "Approved, but the pass was not issued before " + r.ExpiresAt.UTC().Format("2006-01-02 15:04 UTC") + ".",
			Details: map[string]string{"from_state": string(tapdesk.StateApproved)}})
		mails = []store.Mail{{Kind: mail.KindRequestDecided, To: r.Requester.UPN}}
	}
	err = h.store.SettleClaim(ctx, r, to, now, mails, append([]tapdesk.Event{ev}, expiry...)...)
	if tapdesk.ErrorCode(err) == tapdesk.ECONFLICT {
		// Settled by another sweep, or the reveal recorded after all. A
		// pass this sweep deleted is deleted all the same: audit that.
		if ev.TAPMethodID != "" {
			delete(ev.Details, "request_kept")
			delete(ev.Details, "request_now")
			ev.Details["claim"] = "settled meanwhile"
			ev.Reason = "An issue was interrupted before its outcome was recorded; Graph had created a pass that nobody saw, and tapdesk deleted it. Its claim was settled meanwhile."
			if aerr := h.store.AppendEvent(ctx, ev.ForRequest(r)); aerr != nil {
				return false, aerr
			}
		}
		return false, nil
	}
	if err == nil && len(mails) > 0 {
		h.kickMail()
	}
	return err == nil, err
}

// strandedPass returns the pass on r's user that the reveal which claimed r
// at claimedAt may have created and never recorded: one Graph created
// within the claim's window (tapdesk.ClaimMayHaveCreated) that no request
// recorded as issued. Nil when there is none, or the user is gone.
func (h *Handler) strandedPass(ctx context.Context, r *tapdesk.Request, claimedAt time.Time) (*tapdesk.TAPInfo, error) {
	methods, err := h.dir.Methods(ctx, r.TargetID)
	if notInEntra(err) {
		return nil, nil // the user no longer exists: neither does a pass
	}
	if err != nil {
		return nil, err
	}
	for _, m := range methods {
		if m.TAP == nil || !tapdesk.ClaimMayHaveCreated(claimedAt, m.TAP.CreatedAt) {
			continue
		}
		recorded, err := h.store.TAPRecorded(ctx, m.TAP.MethodID)
		if err != nil {
			return nil, err
		}
		if !recorded {
			return m.TAP, nil
		}
	}
	return nil, nil
}

// notInEntra reports whether Graph answered that the pass (or user) does
// not exist: used up and cleaned away, replaced, deleted elsewhere.
func notInEntra(err error) bool {
	var ge *tapdesk.GraphError
	return errors.As(err, &ge) && ge.Kind == tapdesk.GraphNotFound
}
