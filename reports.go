package tapdesk

import (
	"cmp"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
)

// The auditor's reports: what the audit trail says happened over a period.
// The store reads the events and counts what SQL counts well; the rules
// here shape that into the numbers the page and its CSV exports show
// (periods, weeks, outcomes from the replayed trail, median and p90,
// grouping of free-text reasons, top N plus "other").
//
// Numbers come from the signed events, not from the requests table, which
// anyone with the database file can edit. Two kinds of numbers:
//   - about events in the period (passes issued, denials, decisions by
//     approver): the audit list filtered to that activity and period shows
//     exactly the events counted;
//   - about requests filed in the period (outcomes, times, agents,
//     privileged targets, out of hours): each request's own events, as far
//     as the report is read, replayed through the state machine that
//     verify uses.

// ReportDefaultSpan is the period a report covers when none is chosen.
const ReportDefaultSpan = 30 * 24 * time.Hour

// ReportMaxSpan bounds a report's period, so one page never reads years of
// the trail.
const ReportMaxSpan = 366 * 24 * time.Hour

// ReportTopN is how many agents, approvers or denial reasons a chart names
// before it folds the rest into "Other".
const ReportTopN = 8

// ReportOther labels what ReportTopN leaves out.
const ReportOther = "Other"

// ReportPresets are the report page's ready-made periods, ending now.
func ReportPresets() []AuditPreset {
	return []AuditPreset{{"Last 7 days", 7 * 24 * time.Hour}, {"Last 30 days", 30 * 24 * time.Hour}, {"Last 90 days", 90 * 24 * time.Hour}}
}

// ReportPeriod is the half-open interval [From, To) a report covers, UTC.
type ReportPeriod struct{ From, To time.Time }

// ReportSpanRefusal is said for a period longer than ReportMaxSpan.
const ReportSpanRefusal = "A report covers at most 366 days. Move the From time later or the To time earlier."

// ParseReportPeriod reads the report page's From and To fields as the audit
// page does (ParseAuditTime); an empty To is now, an empty From is
// ReportDefaultSpan before To. errs maps a field ("from", "to") to the
// sentence that says what is wrong with it; none: the period is good.
func ParseReportPeriod(from, to string, now time.Time) (p ReportPeriod, errs map[string]string) {
	var ve ValidationError
	f, okFrom := ParseAuditTime(from)
	if !okFrom {
		ve.Add("from", AuditTimeRefusal("From", from))
	}
	t, okTo := ParseAuditTime(to)
	if !okTo {
		ve.Add("to", AuditTimeRefusal("To", to))
	}
	if t.IsZero() {
		t = now.UTC().Truncate(time.Minute).Add(time.Minute)
	}
	if f.IsZero() {
		f = t.Add(-ReportDefaultSpan)
	}
	if okFrom && okTo {
		switch {
		case !f.Before(t):
			ve.Add("to", AuditRangeRefusal)
		case t.Sub(f) > ReportMaxSpan:
			ve.Add("from", ReportSpanRefusal)
		}
	}
	if e, ok := ve.Err().(*Error); ok {
		errs = e.Fields
	}
	return ReportPeriod{From: f.UTC(), To: t.UTC()}, errs
}

// WeekStart is the Monday 00:00 UTC of t's ISO week.
func WeekStart(t time.Time) time.Time {
	t = t.UTC()
	d := time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC)
	back := (int(d.Weekday()) + 6) % 7 // Monday 0 ... Sunday 6
	return d.AddDate(0, 0, -back)
}

// Weeks are the week starts (WeekStart) the period touches, oldest first.
func (p ReportPeriod) Weeks() []time.Time {
	var out []time.Time
	for w := WeekStart(p.From); w.Before(p.To); w = w.AddDate(0, 0, 7) {
		out = append(out, w)
	}
	return out
}

// Percentile is the nearest-rank p-th percentile (0 < p <= 100) of ds: the
// smallest value at least p percent of them do not exceed. Zero for none.
// Nearest rank, so the figure is always one a request really took.
func Percentile(ds []time.Duration, p float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	rank := int(math.Ceil(p / 100 * float64(len(s))))
	return s[min(max(rank, 1), len(s))-1]
}

// DenialReasonKey groups free-text denial reasons: case, spacing,
// surrounding punctuation and quotes do not make two reasons different.
func DenialReasonKey(reason string) string {
	s := strings.ToLower(strings.Join(strings.Fields(reason), " "))
	return strings.TrimFunc(s, func(r rune) bool { return unicode.IsPunct(r) || unicode.IsSpace(r) })
}

// ReportCount is one counted thing as the store reads it: Key is what the
// audit list filters on (an actor's UPN, a reason, a day), Name what
// people read (empty: Key).
type ReportCount struct {
	Key, Name string
	N         int
}

