package handlers

import (
	"bufio"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/tapdesk/tapdesk"
	"github.com/tapdesk/tapdesk/store"
	"github.com/tapdesk/tapdesk/views"
)

const auditPageSize = 100

// auditFilter reads the filter fields; a bad one is a sentence, not a 500.
func auditFilter(c echo.Context) (views.AuditFilter, store.EventFilter, error) {
	vf := views.AuditFilter{
		From: c.QueryParam("from"), To: c.QueryParam("to"), Activity: strings.TrimSpace(c.QueryParam("activity")),
		Actor: strings.TrimSpace(c.QueryParam("actor")), Target: strings.TrimSpace(c.QueryParam("target")),
		Result: c.QueryParam("result"), RequestID: strings.TrimSpace(c.QueryParam("request")),
	}
	f := store.EventFilter{Activity: vf.Activity, Actor: vf.Actor, Target: vf.Target, RequestID: vf.RequestID}
	var err error
	if f.From, err = parseFilterTime(vf.From); err != nil {
		return vf, f, tapdesk.Errorf(tapdesk.EINVALID, "The From time is not a date and time like 2026-11-23T14:30 (UTC).")
	}
	if f.To, err = parseFilterTime(vf.To); err != nil {
		return vf, f, tapdesk.Errorf(tapdesk.EINVALID, "The To time is not a date and time like 2026-11-23T14:30 (UTC).")
	}
	switch vf.Result {
	case "", "success", "failure":
		f.Result = vf.Result
	default:
		return vf, f, tapdesk.Errorf(tapdesk.EINVALID, "Result is success, failure or empty.")
	}
	return vf, f, nil
}

func parseFilterTime(s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	for _, layout := range []string{startLayout, time.RFC3339, "2006-01-02"} {
		if t, err := time.ParseInLocation(layout, s, time.UTC); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("bad time %q", s)
}

// auditList is GET /audit.
func (h *Handler) auditList(c echo.Context) error {
	vf, f, err := auditFilter(c)
	page := views.AuditList{Filter: vf}
	if err != nil {
		page.Message = tapdesk.ErrorMessage(err)
		return h.render(c, http.StatusUnprocessableEntity, views.AuditPage(h.page(c, "Audit trail"), page))
	}
	if b := c.QueryParam("before"); b != "" {
		if f.BeforeSeq, err = strconv.ParseInt(b, 10, 64); err != nil || f.BeforeSeq < 1 {
			return tapdesk.Errorf(tapdesk.EINVALID, "That page of the audit trail does not exist.")
		}
	}
	f.Limit = auditPageSize
	if page.Events, err = h.store.Events(c.Request().Context(), f); err != nil {
		return err
	}
	if len(page.Events) == auditPageSize {
		page.NextBefore = page.Events[len(page.Events)-1].Seq
	}
	return h.render(c, http.StatusOK, views.AuditPage(h.page(c, "Audit trail"), page))
}

// CSVHeader is the export's column order.
var CSVHeader = []string{"seq", "time", "activity", "category", "result", "reason",
	"actor_tid", "actor_oid", "actor_upn", "actor_name", "actor_ip", "actor_agent",
	"target_id", "target_upn", "request_id", "correlation_id", "tap_method_id", "details"}

// auditExport is GET /audit/export?format=csv&...: streamed, so memory
// stays flat whatever the size. The export is itself audited first, so it
// appears in what it exports.
func (h *Handler) auditExport(c echo.Context) error {
	format := c.QueryParam("format")
	if format != "csv" {
		return tapdesk.Errorf(tapdesk.EINVALID, "The export format must be csv.")
	}
	_, f, err := auditFilter(c)
	if err != nil {
		return err
	}
	h.audit(c, tapdesk.Event{Activity: tapdesk.ActExport, Category: tapdesk.CatAudit,
		Details: map[string]string{"format": format, "filter": c.QueryParams().Encode()}})

	res := c.Response()
	name := "tapdesk-audit-" + h.now().UTC().Format("20060102-150405") + ".csv"
	res.Header().Set(echo.HeaderContentType, "text/csv; charset=utf-8")
	res.Header().Set(echo.HeaderContentDisposition, `attachment; filename="`+name+`"`)
	res.WriteHeader(http.StatusOK)
	bw := bufio.NewWriterSize(res, 64<<10)
	bw.WriteString("\ufeff") // BOM, so Excel reads UTF-8 names correctly
	w := csv.NewWriter(bw)
	_ = w.Write(CSVHeader)
	row := make([]string, len(CSVHeader))
	err = h.store.StreamEvents(c.Request().Context(), f, func(ev tapdesk.Event) error {
		details := "{}"
		if len(ev.Details) > 0 {
			b, _ := json.Marshal(ev.Details)
			details = string(b)
		}
		row = append(row[:0], strconv.FormatInt(ev.Seq, 10), ev.Time.UTC().Format("2006-01-02T15:04:05.000000Z"),
			string(ev.Activity), string(ev.Category), string(ev.Result), ev.Reason,
			ev.Actor.TenantID, ev.Actor.ObjectID, ev.Actor.UPN, ev.Actor.Name, ev.ActorIP, ev.ActorAgent,
			ev.TargetID, ev.TargetUPN, ev.RequestID, ev.CorrelationID, ev.TAPMethodID, details)
		for i := range row {
			row[i] = neutralise(row[i])
		}
		return w.Write(row)
	})
	w.Flush()
	if ferr := bw.Flush(); err == nil {
		err = ferr
	}
	if err != nil {
		// Headers are gone; all we can do is log and cut the stream short.
		h.log.Error("audit export interrupted", "err", err)
	}
	return nil
}

// neutralise stops spreadsheet formula injection: a cell that starts with
// = + - @ (or a tab/CR that some spreadsheets skip) is prefixed with '.
func neutralise(s string) string {
	if s == "" {
		return s
	}
	switch s[0] {
	case '=', '+', '-', '@', '\t', '\r':
		return "'" + s
	}
	return s
}
