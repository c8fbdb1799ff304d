package handlers

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/tapdesk/tapdesk"
	"github.com/tapdesk/tapdesk/store"
	"github.com/tapdesk/tapdesk/views"
)

// graphTimeout bounds one Graph call made for a person waiting on a page.
const graphTimeout = 60 * time.Second

// reveal is POST /requests/{id}/reveal: issue the pass through Graph and
// show it in this one response. The pass lives only in this function's
// memory and the rendered page; it is never stored, logged or redirected.
func (h *Handler) reveal(c echo.Context) error {
	r, err := h.loadRequest(c)
	if err != nil {
		return err
	}
	p, now := principal(c), h.now()
	if err := tapdesk.CheckReveal(r, p, now); err != nil {
		h.refuse(c, r, tapdesk.ActRevealRefused, err)
		return err
	}
	if err := tapdesk.CheckFreshSignIn(p, h.cfg.RevealMaxAge, h.cfg.RevealMFA, now); err != nil {
		h.refuse(c, r, tapdesk.ActRevealRefused, err)
		return h.signInAgain(c, err, freshReveal, r, "Issuing a pass needs a recent sign-in. Sign in again, then press Issue and reveal.",
			"Signed in again. Press Issue and reveal to issue the pass.")
	}
	// Claim first, so a second tab or a double click cannot issue twice.
	// The claim is audited in its own transaction: if the process dies while
	// Graph is being called, the trail still shows an issue was under way.
	start := h.stamp(c, tapdesk.Event{Activity: tapdesk.ActIssueStart, Category: tapdesk.CatMethod,
		Details: map[string]string{"lifetime_minutes": strconv.Itoa(r.LifetimeMinutes), "usable_once": boolString(r.UsableOnce)}})
	if err := h.store.ClaimIssue(c.Request().Context(), r, start); err != nil {
		h.refuse(c, r, tapdesk.ActRevealRefused, err)
		return err
	}
	// The outcome must be recorded even if the browser goes away meanwhile.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(c.Request().Context()), graphTimeout)
	defer cancel()
	spec := tapdesk.TAPSpec{StartAt: r.StartAt, LifetimeMinutes: r.LifetimeMinutes, UsableOnce: r.UsableOnce}
	tap, err := h.dir.CreateTAP(ctx, r.TargetID, spec)
	if err != nil {
		return h.issueFailed(c, ctx, r, err)
	}
	issued := h.stamp(c, tapdesk.Event{Activity: tapdesk.ActIssueAttempt, Category: tapdesk.CatMethod,
		Details: map[string]string{"lifetime_minutes": strconv.Itoa(tap.LifetimeMinutes), "usable_once": boolString(tap.UsableOnce),
			"start": tap.StartAt.UTC().Format(time.RFC3339)}})
	revealed := h.stamp(c, tapdesk.Event{Activity: tapdesk.ActReveal, Category: tapdesk.CatMethod})
	ch := store.Change{From: tapdesk.StateApproved, To: tapdesk.StateIssued, At: issued.Time, TAP: &tap.TAPInfo, Revealed: true}
	if err := h.store.Transition(ctx, r, ch, nil, issued, revealed); err != nil {
		// The pass exists in Entra but we could not record it: do not show
		// an unaudited pass. Delete it so nothing usable is left behind.
		h.log.Error("issued pass not recorded; deleting it", "request", r.ID, "method", tap.MethodID, "err", err)
		if derr := h.dir.DeleteTAP(ctx, r.TargetID, tap.MethodID); derr != nil {
			h.log.Error("could not delete unrecorded pass", "request", r.ID, "method", tap.MethodID, "err", derr)
		}
		return err
	}
	r.UsableOnce = tap.UsableOnce
	v := views.Reveal{R: r, Pass: tap.Pass, StartAt: tap.StartAt, ExpiresAt: tap.ExpiresAt()}
	return h.render(c, http.StatusOK, views.RevealPage(h.page(c, "Temporary Access Pass"), v))
}

// issueFailed records a Graph refusal: the request fails with the reason in
// words, the audit keeps Graph's raw code and message.
func (h *Handler) issueFailed(c echo.Context, ctx context.Context, r *tapdesk.Request, cause error) error {
	details := map[string]string{}
	var ge *tapdesk.GraphError
	if errors.As(cause, &ge) {
		details["graph_status"] = strconv.Itoa(ge.Status)
		details["graph_code"] = ge.Code
		details["graph_message"] = ge.Message
		details["graph_request_id"] = ge.RequestID
		if ge.OrphanMethodID != "" {
			// Graph made a pass whose answer was lost; which one was deleted
			// (or left) belongs in the trail.
			details["graph_orphan_method_id"] = ge.OrphanMethodID
		}
	}
	reason := tapdesk.ErrorMessage(cause)
	ev := h.stamp(c, tapdesk.Event{Activity: tapdesk.ActIssueAttempt, Category: tapdesk.CatMethod, Result: tapdesk.ResultFailure,
		Reason: reason, Details: details})
	if ge != nil && ge.NothingIssuedTryAgain() {
		// Nothing was issued and a second try can work: keep the request
		// approved rather than send the agent back for new approvals.
		ev.Details["request_kept"] = string(tapdesk.StateApproved)
		if err := h.store.ReleaseIssue(ctx, r, ev); err != nil {
			h.log.Error("issue failure not recorded", "request", r.ID, "err", err)
		}
		h.log.Warn("graph refused to issue; request stays approved", "request", r.ID, "err", cause)
		return tapdesk.Errorf(tapdesk.EUNAVAILABLE, "%s The request is still approved: open it and press Issue and reveal again.", reason)
	}
	ch := store.Change{From: tapdesk.StateApproved, To: tapdesk.StateFailed, At: ev.Time, FailureReason: reason}
	if err := h.store.Transition(ctx, r, ch, nil, ev); err != nil {
		h.log.Error("issue failure not recorded", "request", r.ID, "err", err)
	}
	h.log.Warn("graph refused to issue", "request", r.ID, "err", cause)
	return cause
}
