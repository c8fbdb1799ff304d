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

// auditFilter reads the filter fields. What was typed is kept as typed for
// the page; a field that is not valid gets its sentence in errs (field name
// -> sentence), never a 500.
func auditFilter(c echo.Context) (vf views.AuditFilter, f store.EventFilter, errs map[string]string) {
	vf = views.AuditFilter{
		From: strings.TrimSpace(c.QueryParam("from")), To: strings.TrimSpace(c.QueryParam("to")), Activity: strings.TrimSpace(c.QueryParam("activity")),
		Actor: strings.TrimSpace(c.QueryParam("actor")), Target: strings.TrimSpace(c.QueryParam("target")),
		Result: c.QueryParam("result"), RequestID: strings.TrimSpace(c.QueryParam("request")),
	}
	f = store.EventFilter{Activity: vf.Activity, Actor: vf.Actor, Target: vf.Target, RequestID: vf.RequestID}
	var ve tapdesk.ValidationError
	var ok bool
	if f.From, ok = tapdesk.ParseAuditTime(vf.From); !ok {
		ve.Add("from", tapdesk.AuditTimeRefusal("From", vf.From))
	}
	if f.To, ok = tapdesk.ParseAuditTime(vf.To); !ok {
		ve.Add("to", tapdesk.AuditTimeRefusal("To", vf.To))
	}
	if !f.From.IsZero() && !f.To.IsZero() && !f.From.Before(f.To) {
		ve.Add("to", tapdesk.AuditRangeRefusal)
	}
	switch vf.Result {
	case "", "success", "failure":
		f.Result = vf.Result
	default:
		ve.Add("result", "Result is success, failure or any.")
	}
	if e, ok := ve.Err().(*tapdesk.Error); ok {
		errs = e.Fields
	}
	return vf, f, errs
}

// firstRefusal is one of errs' sentences in the order the fields appear.
func firstRefusal(errs map[string]string) string {
	for _, k := range []string{"from", "to", "activity", "result"} {
		if msg := errs[k]; msg != "" {
			return msg
		}
	}
	return ""
}

// auditList is GET /audit: a page of events newest first, paged by seq
// (before: older than; after: newer than), with a capped count of all the
// filter selects.
func (h *Handler) auditList(c echo.Context) error {
	vf, f, errs := auditFilter(c)
	now := h.now().UTC()
	page := views.AuditList{Filter: vf, Errors: errs, Now: now}
	if vf.Activity != "" && !tapdesk.KnownActivity(vf.Activity) {
		page.Note = tapdesk.UnknownActivityNote(vf.Activity)
	}
	title := "Audit trail"
	if len(errs) > 0 {
		page.Message = firstRefusal(errs)
		return h.render(c, http.StatusUnprocessableEntity, views.AuditPage(h.page(c, title), page))
	}
	before, after, bad := c.QueryParam("before"), c.QueryParam("after"), false
	if before != "" {
		f.BeforeSeq, _ = strconv.ParseInt(before, 10, 64)
		bad = f.BeforeSeq < 1
	} else if after != "" {
		f.AfterSeq, _ = strconv.ParseInt(after, 10, 64)
		bad = f.AfterSeq < 0
	}
	if bad {
		page.Message = "That page of the audit trail does not exist. The list below starts again at the newest events."
		f.BeforeSeq, f.AfterSeq = 0, 0
	}
	ctx := c.Request().Context()
	// One row past the page says whether there is more that way.
	f.Limit = auditPageSize + 1
	events, err := h.store.Events(ctx, f)
	if err != nil {
		return err
	}
	more := len(events) > auditPageSize
	if more {
		if f.AfterSeq > 0 {
			events = events[1:] // read oldest first: the extra row is the newest
		} else {
			events = events[:auditPageSize]
		}
	}
	page.Events = events
	if len(events) > 0 {
		newest, oldest := events[0].Seq, events[len(events)-1].Seq
		older, newer := more, f.BeforeSeq > 0
		if f.AfterSeq > 0 {
			older, newer = true, more
		}
		// The page came from a link the other way: is anything there
		// still (the trail only grows, but filters can be edited by hand)?
		exists := func(before, after int64) (bool, error) {
			probe := f
			probe.BeforeSeq, probe.AfterSeq, probe.Limit = before, after, 1
			evs, err := h.store.Events(ctx, probe)
			return len(evs) > 0, err
		}
		if older && f.AfterSeq > 0 {
			if older, err = exists(oldest, 0); err != nil {
				return err
			}
		}
		if newer && f.BeforeSeq > 0 {
			if newer, err = exists(0, newest); err != nil {
				return err
			}
		}
		if older {
			page.OlderThan = oldest
		}
		if newer {
			page.NewerThan = newest
		}
	}
	n, err := h.store.CountEvents(ctx, f, tapdesk.AuditCountCap+1)
	if err != nil {
		return err
	}
	page.Count, page.CountCapped = min(n, tapdesk.AuditCountCap), n > tapdesk.AuditCountCap
	return h.render(c, http.StatusOK, views.AuditPage(h.page(c, title), page))
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
		return tapdesk.Titledf(tapdesk.EINVALID, "Export format not known", "The export format must be csv (for Excel) or jsonl (JSON Lines, for a SIEM).")
	}
	_, f, errs := auditFilter(c)
	if len(errs) > 0 {
		return tapdesk.Titledf(tapdesk.EINVALID, "Check the filter", "%s", firstRefusal(errs))
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
