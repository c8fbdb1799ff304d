package views

import (
	"fmt"
	"net/url"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/tapdesk/tapdesk"
)

// ReportsPage is the auditor's reports page.
type ReportsPage struct {
	From, To string            // the period fields as typed (or as the period defaulted)
	Errors   map[string]string // field -> what is wrong with it
	Message  string
	Now      time.Time // the presets count back from it
	Report   tapdesk.Report
	Charts   []Chart
}

// ChartTable is a chart's numbers: the table beside it and, cell for cell,
// its CSV export.
type ChartTable struct {
	Head []string
	Rows []ChartRow
}

// ChartRow is one row of a chart's table; Href, if set, links its first
// cell to the audit events behind it.
type ChartRow struct {
	Cells []string
	Href  string
}

// ChartLink is a link to the filtered audit list behind a chart.
type ChartLink struct{ Label, Href string }

// Chart is one chart of the reports page: bars drawn as SVG, the same
// numbers in a table, links to the audit events behind it and its CSV.
type Chart struct {
	ID, Title string
	// Desc says in one sentence what the chart shows (the SVG's <desc>).
	Desc  string
	Bars  []tapdesk.ReportBar
	Table ChartTable
	Audit []ChartLink
	CSV   string
	// Note is said under the title (what is counted, and how).
	Note string
}

// reportTime is how times are written in the reports' tables and CSVs.
const reportTime = "2006-01-02 15:04 UTC"

