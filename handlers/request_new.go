package handlers

import (
	"crypto/rand"
	"encoding/base32"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/labstack/echo/v4"

	"github.com/tapdesk/tapdesk"
	"github.com/tapdesk/tapdesk/mail"
	"github.com/tapdesk/tapdesk/store"
	"github.com/tapdesk/tapdesk/views"
)

// requestForm is GET /requests/new?user=.
func (h *Handler) requestForm(c echo.Context) error {
	card, err := h.lookUp(c, c.QueryParam("user"))
	if err != nil {
		return err
	}
	threat, err := h.eligible(c, card)
	if err != nil {
		return err
	}
	f := views.RequestForm{User: card.User, Policy: card.Policy, TAP: card.TAP,
		Values: views.RequestValues{Lifetime: strconv.Itoa(card.Policy.DefaultLifetime), UsableOnce: true}, Threat: threat.On}
	if v, ok := h.refileValues(c, card); ok {
		f.Values = v
	}
	threat.ClampDraft(&f.Values, card.Policy)
	// A second request would be refused: show the open one, not a form to
	// fill in vain.
	if f.Open, err = h.store.OpenRequestFor(c.Request().Context(), card.User.ID); err != nil {
		return err
	}
	status := http.StatusOK
	if f.Open != nil {
		status = http.StatusConflict
	}
	return h.render(c, status, views.RequestFormPage(h.page(c, "New request"), f))
}

// eligible says whether the signed-in agent may file for the card's user,
// and returns heightened-threat mode as it holds now (filing follows it).
// A disabled policy is named first: it explains every other refusal.
func (h *Handler) eligible(c echo.Context, card views.UserCard) (tapdesk.ThreatMode, error) {
	if !card.Policy.Enabled {
		return tapdesk.ThreatMode{}, tapdesk.Titledf(tapdesk.EINVALID, "Pass policy turned off", "The tenant's Temporary Access Pass policy is turned off. An administrator must enable it in Entra ID (Authentication methods > Temporary Access Pass).")
	}
	if err := tapdesk.CheckFile(principal(c), card.User); err != nil {
		return tapdesk.ThreatMode{}, err
	}
	threat, err := h.requestThreatMode(c)
	if err != nil {
		return threat, err
	}
	return threat, tapdesk.CheckThreatFile(threat, card.User)
}

