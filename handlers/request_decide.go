package handlers

import (
	"net/http"
	"net/url"
	"strings"
	"unicode/utf8"

	"github.com/labstack/echo/v4"

	"github.com/tapdesk/tapdesk"
	"github.com/tapdesk/tapdesk/mail"
	"github.com/tapdesk/tapdesk/store"
	"github.com/tapdesk/tapdesk/views"
)

// approve is POST /requests/{id}/approve.
func (h *Handler) approve(c echo.Context) error {
	return h.decide(c, tapdesk.DecisionApprove, "")
}

// deny is POST /requests/{id}/deny; a denial needs a reason.
func (h *Handler) deny(c echo.Context) error {
	reason := strings.TrimSpace(c.FormValue("reason"))
	refusal := ""
	if hidden := tapdesk.CheckVisibleText("The reason", reason); hidden != nil {
		refusal = tapdesk.ErrorMessage(hidden)
	} else if reason == "" || utf8.RuneCountInString(reason) > 2000 || !tapdesk.Printable(reason, true) {
		refusal = "A denial needs a reason (up to 2,000 characters, no control characters) so the agent can tell the caller."
	}
	if refusal != "" {
		// Show the request again with the sentence by the form and what was
		// typed still in it.
		r, err := h.loadRequest(c)
		if err != nil {
			return err
		}
		return h.renderDetail(c, http.StatusUnprocessableEntity, r, func(d *views.RequestDetail) {
			d.DenyError = refusal
			d.DenyReason = c.FormValue("reason")
		})
	}
	return h.decide(c, tapdesk.DecisionDeny, reason)
}

func (h *Handler) decide(c echo.Context, d tapdesk.Decision, reason string) error {
	r, err := h.loadRequest(c)
	if err != nil {
		return err
	}
	p, now := principal(c), h.now()
	if err := tapdesk.CheckDecide(r, p, now); err != nil {
		h.refuse(c, r, tapdesk.ActDecisionRefused, err)
		return err
	}
	// Heightened-threat mode: a request filed before the switch is not
	// approved on the terms it was filed under (denying stays possible).
	if d == tapdesk.DecisionApprove {
		threat, err := h.requestThreatMode(c)
		if err != nil {
			return err
		}
		if err := tapdesk.CheckThreatApprove(threat, r); err != nil {
			h.refuse(c, r, tapdesk.ActDecisionRefused, err)
			return err
		}
	}
	// An email link alone never approves: the approver must be signed in
	// and, where configured, recently and with MFA.
	if err := tapdesk.CheckFreshSignIn(p, h.cfg.ApproverMaxAge, h.cfg.ApproverMFA, now); err != nil {
		h.refuse(c, r, tapdesk.ActDecisionRefused, err)
		return h.signInAgain(c, err, freshDecide, r,
			"Your sign-in is too old to decide requests. Sign in again, then decide.", "Signed in again. You can decide now.")
	}
	act := tapdesk.ActApprove
	if d == tapdesk.DecisionDeny {
		act = tapdesk.ActDeny
	}
	ev := h.stamp(c, tapdesk.Event{Activity: act, Category: tapdesk.CatApproval, Reason: reason,
		Details: map[string]string{"mfa": boolString(p.MFA)}})
	a := tapdesk.Approval{RequestID: r.ID, Approver: p.Actor(), Decision: d, Reason: reason, CreatedAt: ev.Time}
	outbox := []store.Mail{{Kind: mail.KindRequestDecided, To: r.Requester.UPN}}
	state, err := h.store.Decide(c.Request().Context(), r, a, ev, outbox)
	if err != nil {
		return err
	}
	h.kickMail()
	switch state {
	case tapdesk.StateApproved:
		h.flash(c, "Approved. The agent can now issue the pass.")
	case tapdesk.StateDenied:
		h.flash(c, "Denied. The agent has been told why.")
	default:
		h.flash(c, "Your approval is recorded. This request needs another approver too.")
	}
	return c.Redirect(http.StatusSeeOther, "/requests/"+r.ID)
}

// What a fresh sign-in is for (the fresh parameter of /auth/login): it sets
// the max_age sent to the identity provider.
const (
	freshDecide = "1"
	freshReveal = "reveal"
)

// signInAgain answers a failed CheckFreshSignIn. A sign-in that is only too
// old sends the person through the identity provider (with the max_age of
// the action) and back to the request page, where they repeat the action:
// it is a POST, so it never repeats by itself. Any other refusal is
// returned as is. before is flashed now, after once the new sign-in succeeds.
func (h *Handler) signInAgain(c echo.Context, err error, fresh string, r *tapdesk.Request, before, after string) error {
	return h.signInAgainTo(c, err, fresh, "/requests/"+r.ID, before, after)
}

// signInAgainTo is signInAgain back to the local page next.
func (h *Handler) signInAgainTo(c echo.Context, err error, fresh, next, before, after string) error {
	if tapdesk.ErrorCode(err) != tapdesk.EUNAUTHORIZED {
		return err
	}
	h.flash(c, before)
	if after != "" {
		h.sessions.Put(c.Request().Context(), sessAfterSignIn, after)
	}
	return c.Redirect(http.StatusSeeOther, "/auth/login?fresh="+fresh+"&next="+url.QueryEscape(next))
}
