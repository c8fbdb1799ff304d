package handlers

import (
	"context"
	"time"

	"github.com/tapdesk/tapdesk"
	"github.com/tapdesk/tapdesk/store"
)

// CloseLoop removes passes that did their job: for every issued pass that
// is still valid, it reads the user's methods, and when a strong
// (passwordless) method was registered since the pass was created, it deletes
// the pass in Entra and marks the request revoked, audited as tapdesk's own
// action. It runs on the sweep timer, not in a web request; it returns how
// many passes it removed.
func (h *Handler) CloseLoop(ctx context.Context, now time.Time) (int, error) {
	// Expired passes need nothing: Entra stops them itself.
	live, err := h.store.Requests(ctx, store.RequestFilter{States: []tapdesk.State{tapdesk.StateIssued}, TAPValidAt: now})
	if err != nil {
		return 0, err
	}
	n := 0
	for _, r := range live {
		if r.IssuedAt == nil || r.TAPMethodID == "" {
			continue
		}
		removed, err := h.closeLoop(ctx, r, now)
		if err != nil {
			// Logged, not audited: the sweep retries every interval, and a
			// Graph outage would otherwise fill the trail with repeats.
			h.log.Warn("closing the loop", "request", r.ID, "err", err)
			continue
		}
		if removed {
			n++
		}
	}
	return n, nil
}

func (h *Handler) closeLoop(ctx context.Context, r *tapdesk.Request, now time.Time) (bool, error) {
	ctx, cancel := context.WithTimeout(ctx, graphTimeout)
	defer cancel()
	methods, err := h.dir.Methods(ctx, r.TargetID)
	if err != nil {
		return false, err
	}
	// Against the pass's own stamp from Graph, which stamps the methods with
	// the same clock, not tapdesk's issue time (see tapdesk.LoopTolerance).
	passCreated := r.PassCreatedAt()
	var strong *tapdesk.AuthMethod
	for i, m := range methods {
		if m.ClosesLoop(passCreated) {
			strong = &methods[i]
			break
		}
	}
	if strong == nil {
		return false, nil
	}
	note, err := h.deletePass(ctx, r)
	if err != nil {
		return false, err
	}
	ev := tapdesk.Event{Time: now, Activity: tapdesk.ActLoopRemoved, Category: tapdesk.CatMethod, Actor: tapdesk.SystemActor,
		Reason: "The user registered " + strong.Label + ", so the pass is no longer needed.",
		Details: map[string]string{"strong_method_kind": strong.Kind, "strong_method_id": strong.ID,
			"strong_method_created": strong.CreatedAt.UTC().Format(time.RFC3339),
			"pass_created":          passCreated.UTC().Format(time.RFC3339Nano)}}
	if note != "" {
		ev.Details["note"] = note
	}
	err = h.store.Transition(ctx, r, store.Change{From: tapdesk.StateIssued, To: tapdesk.StateRevoked, At: now}, nil, ev)
	if tapdesk.ErrorCode(err) == tapdesk.ECONFLICT {
		return false, nil // revoked by a person meanwhile
	}
	return err == nil, err
}
