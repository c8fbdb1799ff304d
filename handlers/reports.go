package handlers

import (
	"encoding/csv"
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/tapdesk/tapdesk"
	"github.com/tapdesk/tapdesk/store"
	"github.com/tapdesk/tapdesk/views"
)

// report reads the period fields and, if they are good, the report over
// it. The page keeps what was typed; an empty field shows the period it
// stood for.
func (h *Handler) report(c echo.Context) (views.ReportsPage, error) {
	now := h.now().UTC()
	from, to := strings.TrimSpace(c.QueryParam("from")), strings.TrimSpace(c.QueryParam("to"))
	period, errs := tapdesk.ParseReportPeriod(from, to, now)
	page := views.ReportsPage{From: from, To: to, Errors: errs, Now: now}
	if page.From == "" && errs["from"] == "" {
		page.From = period.From.Format(tapdesk.AuditFilterTimeLayout)
	}
	if page.To == "" && errs["to"] == "" {
		page.To = period.To.Format(tapdesk.AuditFilterTimeLayout)
	}
	if len(errs) > 0 {
		page.Message = firstRefusal(errs)
		return page, nil
	}
	facts, err := h.store.ReportFacts(c.Request().Context(), period.From, period.To)
	if err != nil {
		return page, err
	}
	hours := h.cfg.WorkingHours
	if hours.IsZero() {
		hours, _ = tapdesk.ParseWorkingHours(tapdesk.DefaultWorkingHours)
	}
	page.Report = tapdesk.BuildReport(period, facts, hours)
	page.Charts = views.ReportCharts(page.Report)
	return page, nil
}

// reports is GET /reports: the auditor's charts over a period (default the
// last 30 days).
func (h *Handler) reports(c echo.Context) error {
	page, err := h.report(c)
	if err != nil {
		return err
	}
	status := http.StatusOK
	if len(page.Errors) > 0 {
		status = http.StatusUnprocessableEntity
	}
	return h.render(c, status, views.Reports(h.page(c, "Reports"), page))
}

// reportCSV is GET /reports/{chart}.csv?from=&to=: one chart's numbers,
// the same cells as the table beside it, formula injection neutralised as
// in the audit export. Audited like an audit export.
func (h *Handler) reportCSV(c echo.Context) error {
	id, ok := strings.CutSuffix(c.Param("file"), ".csv")
	if !ok || !validChartID(id) {
		return tapdesk.Titledf(tapdesk.ENOTFOUND, "Report not found", "There is no such report. The reports page links each chart's CSV.")
	}
	page, err := h.report(c)
	if err != nil {
		return err
	}
	if len(page.Errors) > 0 {
		return tapdesk.Titledf(tapdesk.EINVALID, "Check the period", "%s", page.Message)
	}
	chart, _ := views.ReportChart(page.Report, id)
	h.audit(c, tapdesk.Event{Activity: tapdesk.ActExport, Category: tapdesk.CatAudit,
		Details: map[string]string{"format": "csv", "report": id, "from": page.From, "to": page.To}})

	name := "tapdesk-report-" + id + "-" + page.Report.Period.From.Format("20060102") + "-" + page.Report.Period.To.Format("20060102") + ".csv"
	res := c.Response()
	res.Header().Set(echo.HeaderContentType, "text/csv; charset=utf-8")
	res.Header().Set(echo.HeaderContentDisposition, `attachment; filename="`+name+`"`)
	res.WriteHeader(http.StatusOK)
	// A byte-order mark, as in the audit export: Excel then reads UTF-8.
	_, _ = res.Write([]byte("\ufeff"))
	w := csv.NewWriter(res)
	cells := func(in []string) []string {
		out := make([]string, len(in))
		for i, s := range in {
			out[i] = store.NeutraliseCell(s)
		}
		return out
	}
	_ = w.Write(cells(chart.Table.Head))
	for _, row := range chart.Table.Rows {
		_ = w.Write(cells(row.Cells))
	}
	w.Flush()
	if err := w.Error(); err != nil {
		h.log.Error("report export interrupted", "err", err)
	}
	return nil
}

// validChartID: the charts the reports page draws, whatever the period.
func validChartID(id string) bool {
	_, ok := views.ReportChart(tapdesk.Report{}, id)
	return ok
}