// ReportFacts are what the store reads for a report over a period.
type ReportFacts struct {
	// IssuedByDay counts successful issue events per UTC day (Key
	// "2006-01-02").
	IssuedByDay []ReportCount
	// Denials counts deny events per reason as written.
	Denials []ReportCount
	// Agents counts filing events per actor; Approvers approve and deny
	// events per actor.
	Agents, Approvers []ReportCount
	// Trails are the events (those ReplayReads reads, in seq order) of each
	// request filed in the period, as far as the report was read.
	Trails [][]Event
}

// ReportBar is one bar of a chart and one row of its table.
type ReportBar struct {
	Label string
	// Value is the length of the bar (a count, or minutes for times);
	// Text is how the value is written.
	Value float64
	Text  string
	// Key, if set, narrows the audit list behind the bar (an actor's UPN).
	Key string
}

// ReportOutcome is a request's outcome as its events leave it.
type ReportOutcome struct {
	State State
	Label string
}

// ReportOutcomes are the outcomes the report counts, in the order shown.
// Approved but not yet issued is its own row: the request is neither
// waiting for a decision nor done.
func ReportOutcomes() []ReportOutcome {
	return []ReportOutcome{
		{StateIssued, "Issued"}, {StateDenied, "Denied"}, {StateExpired, "Expired"},
		{StateCancelled, "Cancelled"}, {StateDisputed, "Disputed"}, {StateFailed, "Failed"},
		{StateRevoked, "Revoked"}, {StatePending, "Pending"}, {StateApproved, "Approved, not yet issued"},
	}
}

// ReportFiling is one request filed in the period, as its events say.
type ReportFiling struct {
	RequestID  string
	FiledAt    time.Time
	Agent      Actor
	TargetUPN  string
	Outcome    State
	DecidedAt  time.Time // when it was approved (last approval) or denied; zero: not decided
	IssuedAt   time.Time // zero: never issued
	Privileged bool      // filed needing two approvers
	Why        string    // what made the target privileged, as the filing recorded it
	OutOfHours bool
}

// ReportTime is a median and p90 of one span of the flow.
type ReportTime struct {
	Label       string
	N           int
	Median, P90 time.Duration
}

// Report is the reports page: every chart's numbers over one period.
type Report struct {
	Period        ReportPeriod
	Hours         string // the working hours, as configured
	Filed         int    // requests filed in the period
	IssuedPerWeek []ReportBar
	Outcomes      []ReportBar
	Times         []ReportTime
	Denials       []ReportBar
	Agents        []ReportBar
	Approvers     []ReportBar
	Privileged    []ReportFiling
	OutOfHours    []ReportFiling
}

// Empty reports whether nothing at all happened in the period.
func (r Report) Empty() bool {
	if r.Filed > 0 || len(r.Denials) > 0 || len(r.Approvers) > 0 {
		return false
	}
	for _, b := range r.IssuedPerWeek {
		if b.Value > 0 {
			return false
		}
	}
	return true
}

// BuildReport shapes what the store read into the report's numbers.
func BuildReport(p ReportPeriod, facts ReportFacts, hours WorkingHours) Report {
	r := Report{Period: p, Hours: hours.String()}
	perWeek := map[time.Time]int{}
	for _, d := range facts.IssuedByDay {
		if day, err := time.Parse(time.DateOnly, d.Key); err == nil {
			perWeek[WeekStart(day)] += d.N
		}
	}
	for _, w := range p.Weeks() {
		n := perWeek[w]
		r.IssuedPerWeek = append(r.IssuedPerWeek, ReportBar{Label: "Week of " + w.Format("2 Jan 2006"), Value: float64(n), Text: strconv.Itoa(n), Key: w.Format(time.DateOnly)})
	}

	outcomes := map[State]int{}
	var toDecision, toIssue []time.Duration
	for _, evs := range facts.Trails {
		f, ok := ReplayFiling(evs, hours)
		if !ok {
			continue
		}
		r.Filed++
		outcomes[f.Outcome]++
		if !f.DecidedAt.IsZero() {
			toDecision = append(toDecision, f.DecidedAt.Sub(f.FiledAt))
		}
		if !f.IssuedAt.IsZero() {
			toIssue = append(toIssue, f.IssuedAt.Sub(f.FiledAt))
		}
		if f.Privileged {
			r.Privileged = append(r.Privileged, f)
		}
		if f.OutOfHours {
			r.OutOfHours = append(r.OutOfHours, f)
		}
	}
	for _, o := range ReportOutcomes() {
		n := outcomes[o.State]
		r.Outcomes = append(r.Outcomes, ReportBar{Label: o.Label, Value: float64(n), Text: strconv.Itoa(n), Key: string(o.State)})
	}
	r.Times = []ReportTime{
		{Label: "Filing to decision", N: len(toDecision), Median: Percentile(toDecision, 50), P90: Percentile(toDecision, 90)},
		{Label: "Filing to issue", N: len(toIssue), Median: Percentile(toIssue, 50), P90: Percentile(toIssue, 90)},
	}

	// The spelling written most often names its group (ties: the first
	// in byte order, so the same trail always reads the same).
	denials := slices.Clone(facts.Denials)
	slices.SortFunc(denials, func(a, b ReportCount) int { return cmp.Or(cmp.Compare(b.N, a.N), cmp.Compare(a.Key, b.Key)) })
	reasons := map[string]*ReportCount{}
	for _, d := range denials {
		k := DenialReasonKey(d.Key)
		if c := reasons[k]; c != nil {
			c.N += d.N
		} else {
			name := strings.Join(strings.Fields(d.Key), " ")
			if name == "" {
				name = "(no reason written)"
			}
			reasons[k] = &ReportCount{Name: name, N: d.N}
		}
	}
	var grouped []ReportCount
	for _, c := range reasons {
		grouped = append(grouped, *c)
	}
	r.Denials = topBars(grouped, ReportTopN, false)
	r.Agents = topBars(facts.Agents, ReportTopN, true)
	r.Approvers = topBars(facts.Approvers, ReportTopN, true)
	return r
}

