package handlers

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/tapdesk/tapdesk"
	"github.com/tapdesk/tapdesk/internal/background"
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
		if r.IsRequester(p) && r.RevealedAt != nil {
			// A reload of the reveal page posts again: say what happened
			// and what can be done, rather than only refuse.
			return h.render(c, http.StatusConflict, views.RevealedAfterPage(h.page(c, "Pass already revealed"), views.RevealedAfter{
				R: r, CanRevoke: tapdesk.CheckRevoke(r, p) == nil, Refile: p.Has(tapdesk.RoleRequester) && !r.IsTarget(p)}))
		}
		return err
	}
	if err := tapdesk.CheckFreshSignIn(p, h.cfg.RevealMaxAge, h.cfg.RevealMFA, now); err != nil {
		h.refuse(c, r, tapdesk.ActRevealRefused, err)
		return h.signInAgain(c, err, freshReveal, r, "Issuing a pass needs a recent sign-in. Sign in again, then press Issue and reveal.",
			"Signed in again. Press Issue and reveal to issue the pass.")
	}
	// The target, and the passes they hold now, are read from Entra while
	// the trail is recounted: none of it changes the request or Entra, so
	// the agent waits for the slowest of the three, not for each in turn.
	// Nothing is claimed until the target and the trail have passed, and
	// nothing created before the passes are read too. The passes are what
	// a create whose answer is lost tells its own pass from; read before
	// the claim rather than after it, they are read again if that was too
	// long before the create (tapdesk.PriorTAPsFresh). Their read outlives the
	// browser, as the create does.
	target := h.readUser(c.Request().Context(), r.TargetID)
	defer target.Stop(tapdesk.ErrReadAbandoned)
	prior := h.readTAPs(context.WithoutCancel(c.Request().Context()), r.TargetID)
	defer prior.Stop(tapdesk.ErrReadAbandoned)
	if err := h.recount(c, r); err != nil {
		return err
	}
	// The target as Entra describes them now: privilege gained since filing
	// (a directory role, Tap.Approver) needs more approvals than r has, and
	// an account gone guest, disabled or out of scope gets no pass. A lookup
	// that fails refuses too: tapdesk never assumes. The request stays
	// approved (the role may be removed again); the agent may cancel it.
	threat, err := h.targetStillFits(c, r, target)
	if err != nil {
		return err
	}
	spec := tapdesk.TAPSpec{StartAt: r.StartAt, LifetimeMinutes: r.LifetimeMinutes, UsableOnce: r.UsableOnce}
	if threat.On {
		// Heightened-threat mode: one-time, at the policy's shortest
		// lifetime, even for a request filed before the switch, as the
		// policy read with the target sets it.
		u, _ := target.Result() // it fit: read without error
		pol, err := h.policyOf(c.Request().Context(), u)
		if err != nil {
			return err
		}
		spec = threat.ClampSpec(spec, pol)
	}
	// Claim first, so a second tab or a double click cannot issue twice.
	// The claim is audited in its own transaction: if the process dies while
	// Graph is being called, the trail still shows an issue was under way.
	start := h.stamp(c, tapdesk.Event{Activity: tapdesk.ActIssueStart, Category: tapdesk.CatMethod,
		Details: map[string]string{"lifetime_minutes": strconv.Itoa(spec.LifetimeMinutes), "usable_once": boolString(spec.UsableOnce)}})
	if err := h.store.ClaimIssue(c.Request().Context(), r, start); err != nil {
		h.refuse(c, r, tapdesk.ActRevealRefused, err)
		return err
	}
	// The outcome must be recorded even if the browser goes away meanwhile.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(c.Request().Context()), graphTimeout)
	defer cancel()
	passes, _ := prior.Result() // its error is in passes.Err
	tap, err := h.dir.CreateTAP(ctx, r.TargetID, spec, &passes)
	if err != nil {
		return h.issueFailed(c, ctx, r, err)
	}
	issued := h.stamp(c, tapdesk.Event{Activity: tapdesk.ActIssueAttempt, Category: tapdesk.CatMethod,
		Details: map[string]string{"lifetime_minutes": strconv.Itoa(tap.LifetimeMinutes), "usable_once": boolString(tap.UsableOnce),
			"start": tap.StartAt.UTC().Format(time.RFC3339)}})
	revealed := h.stamp(c, tapdesk.Event{Activity: tapdesk.ActReveal, Category: tapdesk.CatMethod})
	ch := store.Change{From: tapdesk.StateApproved, To: tapdesk.StateIssued, At: issued.Time, TAP: &tap.TAPInfo, Revealed: true}
	if err := h.store.Transition(ctx, r, ch, h.issuedNotices(ctx, r), issued, revealed); err != nil {
		// The pass exists in Entra but we could not record it: do not show
		// an unaudited pass. Delete it so nothing usable is left behind.
		return h.unrecordedPass(c, r, tap.TAPInfo, err)
	}
	r.UsableOnce = tap.UsableOnce
	v := views.Reveal{R: r, Pass: tap.Pass, StartAt: tap.StartAt, ExpiresAt: tap.ExpiresAt(), Now: h.now()}
	return h.render(c, http.StatusOK, views.RevealPage(h.page(c, "Temporary Access Pass"), v))
}

