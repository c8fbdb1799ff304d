package handlers

import (
	"errors"
	"net/http"
	"net/url"

	"github.com/labstack/echo/v4"

	"github.com/tapdesk/tapdesk"
)

// approvalLink is GET /approve/{token}, the landing of an approval email.
// The link only identifies the request: the approver must be signed in
// with the approver role, and deciding happens on the request page. The
// token is spent by a signed-in approver, so mail scanners that prefetch
// links (anonymous) do not burn it.
//
// Only the approver it was mailed to spends it, and only with a sign-in
// fresh enough to decide: another approver is shown the request, and a
// stale sign-in is sent through a fresh one and comes back here. Neither
// spends the link, so it still works for its recipient afterwards.
func (h *Handler) approvalLink(c echo.Context) error {
	ctx := c.Request().Context()
	token := c.Param("token")
	if !tapdesk.ValidLinkToken(token) {
		// Not a token tapdesk mails: no lookup, and not carried through
		// sign-in as a place to come back to. An altered token is audited
		// (counted, when anonymous, like every anonymous refusal).
		h.audit(c, tapdesk.Event{Activity: tapdesk.ActLinkRefused, Category: tapdesk.CatApproval, Result: tapdesk.ResultFailure,
			Reason: "approval link token of the wrong shape (altered or mistyped): not looked up", Details: map[string]string{"path": auditPath(c)}})
		return tapdesk.ErrLinkUnknown
	}
	here := "/approve/" + token
	p := principal(c)
	if p.IsZero() {
		return c.Redirect(http.StatusSeeOther, "/auth/login?next="+url.QueryEscape(here))
	}
	if !p.Has(tapdesk.RoleApprover) {
		h.audit(c, tapdesk.Event{Activity: tapdesk.ActLinkRefused, Category: tapdesk.CatApproval, Result: tapdesk.ResultFailure,
			Reason: "signed-in person is not an approver"})
		return tapdesk.Titledf(tapdesk.EFORBIDDEN, "Not one of your tasks", "This approval link is for approvers; your account does not have the Tap.Approver role.")
	}
	ev := h.stamp(c, tapdesk.Event{Activity: tapdesk.ActLinkOpened, Category: tapdesk.CatApproval})
	notFresh := tapdesk.CheckFreshSignIn(p, h.cfg.ApproverMaxAge, h.cfg.ApproverMFA, ev.Time)
	id, err := h.store.UseLink(ctx, token, p, notFresh, ev.Time, ev)
	if err == nil {
		return c.Redirect(http.StatusSeeOther, "/requests/"+id)
	}
	refusal := tapdesk.Event{Activity: tapdesk.ActLinkRefused, Category: tapdesk.CatApproval, Result: tapdesk.ResultFailure,
		Reason: tapdesk.ErrorMessage(err), RequestID: id}
	if id != "" {
		if r, lerr := h.store.Request(ctx, id); lerr == nil {
			refusal = refusal.ForRequest(r)
		}
	}
	switch {
	case errors.Is(err, tapdesk.ErrLinkNotRecipient):
		refusal.Reason = "link mailed to another approver: not spent, request shown"
		h.audit(c, refusal)
		h.flash(c, tapdesk.ErrorMessage(err))
		return c.Redirect(http.StatusSeeOther, "/requests/"+id)
	case notFresh != nil && errors.Is(err, notFresh):
		// Signing in again the same way cannot add MFA: say so rather than
		// loop through the identity provider.
		if tapdesk.ErrorCode(notFresh) == tapdesk.EFORBIDDEN {
			refusal.Reason = "sign-in without MFA: link not spent"
			h.audit(c, refusal)
			return tapdesk.Titledf(tapdesk.EFORBIDDEN, "Sign in with MFA", "Approving needs a sign-in with multi-factor authentication, and yours had none. Sign out, sign in again with MFA, and open the link again: it was not used up.")
		}
		refusal.Reason = "link not spent, sent to sign in again: " + tapdesk.ErrorMessage(err)
		h.audit(c, refusal)
		return c.Redirect(http.StatusSeeOther, "/auth/login?fresh=1&next="+url.QueryEscape(here))
	}
	if errors.Is(err, tapdesk.ErrLinkUsed) || errors.Is(err, tapdesk.ErrLinkExpired) {
		if r := h.linkRevisit(c, token, p); r != nil {
			// The recipient, signed in, comes back to a link they used (or
			// one that ran out): still refused and audited, but they land on
			// the request with what happened to it instead of a dead end.
			refusal = refusal.ForRequest(r)
			refusal.Reason = tapdesk.ErrorMessage(err) + " Its recipient, signed in, was shown the request."
			h.audit(c, refusal)
			h.flash(c, tapdesk.LinkRevisitNotice(r, p))
			return c.Redirect(http.StatusSeeOther, "/requests/"+r.ID)
		}
	}
	h.audit(c, refusal)
	return err
}

// linkRevisit is the request of a spent or expired link when p is the
// approver it was mailed to and may see the request; nil otherwise.
func (h *Handler) linkRevisit(c echo.Context, token string, p tapdesk.Principal) *tapdesk.Request {
	ctx := c.Request().Context()
	l, err := h.store.Link(ctx, token)
	if err != nil || !tapdesk.IsLinkRecipient(p, l.Recipient) {
		return nil
	}
	r, err := h.store.Request(ctx, l.RequestID)
	if err != nil || !tapdesk.CanView(r, p) {
		return nil
	}
	return r
}