// fileRequest is POST /requests. The target and policy are read again from
// Graph: nothing the browser sends about them is trusted.
func (h *Handler) fileRequest(c echo.Context) error {
	ctx := c.Request().Context()
	p := principal(c)
	// The manager to tell is read from Entra while the target is: the agent
	// waits for the slower read, not for one after the other (the manager
	// read needs the object id, which a filing from the user card has).
	manager := h.readManager(ctx, c.FormValue("user"))
	defer manager.read.Stop(tapdesk.ErrReadAbandoned)
	card, err := h.lookUp(c, c.FormValue("user"))
	if err != nil {
		return err
	}
	threat, err := h.eligible(c, card)
	if err != nil {
		h.audit(c, tapdesk.Event{Activity: tapdesk.ActRequestRefused, Category: tapdesk.CatRequest, Result: tapdesk.ResultFailure,
			Reason: tapdesk.ErrorMessage(err), TargetID: card.User.ID, TargetUPN: card.User.UPN})
		return err
	}
	// Said before the fields are checked: no point fixing a doomed form.
	// The store checks again in the filing transaction (two agents at once).
	if open, err := h.store.OpenRequestFor(ctx, card.User.ID); err != nil {
		return err
	} else if open != nil {
		return h.refuseSecondRequest(c, card, tapdesk.SecondOpenRequest(open))
	}
	now := h.now().UTC()
	// PostForm, not Form: the fields come from the body only (FormValue
	// above has parsed it).
	// Heightened-threat mode fixes lifetime and use whatever was posted.
	vals := tapdesk.ReadRequestForm(c.Request().PostForm)
	threat.ClampDraft(&vals, card.Policy)
	r, verr := vals.Validate(card.Policy, now)
	if verr != nil {
		f := views.RequestForm{User: card.User, Policy: card.Policy, TAP: card.TAP, Values: vals, Message: tapdesk.ErrorMessage(verr), Threat: threat.On}
		if e, ok := verr.(*tapdesk.Error); ok {
			f.Errors = e.Fields
		}
		return h.render(c, http.StatusUnprocessableEntity, views.RequestFormPage(h.page(c, "New request"), f))
	}
	r.ID = newRequestID()
	r.CorrelationID = uuid.NewString()
	r.State = tapdesk.StatePending
	r.Requester = p.Actor()
	r.TargetID, r.TargetUPN, r.TargetName = card.User.ID, card.User.UPN, card.User.DisplayName
	// A pass for someone holding a directory role or a tapdesk role takes
	// over an administrator, agent or approver: two different approvers
	// must agree (read from Graph just now, like the rest of the card).
	r.ApprovalsRequired = threat.ApprovalsRequired(card.User)
	r.PrivilegeReason = card.User.PrivilegeReason()
	r.CreatedAt, r.UpdatedAt, r.ExpiresAt = now, now, now.Add(h.cfg.DecisionTTL)

	var outbox []store.Mail
	for _, to := range h.cfg.ApproverEmails {
		// The target and the requester cannot approve, so don't ask them.
		if strings.EqualFold(to, card.User.UPN) || strings.EqualFold(to, card.User.Mail) ||
			strings.EqualFold(to, p.UPN) || strings.EqualFold(to, p.Email) {
			continue
		}
		outbox = append(outbox, store.Mail{Kind: mail.KindApprovalRequest, To: to})
	}
	notices, noticeDetails, unnotified, err := h.notices(ctx, card.User, manager)
	if err != nil {
		h.audit(c, tapdesk.Event{Activity: tapdesk.ActRequestRefused, Category: tapdesk.CatRequest, Result: tapdesk.ResultFailure,
			Reason: "the manager to notify could not be read: " + tapdesk.ErrorMessage(err), TargetID: card.User.ID, TargetUPN: card.User.UPN})
		return err
	}
	ev := h.stamp(c, tapdesk.Event{Activity: tapdesk.ActRequestFiled, Category: tapdesk.CatRequest,
		Details: map[string]string{"ticket": r.TicketRef, "verification": r.VerificationMethod,
			"lifetime_minutes": strconv.Itoa(r.LifetimeMinutes), "usable_once": boolString(r.UsableOnce),
			"approvals_required": strconv.Itoa(r.ApprovalsRequired), "expires": r.ExpiresAt.UTC().Format(time.RFC3339Nano), "target_roles": strings.Join(card.User.Roles, ", "),
			"target_privileged_groups": strings.Join(card.User.PrivilegedGroups, ", "),
			"target_tapdesk_roles":     strings.Join(card.User.TapdeskRoles, ", "),
			// The alert rules read these (tapdesk.FiledPrivileged).
			"privileged": boolString(card.User.Privileged()), "privilege_reason": r.PrivilegeReason}})
	if threat.On {
		ev.Details["threat_mode"] = "on"
	}
	for k, v := range noticeDetails {
		ev.Details[k] = v
	}
	if err := h.store.FileRequest(ctx, r, ev, append(outbox, notices...)); err != nil {
		if tapdesk.ErrorCode(err) == tapdesk.ECONFLICT {
			return h.refuseSecondRequest(c, card, err)
		}
		return err
	}
	for _, why := range unnotified {
		h.audit(c, tapdesk.Event{Activity: tapdesk.ActNoticeSkipped, Category: tapdesk.CatMail, Result: tapdesk.ResultFailure,
			Reason: why}.ForRequest(r))
	}
	h.kickMail()
	if len(outbox) == 0 {
		h.flash(c, "Request filed, but no approver address is configured: ask an approver to open it from their dashboard.")
	} else {
		h.flash(c, fmt.Sprintf("Request filed. %d approver(s) have been emailed; you will see the decision here.", len(outbox)))
	}
	return c.Redirect(http.StatusSeeOther, "/requests/"+r.ID)
}

// refuseSecondRequest answers a filing for a target who already has an open
// request (the store refused it in the filing transaction): 409, with the
// open request linked.
func (h *Handler) refuseSecondRequest(c echo.Context, card views.UserCard, err error) error {
	open, lerr := h.store.OpenRequestFor(c.Request().Context(), card.User.ID)
	if lerr != nil {
		return lerr
	}
	if open == nil { // closed in between: the refusal still stands as said
		return err
	}
	h.audit(c, tapdesk.Event{Activity: tapdesk.ActRequestRefused, Category: tapdesk.CatRequest, Result: tapdesk.ResultFailure,
		Reason: tapdesk.ErrorMessage(err), TargetID: card.User.ID, TargetUPN: card.User.UPN,
		Details: map[string]string{"open_request": open.ID}})
	f := views.RequestForm{User: card.User, Policy: card.Policy, TAP: card.TAP, Open: open}
	return h.render(c, http.StatusConflict, views.RequestFormPage(h.page(c, "New request"), f))
}

// newRequestID is random (not sequential) so ids cannot be guessed.
func newRequestID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b) // crypto/rand.Read never fails
	return strings.ToLower(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(b))
}