// ReportCharts builds the page's charts from the report, in page order.
func ReportCharts(r tapdesk.Report) []Chart {
	p := r.Period
	audit := func(label string, act tapdesk.Activity, extra ...string) ChartLink {
		q := url.Values{}
		if act != "" {
			q.Set("activity", string(act))
		}
		q.Set("from", p.From.Format(tapdesk.AuditFilterTimeLayout))
		q.Set("to", p.To.Format(tapdesk.AuditFilterTimeLayout))
		for i := 0; i+1 < len(extra); i += 2 {
			q.Set(extra[i], extra[i+1])
		}
		return ChartLink{Label: label, Href: "/audit?" + q.Encode()}
	}
	csv := func(id string) string {
		q := url.Values{}
		q.Set("from", p.From.Format(tapdesk.AuditFilterTimeLayout))
		q.Set("to", p.To.Format(tapdesk.AuditFilterTimeLayout))
		return "/reports/" + id + ".csv?" + q.Encode()
	}
	counted := func(head1, head2 string, bars []tapdesk.ReportBar, link func(b tapdesk.ReportBar) string) ChartTable {
		t := ChartTable{Head: []string{head1, head2}}
		for _, b := range bars {
			row := ChartRow{Cells: []string{b.Label, b.Text}}
			if link != nil {
				row.Href = link(b)
			}
			t.Rows = append(t.Rows, row)
		}
		return t
	}
	filings := func(fs []tapdesk.ReportFiling, why bool) ChartTable {
		t := ChartTable{Head: []string{"Filed", "Request", "Target", "Agent", "Outcome"}}
		if why {
			t.Head = append(t.Head, "Why privileged")
		}
		for _, f := range fs {
			cells := []string{f.FiledAt.UTC().Format(reportTime), f.RequestID, f.TargetUPN, actorLabel(f.Agent), string(f.Outcome)}
			if why {
				cells = append(cells, f.Why)
			}
			t.Rows = append(t.Rows, ChartRow{Cells: cells, Href: "/audit?" + url.Values{"request": {f.RequestID}}.Encode()})
		}
		return t
	}
	filed := audit("Requests filed in this period", tapdesk.ActRequestFiled, "result", "success")
	var charts []Chart

	issued := 0.0
	for _, b := range r.IssuedPerWeek {
		issued += b.Value
	}
	charts = append(charts, Chart{ID: "issued-per-week", Title: "Passes issued per week",
		Desc: fmt.Sprintf("%s passes issued in %d weeks%s.", num(issued), len(r.IssuedPerWeek), most(r.IssuedPerWeek, "the most in the")),
		Bars: r.IssuedPerWeek, Note: "Weeks start on Monday (UTC). Counted from the successful issue events in the period.",
		Table: counted("Week", "Passes issued", r.IssuedPerWeek, nil),
		Audit: []ChartLink{audit("Passes issued in this period", tapdesk.ActIssueAttempt, "result", "success")}})

	charts = append(charts, Chart{ID: "outcomes", Title: "Requests by outcome",
		Desc: fmt.Sprintf("%d requests filed%s.", r.Filed, most(r.Outcomes, "most of them")),
		Bars: r.Outcomes, Note: "Requests filed in the period, where their own audit events leave them now.",
		Table: counted("Outcome", "Requests", r.Outcomes, nil), Audit: []ChartLink{filed}})

	var timeBars []tapdesk.ReportBar
	times := ChartTable{Head: []string{"Span", "Requests", "Median (minutes)", "90th percentile (minutes)"}}
	for _, t := range r.Times {
		if t.N == 0 {
			times.Rows = append(times.Rows, ChartRow{Cells: []string{t.Label, "0", "", ""}})
			continue
		}
		timeBars = append(timeBars,
			tapdesk.ReportBar{Label: t.Label + ", median", Value: t.Median.Minutes(), Text: tapdesk.FormatReportDuration(t.Median)},
			tapdesk.ReportBar{Label: t.Label + ", 90th percentile", Value: t.P90.Minutes(), Text: tapdesk.FormatReportDuration(t.P90)})
		times.Rows = append(times.Rows, ChartRow{Cells: []string{t.Label, strconv.Itoa(t.N), minutes(t.Median), minutes(t.P90)}})
	}
	timesDesc := "No request filed in the period was decided or issued."
	if len(timeBars) > 0 {
		timesDesc = ""
		for _, b := range timeBars {
			timesDesc += b.Label + ": " + b.Text + ". "
		}
	}
	charts = append(charts, Chart{ID: "times", Title: "Time from filing to decision and to issue", Desc: timesDesc, Bars: timeBars,
		Note:  "Requests filed in the period. The decision is the approval that made the request approved, or the denial.",
		Table: times, Audit: []ChartLink{filed, audit("Approvals in this period", tapdesk.ActApprove)}})

	denied := 0.0
	for _, b := range r.Denials {
		denied += b.Value
	}
	charts = append(charts, Chart{ID: "denials", Title: "Denials by reason",
		Desc: fmt.Sprintf("%s denials%s.", num(denied), most(r.Denials, "the most often")),
		Bars: r.Denials, Note: fmt.Sprintf("Denials in the period. Reasons that differ only in case, spacing or punctuation count as one; the %d most frequent are named, the rest are Other.", tapdesk.ReportTopN),
		Table: counted("Reason", "Denials", r.Denials, nil), Audit: []ChartLink{audit("Denials in this period", tapdesk.ActDeny)}})

	actorLink := func(act tapdesk.Activity) func(b tapdesk.ReportBar) string {
		return func(b tapdesk.ReportBar) string {
			if b.Key == "" {
				return ""
			}
			return audit("", act, "actor", b.Key).Href
		}
	}
	charts = append(charts, Chart{ID: "agents", Title: "Requests per agent",
		Desc: fmt.Sprintf("%d agents filed requests%s.", countKeyed(r.Agents), most(r.Agents, "the most by")),
		Bars: r.Agents, Note: fmt.Sprintf("Requests filed in the period; the %d agents who filed the most are named.", tapdesk.ReportTopN),
		Table: counted("Agent", "Requests", r.Agents, actorLink(tapdesk.ActRequestFiled)), Audit: []ChartLink{filed}})
	charts = append(charts, Chart{ID: "approvers", Title: "Decisions per approver",
		Desc: fmt.Sprintf("%d approvers decided%s.", countKeyed(r.Approvers), most(r.Approvers, "the most by")),
		Bars: r.Approvers, Note: fmt.Sprintf("Approvals and denials in the period; the %d approvers who decided the most are named.", tapdesk.ReportTopN),
		Table: counted("Approver", "Decisions", r.Approvers, actorLink("")),
		Audit: []ChartLink{audit("Approvals in this period", tapdesk.ActApprove), audit("Denials in this period", tapdesk.ActDeny)}})

	split := func(yes int, yesLabel, noLabel string) []tapdesk.ReportBar {
		return []tapdesk.ReportBar{
			{Label: yesLabel, Value: float64(yes), Text: strconv.Itoa(yes)},
			{Label: noLabel, Value: float64(r.Filed - yes), Text: strconv.Itoa(r.Filed - yes)},
		}
	}
	charts = append(charts, Chart{ID: "privileged", Title: "Privileged targets",
		Desc:  fmt.Sprintf("%d of %d requests were for privileged targets.", len(r.Privileged), r.Filed),
		Bars:  split(len(r.Privileged), "Privileged targets", "Other targets"),
		Note:  "Requests filed in the period for a target that needed two approvers (directory roles, privileged groups or tapdesk roles, as recorded when the request was filed).",
		Table: filings(r.Privileged, true), Audit: []ChartLink{filed}})
	charts = append(charts, Chart{ID: "out-of-hours", Title: "Requests filed out of hours",
		Desc:  fmt.Sprintf("%d of %d requests were filed outside the working hours (%s).", len(r.OutOfHours), r.Filed, r.Hours),
		Bars:  split(len(r.OutOfHours), "Out of hours", "In working hours"),
		Note:  "Requests filed in the period outside the working hours " + r.Hours + " (TAPDESK_WORKING_HOURS).",
		Table: filings(r.OutOfHours, false), Audit: []ChartLink{filed}})
	for i := range charts {
		charts[i].CSV = csv(charts[i].ID)
	}
	return charts
}

