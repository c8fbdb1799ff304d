package handlers

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/tapdesk/tapdesk"
	"github.com/tapdesk/tapdesk/metrics"
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
	for _, layout := range []string{tapdesk.StartLayout, "2006-01-02T15:04:05", time.RFC3339, "2006-01-02"} {
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

// auditExport is GET /audit/export?format=csv|jsonl&...: streamed straight
// from the database, so memory stays flat and the download starts at once
// whatever the size. The export is itself audited first, so it appears in
// what it exports.
func (h *Handler) auditExport(c echo.Context) error {
	format := c.QueryParam("format")
	var contentType string
	switch format {
	case store.FormatCSV:
		contentType = "text/csv; charset=utf-8"
	case store.FormatJSONL:
		contentType = "application/x-ndjson; charset=utf-8"
	default:
		return tapdesk.Errorf(tapdesk.EINVALID, "The export format must be csv (for Excel) or jsonl (JSON Lines, for a SIEM).")
	}
	_, f, err := auditFilter(c)
	if err != nil {
		return err
	}
	q := c.QueryParams()
	q.Del("format")
	h.audit(c, tapdesk.Event{Activity: tapdesk.ActExport, Category: tapdesk.CatAudit,
		Details: map[string]string{"format": format, "filter": q.Encode()}})

	res := c.Response()
	name := "tapdesk-audit-" + h.now().UTC().Format("20060102-150405") + "." + format
	res.Header().Set(echo.HeaderContentType, contentType)
	res.Header().Set(echo.HeaderContentDisposition, `attachment; filename="`+name+`"`)
	res.WriteHeader(http.StatusOK)
	if _, err := h.store.ExportEvents(c.Request().Context(), res, format, f); err != nil {
		// Headers are gone; all we can do is log and cut the stream short.
		h.log.Error("audit export interrupted", "err", err)
	}
	return nil
}

// auditVerify is GET /audit/verify: walk the hash chain with the key and
// say whether it holds, or where and why it breaks. The check is audited
// after it ran, so it does not verify itself.
func (h *Handler) auditVerify(c echo.Context) error {
	start := time.Now()
	rep, err := h.store.VerifyChain(c.Request().Context())
	if err != nil {
		h.metrics.AuditVerified(metrics.VerifyError)
		return err
	}
	if rep.Break != nil || len(rep.Unexplained) > 0 {
		h.metrics.AuditVerified(metrics.VerifyBroken)
	} else {
		h.metrics.AuditVerified(metrics.VerifyOK)
	}
	v := views.AuditVerify{Checked: rep.Checked, FirstSeq: rep.FirstSeq, LastSeq: rep.LastSeq,
		CheckpointSeq: rep.CheckpointSeq, HeadMAC: rep.HeadMAC, Took: time.Since(start).Round(time.Millisecond).String()}
	ev := tapdesk.Event{Activity: tapdesk.ActAuditVerified, Category: tapdesk.CatAudit,
		Details: map[string]string{"checked": strconv.FormatInt(rep.Checked, 10), "head_seq": strconv.FormatInt(rep.LastSeq, 10), "head_mac": rep.HeadMAC}}
	for _, f := range rep.Unexplained {
		v.Unexplained = append(v.Unexplained, f.Detail)
	}
	if n := len(rep.Unexplained); n > 0 && rep.Break == nil {
		ev.Result, ev.Reason = tapdesk.ResultFailure, fmt.Sprintf("%d finding(s) on requests its events do not explain, the first: %s", n, rep.Unexplained[0].Detail)
		h.log.Error("requests do not match the audit trail", "findings", n, "first", rep.Unexplained[0].Detail)
	}
	if b := rep.Break; b != nil {
		v.Broken, v.BreakSeq, v.BreakKind, v.BreakDetail = true, b.Seq, string(b.Kind), b.Detail
		ev.Result, ev.Reason = tapdesk.ResultFailure, fmt.Sprintf("event %d: %s", b.Seq, b.Kind)
		h.log.Error("audit chain does not check out", "seq", b.Seq, "kind", b.Kind, "detail", b.Detail)
	}
	h.audit(c, ev)
	return h.render(c, http.StatusOK, views.AuditVerifyPage(h.page(c, "Audit trail: hash chain"), v))
}
