package handlers

import (
	"context"

	"github.com/tapdesk/tapdesk"
	"github.com/tapdesk/tapdesk/views"
)

// outsidePasses reads the passes made outside tapdesk for the auditor's
// dashboard (the outside package finds them).
func (h *Handler) outsidePasses(ctx context.Context, o *views.Oversight) error {
	passes, err := h.store.OutsidePasses(ctx, tapdesk.DashboardOutsidePasses)
	if err != nil {
		return err
	}
	for _, p := range passes {
		o.Outside = append(o.Outside, views.NewOutsidePassRow(p))
	}
	return nil
}
