package handlers

import (
	"context"
	"net/http"
	"strconv"

	"github.com/labstack/echo/v4"

	"github.com/tapdesk/tapdesk"
	"github.com/tapdesk/tapdesk/views"
)

// alertsPage is GET /alerts (auditors): the alerts raised, newest first,
// filtered by rule, paged by id. A rule or page that is not one is said in
// a sentence, never a 500.
func (h *Handler) alertsPage(c echo.Context) error {
	list := views.AlertList{Thresholds: h.cfg.AlertThresholds, Hours: h.cfg.WorkingHours}
	status := http.StatusOK
	rule, err := tapdesk.ParseAlertRule(c.QueryParam("rule"))
	if err != nil {
		list.Message, status = tapdesk.ErrorMessage(err), http.StatusUnprocessableEntity
	}
	list.Rule = rule
	var before int64
	if b := c.QueryParam("before"); b != "" {
		if before, err = strconv.ParseInt(b, 10, 64); err != nil || before < 1 {
			before = 0
			list.Message = tapdesk.AlertPageGone
		}
	}
	alerts, err := h.store.Alerts(c.Request().Context(), rule, before, tapdesk.AlertPageSize+1)
	if err != nil {
		return err
	}
	if len(alerts) > tapdesk.AlertPageSize {
		alerts = alerts[:tapdesk.AlertPageSize]
		list.OlderThan = alerts[len(alerts)-1].ID
	}
	list.Alerts = alerts
	return h.render(c, status, views.AlertsPage(h.page(c, "Alerts"), list))
}

// latestAlerts are the auditor dashboard's alerts.
func (h *Handler) latestAlerts(ctx context.Context) (views.AlertList, error) {
	alerts, err := h.store.Alerts(ctx, "", 0, tapdesk.DashboardAlerts)
	return views.AlertList{Alerts: alerts}, err
}
