package handlers

import (
	"context"
	"fmt"
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/tapdesk/tapdesk"
	"github.com/tapdesk/tapdesk/store"
)

// revoke is POST /requests/{id}/revoke: delete the pass in Entra.
func (h *Handler) revoke(c echo.Context) error {
	r, err := h.loadRequest(c)
	if err != nil {
		return err
	}
	if err := tapdesk.CheckRevoke(r, principal(c)); err != nil {
		h.refuse(c, r, tapdesk.ActRequestRefused, err)
		return err
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(c.Request().Context()), graphTimeout)
	defer cancel()
	note, err := h.deletePass(ctx, r)
	if err != nil {
		h.audit(c, tapdesk.Event{Activity: tapdesk.ActRevoke, Category: tapdesk.CatMethod, Result: tapdesk.ResultFailure,
			Reason: tapdesk.ErrorMessage(err)}.ForRequest(r))
		return err
	}
	ev := h.stamp(c, tapdesk.Event{Activity: tapdesk.ActRevoke, Category: tapdesk.CatMethod, Reason: note})
	if err := h.store.Transition(ctx, r, store.Change{From: tapdesk.StateIssued, To: tapdesk.StateRevoked, At: ev.Time}, nil, ev); err != nil {
		return err
	}
	h.flash(c, "The pass was deleted in Entra ID; it can no longer be used.")
	return c.Redirect(http.StatusSeeOther, "/requests/"+r.ID)
}

// deletePass deletes the issued pass of r in Entra. The pass is the one the
// request's signed issue event names, not whatever the database row says:
// a row pointed at a made-up id would make the delete "succeed" on
// not-found while the real pass keeps working. A row that disagrees with
// the trail is audited as tampering. A pass not found under its id is
// looked for among the user's methods (a pass Graph created within a
// minute of the issue is ours) before it counts as deleted: used up,
// expired and cleaned up, or replaced; note says so for the audit event.
func (h *Handler) deletePass(ctx context.Context, r *tapdesk.Request) (note string, err error) {
	methodID, issuedAt := r.TAPMethodID, r.PassCreatedAt()
	events, _, err := h.store.RequestEvidence(ctx, r.ID)
	if err != nil {
		return "", err
	}
	if t := tapdesk.ReplayRequest(events); t.TAPMethodID != "" {
		methodID, issuedAt = t.TAPMethodID, t.IssuedAt
		if t.TAPMethodID != r.TAPMethodID {
			finding := fmt.Sprintf("request %s names pass %q in the database, but its signed issue event names pass %q: tapdesk deletes the signed one",
				r.ID, r.TAPMethodID, t.TAPMethodID)
			h.log.Error("tampering: the stored pass id is not the one issued", "request", r.ID, "finding", finding)
			if err := h.store.AppendEvent(ctx, tapdesk.Event{Activity: tapdesk.ActTamperDetected, Category: tapdesk.CatAudit,
				Result: tapdesk.ResultFailure, Actor: tapdesk.SystemActor, Reason: finding,
				Details: map[string]string{"check": "pass id compared with the signed issue event before deleting the pass"}}.ForRequest(r)); err != nil {
				h.log.Error("tampering not audited", "request", r.ID, "err", err)
			}
		}
	}
	err = h.dir.DeleteTAP(ctx, r.TargetID, methodID)
	if !notInEntra(err) {
		return "", err
	}
	methods, err := h.dir.Methods(ctx, r.TargetID)
	if err != nil {
		return "", err
	}
	for _, m := range methods {
		if !m.IsPassOfIssue(issuedAt) {
			continue
		}
		if err := h.dir.DeleteTAP(ctx, r.TargetID, m.ID); err != nil && !notInEntra(err) {
			return "", err
		}
		return fmt.Sprintf("the pass was not found under method id %s; tapdesk deleted pass %s, created when this request's pass was issued", methodID, m.ID), nil
	}
	return "the pass no longer existed in Entra", nil
}
