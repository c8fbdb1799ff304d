package handlers

import (
	"context"
	"sync"
	"time"

	"github.com/labstack/echo/v4"
	"golang.org/x/sync/singleflight"

	"github.com/tapdesk/tapdesk"
	"github.com/tapdesk/tapdesk/internal/background"
	"github.com/tapdesk/tapdesk/views"
)

// glanceLookupTimeout bounds the Entra lookups behind the target summary:
// an approver on a phone gets the page (saying Entra could not be read)
// rather than waiting on a slow Graph.
const glanceLookupTimeout = 8 * time.Second

// targetGlance gathers what an approver weighs beside a pending request:
// the target as Entra shows them now, their methods and pass, and
// tapdesk's own records of the target (other open requests, recent
// passes). tapdesk.AssessRisks decides what is a risk. A failed lookup
// leaves the page standing with a sentence saying so.
func (h *Handler) targetGlance(c echo.Context, r *tapdesk.Request, now time.Time) *views.Glance {
	ctx := c.Request().Context()
	f := h.glances.get(ctx, r.TargetID, now, func(ctx context.Context) tapdesk.TargetFacts {
		return h.readTarget(ctx, r)
	})
	records, err := h.store.TargetRequests(ctx, r.TargetID, now.Add(-tapdesk.RecentPassWindow))
	if err != nil {
		h.log.ErrorContext(ctx, "target summary: requests of the target", "request_id", r.ID, "err", err)
	}
	for _, o := range records {
		switch {
		case o.ID == r.ID:
		case o.State.Open():
			f.OtherOpen = append(f.OtherOpen, o)
		case tapdesk.RecentPass(o, now):
			f.RecentPasses = append(f.RecentPasses, o)
		}
	}
	hours := h.cfg.WorkingHours
	if hours.IsZero() {
		hours, _ = tapdesk.ParseWorkingHours(tapdesk.DefaultWorkingHours)
	}
	return &views.Glance{Facts: f, Risks: tapdesk.AssessRisks(r, f, hours, now), Now: now}
}

// readTarget asks Entra about r's target: the account with its
// memberships, and its methods, side by side (the request holds the
// object id both need), so the approver waits for the slower read, not for
// one after the other. A failed lookup is said in LookupError; a failed
// account read is said first, as when the reads were made in turn.
func (h *Handler) readTarget(ctx context.Context, r *tapdesk.Request) tapdesk.TargetFacts {
	var f tapdesk.TargetFacts
	lookup, cancel := context.WithTimeout(ctx, glanceLookupTimeout)
	defer cancel()
	readMethods := background.Start(lookup, h.log, func(ctx context.Context) ([]tapdesk.AuthMethod, error) { return h.dir.Methods(ctx, r.TargetID) })
	defer readMethods.Stop(tapdesk.ErrReadAbandoned)
	u, err := h.dir.User(lookup, r.TargetID)
	if err != nil {
		h.log.WarnContext(ctx, "target summary: user lookup failed", "request_id", r.ID, "err", err)
		f.LookupError = "Could not read the user's current details from Entra. Check them in the Entra admin center before deciding."
		return f
	}
	f.User = u
	methods, err := readMethods.Result()
	if err != nil {
		h.log.WarnContext(ctx, "target summary: methods lookup failed", "request_id", r.ID, "err", err)
		f.LookupError = "Could not read the user's authentication methods from Entra."
		return f
	}
	f.Methods = methods
	for _, m := range methods {
		if m.TAP != nil {
			f.TAP = m.TAP
		}
	}
	return f
}

// glanceEntries bounds the glance cache: one entry per target with a
// pending request viewed in the last GlanceFactsTTL.
const glanceEntries = 256

// glanceCache keeps what Entra said about a target for
// tapdesk.GlanceFactsTTL, and lets the views of one target that arrive
// while Graph is being asked wait for that one answer instead of asking
// again (an approver's page, its reloads, a second approver). Only
// complete answers are kept: after a failed lookup the next view asks
// again. Its zero value is ready.
type glanceCache struct {
	mu      sync.Mutex
	entries map[string]glanceEntry
	flight  singleflight.Group
}

type glanceEntry struct {
	facts tapdesk.TargetFacts // User, Methods and TAP only
	at    time.Time
}

// get returns the facts about target read within the TTL before now, or
// reads them with read (once for all who ask meanwhile).
func (gc *glanceCache) get(ctx context.Context, target string, now time.Time, read func(context.Context) tapdesk.TargetFacts) tapdesk.TargetFacts {
	gc.mu.Lock()
	e, ok := gc.entries[target]
	gc.mu.Unlock()
	if ok && !now.Before(e.at) && now.Sub(e.at) < tapdesk.GlanceFactsTTL {
		return e.facts
	}
	v, _, _ := gc.flight.Do(target, func() (any, error) {
		// Detached from the first asker's request: the others waiting
		// on this answer must not get its cancellation. read bounds it.
		f := read(context.WithoutCancel(ctx))
		if f.LookupError == "" {
			gc.put(target, glanceEntry{facts: f, at: now})
		}
		return f, nil
	})
	return v.(tapdesk.TargetFacts)
}

func (gc *glanceCache) put(target string, e glanceEntry) {
	gc.mu.Lock()
	defer gc.mu.Unlock()
	if gc.entries == nil {
		gc.entries = map[string]glanceEntry{}
	}
	if len(gc.entries) >= glanceEntries {
		for k, old := range gc.entries {
			if e.at.Sub(old.at) >= tapdesk.GlanceFactsTTL || e.at.Before(old.at) {
				delete(gc.entries, k)
			}
		}
		if len(gc.entries) >= glanceEntries {
			clear(gc.entries) // all fresh: a burst of targets; start over
		}
	}
	gc.entries[target] = e
}