// ReportChart is the chart with that id, for its CSV.
func ReportChart(r tapdesk.Report, id string) (Chart, bool) {
	for _, c := range ReportCharts(r) {
		if c.ID == id {
			return c, true
		}
	}
	return Chart{}, false
}

func actorLabel(a tapdesk.Actor) string {
	switch {
	case a.Name != "" && a.UPN != "":
		return a.Name + " (" + a.UPN + ")"
	case a.UPN != "":
		return a.UPN
	}
	return a.Name
}

func num(v float64) string { return strconv.FormatFloat(v, 'f', -1, 64) }

func minutes(d time.Duration) string { return strconv.FormatFloat(d.Minutes(), 'f', 1, 64) }

func countKeyed(bs []tapdesk.ReportBar) int {
	n := 0
	for _, b := range bs {
		if b.Key != "" {
			n++
		}
	}
	return n
}

// most names the largest bar: ", <lead> <label> (<value>)"; "" if all are 0.
func most(bs []tapdesk.ReportBar, lead string) string {
	best := -1
	for i, b := range bs {
		if b.Value > 0 && (best < 0 || b.Value > bs[best].Value) {
			best = i
		}
	}
	if best < 0 {
		return ""
	}
	return fmt.Sprintf(", %s %s (%s)", lead, bs[best].Label, bs[best].Text)
}

// The SVG's geometry: a 320-unit wide drawing (it scales to the column, a
// 375 px phone shows it at about its own size), one row per bar: the label
// above, the bar below it, its value after the bar.
const (
	chartWidth    = 320
	chartBarMax   = 250
	chartRowH     = 36
	chartLabelMax = 46 // characters shown in the drawing; the table has all
)

type chartRow struct {
	Label, Value, Class string
	LabelY, BarY, W, VX int
}

func chartRows(c Chart) []chartRow {
	top := 0.0
	for _, b := range c.Bars {
		top = max(top, b.Value)
	}
	var out []chartRow
	for i, b := range c.Bars {
		w := 0
		if top > 0 {
			w = int(b.Value / top * chartBarMax)
		}
		if b.Value > 0 {
			w = max(w, 2)
		}
		label := b.Label
		if utf8.RuneCountInString(label) > chartLabelMax {
			label = string([]rune(label)[:chartLabelMax-1]) + "…"
		}
		class := "chart-bar"
		if c.ID == "outcomes" {
			class += " bar-" + b.Key
		}
		out = append(out, chartRow{Label: label, Value: b.Text, Class: class,
			LabelY: i*chartRowH + 13, BarY: i*chartRowH + 18, W: w, VX: w + 6})
	}
	return out
}

func chartViewBox(c Chart) string {
	return fmt.Sprintf("0 0 %d %d", chartWidth, max(len(c.Bars)*chartRowH, chartRowH))
}

// reportField is one of the period's fields.
type reportField struct{ Name, Label, Value, Error string }

func (p ReportsPage) fields() []reportField {
	return []reportField{{"from", "From", p.From, p.Errors["from"]}, {"to", "To", p.To, p.Errors["to"]}}
}

func (p ReportsPage) presetURL(span time.Duration) string {
	q := url.Values{}
	q.Set("from", p.Now.Add(-span).UTC().Format(tapdesk.AuditFilterTimeLayout))
	return "/reports?" + q.Encode()
}