// recordTimeout bounds recording an issue's outcome. It gets its own
// context: the create may have used up the reveal's, and an outcome left
// unrecorded strands the claim until its lease ends.
const recordTimeout = 15 * time.Second

// unrecordedPass handles a pass Graph created that tapdesk could not record
// as issued (the database failed, or the claim was settled by the sweep
// because this reveal outlived its lease). Nobody saw the pass: it is
// deleted, the attempt audited in its own transaction, and the claim
// released so the request can be issued again. A pass that cannot be
// deleted keeps the claim (if it still holds), so the sweep deletes it
// once the lease ends.
func (h *Handler) unrecordedPass(c echo.Context, r *tapdesk.Request, tap tapdesk.TAPInfo, cause error) error {
	h.log.Error("issued pass not recorded; deleting it", "request", r.ID, "method", tap.MethodID, "err", cause)
	ctx, cancel := context.WithTimeout(context.WithoutCancel(c.Request().Context()), graphTimeout)
	defer cancel()
	ev := h.stamp(c, tapdesk.Event{Activity: tapdesk.ActIssueAttempt, Category: tapdesk.CatMethod,
		Result: tapdesk.ResultFailure, TAPMethodID: tap.MethodID,
		Details: map[string]string{"unrecorded_method_id": tap.MethodID, "record_error": tapdesk.ErrorCode(cause)}})
	if err := h.dir.DeleteTAP(ctx, r.TargetID, tap.MethodID); err != nil && !notInEntra(err) {
		h.log.Error("could not delete unrecorded pass; the sweep deletes it after the claim's lease", "request", r.ID, "method", tap.MethodID, "err", err)
		ev.Reason = "Microsoft Graph created the pass, but tapdesk could not record it or delete it. Nobody saw the pass; the sweep tries to delete it again when this issue's claim runs out, and any new pass replaces it."
		ev.Details["delete_error"] = tapdesk.ErrorMessage(err)
		if err := h.store.AppendEvent(ctx, ev.ForRequest(r)); err != nil {
			h.log.Error("unrecorded pass not audited", "request", r.ID, "err", err)
		}
		return tapdesk.Titledf(tapdesk.EUNAVAILABLE, "Pass not recorded", "%s Wait %d minutes and open the request again.", ev.Reason, int(tapdesk.IssueClaimLease/time.Minute))
	}
	ev.Reason = "Microsoft Graph created the pass, but tapdesk could not record it, so it deleted the pass unseen: nothing was issued."
	ev.Details["deleted_method_id"] = tap.MethodID
	ev.Details["request_kept"] = string(tapdesk.StateApproved)
	err := h.store.ReleaseIssue(ctx, r, ev)
	if err == nil {
		return tapdesk.Titledf(tapdesk.EUNAVAILABLE, "Nothing was issued", "%s The request is still approved: open it and press Issue and reveal again.", ev.Reason)
	}
	h.log.Error("claim not released after deleting an unrecorded pass", "request", r.ID, "err", err)
	// The claim is gone (settled meanwhile, or the request was disputed) or
	// cannot be released now: the event alone, and the sweep settles a
	// claim still held.
	delete(ev.Details, "request_kept")
	if err := h.store.AppendEvent(ctx, ev.ForRequest(r)); err != nil {
		h.log.Error("unrecorded pass not audited", "request", r.ID, "err", err)
	}
	if cur, lerr := h.store.Request(ctx, r.ID); lerr == nil && cur.State != tapdesk.StateApproved {
		return tapdesk.Titledf(tapdesk.ECONFLICT, "Changed meanwhile", "While Microsoft Graph was creating the pass, this request became %s, so tapdesk deleted the pass unseen: nothing was issued.", cur.State)
	}
	return tapdesk.Titledf(tapdesk.EUNAVAILABLE, "Nothing was issued", "%s Open the request again to see where it stands.", ev.Reason)
}

// issueFailed records a Graph refusal: the request fails with the reason in
// words, the audit keeps Graph's raw code and message.
func (h *Handler) issueFailed(c echo.Context, ctx context.Context, r *tapdesk.Request, cause error) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), recordTimeout)
	defer cancel()
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
		return tapdesk.Titledf(tapdesk.EUNAVAILABLE, ge.Title(), "%s The request is still approved: open it and press Issue and reveal again.", reason)
	}
	ch := store.Change{From: tapdesk.StateApproved, To: tapdesk.StateFailed, At: ev.Time, FailureReason: reason}
	if err := h.store.Transition(ctx, r, ch, nil, ev); err != nil {
		h.log.Error("issue failure not recorded", "request", r.ID, "err", err)
	}
	h.log.Warn("graph refused to issue", "request", r.ID, "err", cause)
	return cause
}

