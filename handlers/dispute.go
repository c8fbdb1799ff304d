package handlers

import (
	"context"
	"errors"
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/tapdesk/tapdesk"
	"github.com/tapdesk/tapdesk/mail"
	"github.com/tapdesk/tapdesk/store"
	"github.com/tapdesk/tapdesk/views"
)

// disputeAttempts bounds how often a dispute re-reads a request that moved
// under it (an issue under way finishing, say) before giving up.
const disputeAttempts = 3

// disputeLanding is GET /dispute/{token}, the "This wasn't me" link of a
// notice to the target or their manager. It needs no sign-in and changes
// nothing: mail scanners fetch links before people do, so stopping takes
// the POST behind the button on this page.
func (h *Handler) disputeLanding(c echo.Context) error {
	token := c.Param("token")
	if !tapdesk.ValidLinkToken(token) {
		return h.disputeRefused(c, nil, store.DisputeLink{}, tapdesk.ErrDisputeLinkUnknown)
	}
	r, link, err := h.store.DisputeLink(c.Request().Context(), token, h.now())
	if err != nil {
		return h.disputeRefused(c, r, link, err)
	}
	if err := tapdesk.CheckDispute(r, h.now()); err != nil {
		return h.disputeRefused(c, r, link, err)
	}
	h.audit(c, h.disputeEvent(c, tapdesk.Event{Activity: tapdesk.ActDisputeOpened, Category: tapdesk.CatRequest}, link).ForRequest(r))
	return h.render(c, http.StatusOK, views.DisputePage(h.page(c, "Was this you?"), views.Dispute{R: r, Action: "/dispute/" + token}))
}

// dispute is POST /dispute/{token}: stop the request. From pending or
// approved it ends disputed; from issued the pass is deleted in Entra
// first (the person says someone else may hold it), and the request ends
// disputed even if Graph refuses the delete, with the alert saying so.
//
// An issue under way (claimed) does not hold a dispute back: the request
// becomes disputed, and the issue's own conditional approved -> issued
// update then fails and deletes the pass it made, so no one sees it.
func (h *Handler) dispute(c echo.Context) error {
	token := c.Param("token")
	if !tapdesk.ValidLinkToken(token) {
		return h.disputeRefused(c, nil, store.DisputeLink{}, tapdesk.ErrDisputeLinkUnknown)
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(c.Request().Context()), graphTimeout)
	defer cancel()
	for attempt := 1; ; attempt++ {
		r, link, err := h.store.DisputeLink(ctx, token, h.now())
		if err != nil {
			return h.disputeRefused(c, r, link, err)
		}
		if err := tapdesk.CheckDispute(r, h.now()); err != nil {
			return h.disputeRefused(c, r, link, err)
		}
		ev := h.disputeEvent(c, tapdesk.Event{Activity: tapdesk.ActDispute, Category: tapdesk.CatRequest,
			Reason:  "The notice was answered with \"This wasn't me\".",
			Details: map[string]string{"recipient": link.Recipient, "from_state": string(r.State)}}, link)
		evs := []tapdesk.Event{ev}
		note := "Stopped with \"This wasn't me\" from the notice mailed to " + link.Recipient + "."
		passNote := ""
		if r.State == tapdesk.StateIssued {
			del := h.disputeEvent(c, tapdesk.Event{Activity: tapdesk.ActRevoke, Category: tapdesk.CatMethod}, link)
			gone, err := h.deletePass(ctx, r)
			if err != nil {
				del.Result, del.Reason = tapdesk.ResultFailure, tapdesk.ErrorMessage(err)
				passNote = "The pass already issued could NOT be deleted in Entra: an administrator must delete it under the user's authentication methods now."
			} else {
				del.Reason = "Disputed by the notice recipient. " + gone
				passNote = "The pass already issued was deleted in Entra; it no longer works."
			}
			note += " " + passNote
			evs = append(evs, del)
		}
		ch := store.Change{From: r.State, To: tapdesk.StateDisputed, At: ev.Time, DecisionNote: note}
		err = h.store.Dispute(ctx, token, r, ch, mailsTo(mail.KindDisputeAlert, tapdesk.DisputeAlertRecipients(r, h.cfg.ApproverEmails, h.cfg.SecurityEmails)), evs...)
		if tapdesk.ErrorCode(err) == tapdesk.ECONFLICT && !errors.Is(err, tapdesk.ErrDisputeLinkUsed) && attempt < disputeAttempts {
			continue // the request moved (an issue finished, say): look again
		}
		if err != nil {
			return h.disputeRefused(c, r, link, err)
		}
		h.kickMail()
		r.State, r.DecisionNote = tapdesk.StateDisputed, note
		return h.render(c, http.StatusOK, views.DisputePage(h.page(c, "Stopped"), views.Dispute{R: r, Done: true, PassNote: passNote}))
	}
}

// disputeEvent stamps a dispute event. Nobody signs in to dispute: the
// actor is the mailbox the link was sent to, named as such.
func (h *Handler) disputeEvent(c echo.Context, ev tapdesk.Event, link store.DisputeLink) tapdesk.Event {
	ev = h.stamp(c, ev)
	if ev.Actor.ObjectID == "" {
		ev.Actor = tapdesk.Actor{Name: "Notice recipient (no sign-in)", UPN: link.Recipient}
	}
	return ev
}

// disputeRefused audits a refused dispute link (unknown, spent, expired,
// or its request already over) and returns the sentence. The token is
// never written to the trail: not even the path, which holds it.
func (h *Handler) disputeRefused(c echo.Context, r *tapdesk.Request, link store.DisputeLink, err error) error {
	ev := h.disputeEvent(c, tapdesk.Event{Activity: tapdesk.ActDisputeRefused, Category: tapdesk.CatAccess, Result: tapdesk.ResultFailure,
		Reason: tapdesk.ErrorMessage(err), RequestID: link.RequestID, Details: map[string]string{"method": c.Request().Method}}, link)
	if r == nil && link.RequestID != "" {
		r, _ = h.store.Request(c.Request().Context(), link.RequestID)
	}
	if r != nil {
		ev = ev.ForRequest(r)
	}
	h.audit(c, ev)
	return err
}