// topBars orders counts most first (ties by name) and keeps n, folding the
// rest into one ReportOther bar. keyed: the bars keep their keys (actors
// the audit list can filter on).
func topBars(counts []ReportCount, n int, keyed bool) []ReportBar {
	s := slices.Clone(counts)
	slices.SortFunc(s, func(a, b ReportCount) int {
		return cmp.Or(cmp.Compare(b.N, a.N), cmp.Compare(reportName(a), reportName(b)), cmp.Compare(a.Key, b.Key))
	})
	var out []ReportBar
	other := 0
	for i, c := range s {
		if i >= n {
			other += c.N
			continue
		}
		b := ReportBar{Label: reportName(c), Value: float64(c.N), Text: strconv.Itoa(c.N)}
		if keyed {
			b.Key = c.Key
		}
		out = append(out, b)
	}
	if other > 0 {
		out = append(out, ReportBar{Label: ReportOther, Value: float64(other), Text: strconv.Itoa(other)})
	}
	return out
}

func reportName(c ReportCount) string {
	switch {
	case c.Name != "" && c.Key != "" && c.Name != c.Key:
		return c.Name + " (" + c.Key + ")"
	case c.Name != "":
		return c.Name
	case c.Key != "":
		return c.Key
	}
	return "(nobody named)"
}

// ReplayFiling replays one request's events (in seq order) for the
// report. ok is false if they hold no filing event.
func ReplayFiling(evs []Event, hours WorkingHours) (f ReportFiling, ok bool) {
	t := &RequestTrail{}
	for _, ev := range evs {
		before := t.State
		t.Apply(ev)
		if ev.Activity == ActRequestFiled && t.FiledSeq == ev.Seq {
			f.RequestID, f.FiledAt, f.Agent, f.TargetUPN = ev.RequestID, ev.Time, ev.Actor, ev.TargetUPN
			f.Privileged = FiledPrivileged(ev) // not the approval count: threat mode asks two for everyone
			f.Why = privilegeWhy(ev.Details)
		}
		if before != t.State && f.DecidedAt.IsZero() && (t.State == StateApproved || t.State == StateDenied) {
			f.DecidedAt = ev.Time
		}
	}
	if t.FiledSeq == 0 {
		return f, false
	}
	f.Outcome, f.IssuedAt = t.State, t.IssuedAt
	f.OutOfHours = !hours.IsZero() && !hours.Contains(f.FiledAt)
	return f, true
}

// privilegeWhy is what the filing event recorded about the target's
// roles and groups, in words.
func privilegeWhy(d map[string]string) string {
	var parts []string
	for _, k := range []struct{ key, label string }{
		{"target_roles", "directory roles"}, {"target_privileged_groups", "privileged groups"}, {"target_tapdesk_roles", "tapdesk roles"},
	} {
		if v := strings.TrimSpace(d[k.key]); v != "" {
			parts = append(parts, k.label+": "+v)
		}
	}
	return strings.Join(parts, "; ")
}

// FormatReportDuration writes a span of the flow for people: seconds under
// two minutes, minutes under two hours, hours under two days, days beyond.
func FormatReportDuration(d time.Duration) string {
	switch {
	case d < 2*time.Minute:
		return fmt.Sprintf("%d s", int(d.Round(time.Second)/time.Second))
	case d < 2*time.Hour:
		return fmt.Sprintf("%d min", int(d.Round(time.Minute)/time.Minute))
	case d < 48*time.Hour:
		return fmt.Sprintf("%.1f h", d.Hours())
	default:
		return fmt.Sprintf("%.1f days", d.Hours()/24)
	}
}