// recount checks, before anything is claimed or a pass is created, that the
// request's signed audit events back up the stored request: approved by
// enough distinct people, neither its requester nor its target, filed by
// this agent for this user with this many approvals required. A request the
// trail does not explain was changed in the database: nothing is issued, the
// request is left as it is for the investigation (a transition would write
// a signed event continuing a history that never happened), and the
// refusal is audited as tampering. Every later try is refused the same way.
// The pass is created from r, the request checked here.
func (h *Handler) recount(c echo.Context, r *tapdesk.Request) error {
	events, unverified, err := h.store.RequestEvidence(c.Request().Context(), r.ID)
	if err != nil {
		return err
	}
	finding, err := tapdesk.CheckIssueEvidence(r, events, unverified)
	if err == nil {
		return nil
	}
	// The trail is read after the request: a reveal that won the race (a
	// second tab, or another instance) may have issued it in between, and
	// its events then run ahead of r. That is no tampering: refuse as the
	// request now stands. Nothing is issued either way.
	if cur, lerr := h.store.Request(c.Request().Context(), r.ID); lerr == nil && (cur.State != r.State || !cur.UpdatedAt.Equal(r.UpdatedAt)) {
		changed := tapdesk.CheckReveal(cur, principal(c), h.now())
		if changed == nil {
			changed = tapdesk.Titledf(tapdesk.ECONFLICT, "Changed meanwhile", "This request changed while you were issuing its pass. Open it again to see where it stands.")
		}
		h.refuse(c, cur, tapdesk.ActRevealRefused, changed)
		return changed
	}
	h.log.Error("tampering: the audit trail does not back up a request being issued", "request", r.ID, "finding", finding)
	h.audit(c, tapdesk.Event{Activity: tapdesk.ActTamperDetected, Category: tapdesk.CatAudit, Result: tapdesk.ResultFailure,
		Reason: finding, Details: map[string]string{"check": "approvals recounted from the audit trail before issuing",
			"stored_state": string(r.State), "path": c.Request().URL.Path}}.ForRequest(r))
	return err
}

// targetStillFits takes r's target as read again (readUser of r.TargetID)
// and applies tapdesk.CheckStillEnoughApprovals and, while
// heightened-threat mode is on, tapdesk.CheckThreatIssue (a request filed
// before the switch); a refusal is audited with what was read. It returns
// the mode it checked.
func (h *Handler) targetStillFits(c echo.Context, r *tapdesk.Request, read *background.Read[*tapdesk.DirectoryUser]) (tapdesk.ThreatMode, error) {
	details := map[string]string{"path": c.Request().URL.Path, "check": "target read again before issuing",
		"approvals_required": strconv.Itoa(r.ApprovalsRequired)}
	target, err := read.Result()
	if err == nil {
		details["target_approvals_required"] = strconv.Itoa(target.ApprovalsRequired())
		details["target_roles"] = strings.Join(target.Roles, ", ")
		details["target_privileged_groups"] = strings.Join(target.PrivilegedGroups, ", ")
		details["target_tapdesk_roles"] = strings.Join(target.TapdeskRoles, ", ")
		err = tapdesk.CheckStillEnoughApprovals(r, target)
	} else {
		details["lookup_error"] = tapdesk.ErrorCode(err)
	}
	threat, terr := h.requestThreatMode(c)
	if err == nil && terr != nil {
		err = terr
		details["threat_mode_error"] = tapdesk.ErrorCode(terr)
	}
	if err == nil && threat.On {
		details["threat_mode"] = "on"
		err = tapdesk.CheckThreatIssue(threat, r, target)
	}
	if err != nil {
		h.audit(c, tapdesk.Event{Activity: tapdesk.ActRevealRefused, Category: tapdesk.CatAccess, Result: tapdesk.ResultFailure,
			Reason: tapdesk.ErrorMessage(err), Details: details}.ForRequest(r))
	}
	return threat, err
}

// readUser starts reading the user idOrUPN from the directory in the
// background, within ctx.
func (h *Handler) readUser(ctx context.Context, idOrUPN string) *background.Read[*tapdesk.DirectoryUser] {
	return background.Start(ctx, h.log, func(ctx context.Context) (*tapdesk.DirectoryUser, error) { return h.dir.User(ctx, idOrUPN) })
}

// readTAPs starts reading the user's passes from Entra in the background,
// within graphTimeout, for a create to go by (Directory.CreateTAP).
func (h *Handler) readTAPs(ctx context.Context, userID string) *background.Read[tapdesk.PriorTAPs] {
	return background.Start(ctx, h.log, func(ctx context.Context) (tapdesk.PriorTAPs, error) {
		ctx, cancel := context.WithTimeout(ctx, graphTimeout)
		defer cancel()
		return tapdesk.ReadPriorTAPs(ctx, h.dir, userID), nil
	})
}
