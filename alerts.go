package tapdesk

import (
	"cmp"
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"time"
)

// AlertRule names one pattern the security team is alerted to. The names
// are the values of the alerts metric's rule label: fixed, never a person.
type AlertRule string

const (
	AlertFilingBurst          AlertRule = "filing_burst"
	AlertPairDecisions        AlertRule = "pair_decisions"
	AlertPrivilegedOutOfHours AlertRule = "privileged_out_of_hours"
	AlertDispute              AlertRule = "dispute"
	AlertOutsidePass          AlertRule = "outside_pass"
	AlertAuditFailure         AlertRule = "audit_failure"
	AlertThreatModeOff        AlertRule = "threat_mode_off"
	AlertOutsideScanFailing   AlertRule = "outside_scan_failing"
)

// AlertRules are every rule, in the order they are listed.
func AlertRules() []AlertRule {
	return []AlertRule{AlertFilingBurst, AlertPairDecisions, AlertPrivilegedOutOfHours, AlertDispute, AlertOutsidePass, AlertAuditFailure, AlertThreatModeOff, AlertOutsideScanFailing}
}

// Title is the rule as people read it (mail subjects, the alerts page).
func (r AlertRule) Title() string {
	switch r {
	case AlertFilingBurst:
		return "Many requests from one agent"
	case AlertPairDecisions:
		return "One approver deciding one agent's requests"
	case AlertPrivilegedOutOfHours:
		return "Privileged target out of hours"
	case AlertDispute:
		return "\"This wasn't me\" report"
	case AlertOutsidePass:
		return "Pass made outside tapdesk"
	case AlertAuditFailure:
		return "Audit trail failed its check"
	case AlertThreatModeOff:
		return "Heightened-threat mode switched off"
	case AlertOutsideScanFailing:
		return "Passes made outside tapdesk not looked for"
	}
	return string(r)
}

// Defaults of the thresholds (TAPDESK_ALERT_FILINGS_PER_HOUR,
// TAPDESK_ALERT_PAIR_DECISIONS_PER_WEEK): a busy agent files a few
// requests an hour; ten in one hour is a script or a social engineer
// working a list. Ten decisions a week from one approver on one agent's
// requests is a pair that may be waving each other through.
const (
	DefaultAlertFilingsPerHour       = 10
	DefaultAlertPairDecisionsPerWeek = 10
)

// The windows the count rules look back over.
const (
	AlertFilingWindow = time.Hour
	AlertPairWindow   = 7 * 24 * time.Hour
)

// AlertBatch is how many audit events one evaluation reads and one
// transaction advances the cursor over.
const AlertBatch = 500

// AlertThresholds are the count rules' limits: an alert is raised when a
// count goes above them.
type AlertThresholds struct {
	FilingsPerHour       int
	PairDecisionsPerWeek int
}

// DefaultAlertThresholds are the thresholds when none are set.
func DefaultAlertThresholds() AlertThresholds {
	return AlertThresholds{FilingsPerHour: DefaultAlertFilingsPerHour, PairDecisionsPerWeek: DefaultAlertPairDecisionsPerWeek}
}

// OrDefaults fills the thresholds not set with the defaults.
func (th AlertThresholds) OrDefaults() AlertThresholds {
	def := DefaultAlertThresholds()
	th.FilingsPerHour = cmp.Or(th.FilingsPerHour, def.FilingsPerHour)
	th.PairDecisionsPerWeek = cmp.Or(th.PairDecisionsPerWeek, def.PairDecisionsPerWeek)
	return th
}

// CheckAlertThreshold refuses a threshold below 1 (every filing would be
// an alert) for the setting named env.
func CheckAlertThreshold(env string, n int) error {
	if n < 1 {
		return Titledf(EINVALID, "Setting not valid", "%s must be a whole number of 1 or more (an alert is raised when a count goes above it), not %d.", env, n)
	}
	return nil
}

// How an alert's mail goes out (Alert.Mail).
const (
	// AlertMailQueued: mailed to the security addresses through the outbox.
	AlertMailQueued = "queued"
	// AlertMailByDispute: the dispute itself mailed the security addresses
	// the moment it was made (the dispute alert); a second mail minutes
	// later would say nothing new.
	AlertMailByDispute = "dispute_mail"
	// AlertMailNoRecipients: TAPDESK_SECURITY_EMAILS is empty.
	AlertMailNoRecipients = "no_recipients"
)

// AlertMailPlan says how an alert of rule is mailed, given how many
// security addresses there are.
func AlertMailPlan(rule AlertRule, recipients int) string {
	switch {
	case rule == AlertDispute:
		return AlertMailByDispute
	case recipients == 0:
		return AlertMailNoRecipients
	}
	return AlertMailQueued
}

// AlertMailNote is the mail status as auditors read it.
func AlertMailNote(status string) string {
	switch status {
	case AlertMailQueued:
		return "Mailed to the security team"
	case AlertMailByDispute:
		return "Mailed to the security team with the dispute"
	case AlertMailNoRecipients:
		return "Not mailed: TAPDESK_SECURITY_EMAILS is empty"
	}
	return status
}

// Alert is one raised alert. Key makes it unique: one alert per rule and
// subject and window (or per event), however many instances evaluate the
// trail and however often.
type Alert struct {
	ID      int64
	Rule    AlertRule
	Key     string
	Subject string // who or what: the agent, the pair, the target
	Summary string // what happened, one sentence
	// Seq and At are the audit event that raised it and when it happened.
	Seq       int64
	At        time.Time
	RequestID string
	// Evidence is the local path in tapdesk that shows the events behind
	// it (a request's page or a filtered audit list).
	Evidence string
	Mail     string // AlertMailQueued, ...
	RaisedAt time.Time
}

// AlertInput is what one evaluation looks at: the new events since the
// cursor, and for the count rules the earlier events in their windows.
type AlertInput struct {
	New []Event // seq order
	// Filings and Decisions are the filing and decision events from the
	// count windows before New's first event up to New's last (they may
	// include New's own); any order.
	Filings   []Event
	Decisions []Event
	// Requesters are the agents of the requests in Decisions, by request id.
	Requesters map[string]Actor
}

// EvaluateAlerts lists the alerts the new events raise, each key once, in
// the order of the events that raised them.
func EvaluateAlerts(in AlertInput, th AlertThresholds, hours WorkingHours) []Alert {
	var out []Alert
	seen := map[string]bool{}
	add := func(a Alert) {
		if !seen[a.Key] {
			seen[a.Key] = true
			out = append(out, a)
		}
	}
	filings := sortedEvents(in.Filings)
	decisions := sortedEvents(in.Decisions)
	for _, ev := range in.New {
		switch {
		case ev.Activity == ActRequestFiled && ev.Result != ResultFailure:
			if a, ok := filingBurst(ev, filings, th.FilingsPerHour); ok {
				add(a)
			}
			if a, ok := privilegedOutOfHours(ev, hours); ok {
				add(a)
			}
		case (ev.Activity == ActApprove || ev.Activity == ActDeny) && ev.Result != ResultFailure:
			if a, ok := pairDecisions(ev, decisions, in.Requesters, th.PairDecisionsPerWeek); ok {
				add(a)
			}
		case ev.Activity == ActDispute && ev.Result != ResultFailure:
			add(Alert{Rule: AlertDispute, Key: eventKey(AlertDispute, cmp.Or(ev.RequestID, strconv.FormatInt(ev.Seq, 10))),
				Subject: cmp.Or(ev.TargetUPN, ev.TargetID), Seq: ev.Seq, At: ev.Time, RequestID: ev.RequestID,
				Summary: fmt.Sprintf("%s reported that a pass requested for %s was not asked for by them (\"This wasn't me\"); the request was stopped.",
					personName(ev.Actor), cmp.Or(ev.TargetUPN, ev.TargetID)),
				Evidence: evidenceFor(ev)})
		case ev.Activity == ActOutsidePassFound:
			add(outsidePass(ev))
		case ev.Activity == ActThreatModeChanged && isThreatSwitchOff(ev):
			add(threatModeOff(ev))
		case ev.Activity == ActOutsideScanFailing:
			add(outsideScanFailing(ev))
		case AuditAlarm(ev.Activity, ev.Result):
			add(Alert{Rule: AlertAuditFailure, Key: eventKey(AlertAuditFailure, strconv.FormatInt(ev.Seq, 10)),
				Subject: "audit trail", Seq: ev.Seq, At: ev.Time, RequestID: ev.RequestID,
				Summary: fmt.Sprintf("%s: %s (checked by %s). Follow the runbook: the trail may have been altered.",
					ev.Activity, cmp.Or(ev.Reason, "no reason recorded"), personName(ev.Actor)),
				Evidence: evidenceFor(ev)})
		}
	}
	return out
}

// filingBurst: more than limit filings by ev's agent in the hour up to ev.
// One alert per agent and clock hour, so a long burst is raised hourly.
func filingBurst(ev Event, filings []Event, limit int) (Alert, bool) {
	agent := actorKey(ev.Actor)
	if agent == "" || limit < 1 {
		return Alert{}, false
	}
	from := ev.Time.Add(-AlertFilingWindow)
	n := 0
	for _, f := range filings {
		if f.Seq <= ev.Seq && f.Time.After(from) && actorKey(f.Actor) == agent && f.Result != ResultFailure {
			n++
		}
	}
	if n <= limit {
		return Alert{}, false
	}
	hour := ev.Time.UTC().Truncate(time.Hour)
	return Alert{Rule: AlertFilingBurst, Key: fmt.Sprintf("%s|%s|%s", AlertFilingBurst, agent, hour.Format(time.RFC3339)),
		Subject: cmp.Or(ev.Actor.UPN, ev.Actor.ObjectID), Seq: ev.Seq, At: ev.Time,
		Summary: fmt.Sprintf("%s filed %d requests within one hour (the alert threshold is %d).", personName(ev.Actor), n, limit),
		Evidence: auditHref(url.Values{"activity": {string(ActRequestFiled)}, "actor": {cmp.Or(ev.Actor.UPN, ev.Actor.ObjectID)}},
			from, ev.Time)}, true
}

// pairDecisions: more than limit decisions by ev's approver on requests of
// one agent in the week up to ev. One alert per pair and ISO week.
func pairDecisions(ev Event, decisions []Event, requesters map[string]Actor, limit int) (Alert, bool) {
	agent, ok := requesters[ev.RequestID]
	approver := actorKey(ev.Actor)
	if !ok || approver == "" || actorKey(agent) == "" || limit < 1 {
		return Alert{}, false
	}
	from := ev.Time.Add(-AlertPairWindow)
	n := 0
	for _, d := range decisions {
		if d.Seq <= ev.Seq && d.Time.After(from) && actorKey(d.Actor) == approver && d.Result != ResultFailure &&
			actorKey(requesters[d.RequestID]) == actorKey(agent) {
			n++
		}
	}
	if n <= limit {
		return Alert{}, false
	}
	year, week := ev.Time.UTC().ISOWeek()
	return Alert{Rule: AlertPairDecisions, Key: fmt.Sprintf("%s|%s|%s|%d-W%02d", AlertPairDecisions, actorKey(agent), approver, year, week),
		Subject: cmp.Or(ev.Actor.UPN, ev.Actor.ObjectID) + " on requests of " + cmp.Or(agent.UPN, agent.ObjectID), Seq: ev.Seq, At: ev.Time,
		Summary: fmt.Sprintf("%s decided %d requests filed by %s within seven days (the alert threshold is %d).",
			personName(ev.Actor), n, personName(agent), limit),
		Evidence: auditHref(url.Values{"actor": {cmp.Or(ev.Actor.UPN, ev.Actor.ObjectID)}}, from, ev.Time)}, true
}

// FiledPrivileged reports whether a filing event records a privileged
// target: its "privileged" detail, or for events written before that
// detail, the two approvals only privileged targets needed then.
func FiledPrivileged(ev Event) bool {
	if p, ok := ev.Details["privileged"]; ok {
		return p == "true"
	}
	n, _ := strconv.Atoi(ev.Details["approvals_required"])
	return n > 1
}

func privilegedOutOfHours(ev Event, hours WorkingHours) (Alert, bool) {
	if hours.IsZero() {
		var err error
		if hours, err = ParseWorkingHours(DefaultWorkingHours); err != nil {
			return Alert{}, false
		}
	}
	if !FiledPrivileged(ev) || hours.Contains(ev.Time) {
		return Alert{}, false
	}
	why := ""
	if r := ev.Details["privilege_reason"]; r != "" {
		why = " (" + r + ")"
	}
	return Alert{Rule: AlertPrivilegedOutOfHours, Key: eventKey(AlertPrivilegedOutOfHours, cmp.Or(ev.RequestID, strconv.FormatInt(ev.Seq, 10))),
		Subject: cmp.Or(ev.TargetUPN, ev.TargetID), Seq: ev.Seq, At: ev.Time, RequestID: ev.RequestID,
		Summary: fmt.Sprintf("%s filed a request for the privileged target %s%s at %s, outside the working hours (%s).",
			personName(ev.Actor), cmp.Or(ev.TargetUPN, ev.TargetID), why, ev.Time.In(hours.Zone).Format("Mon 15:04 MST"), hours),
		Evidence: evidenceFor(ev)}, true
}

// outsidePass reads what the outside-pass job recorded: the target, who
// created the pass in Entra and when.
func outsidePass(ev Event) Alert {
	target := cmp.Or(ev.TargetUPN, ev.Details["target_upn"], ev.Details["target"], ev.TargetID)
	by := cmp.Or(ev.Details["created_by"], ev.Details["initiated_by"], ev.Details["creator"], "someone")
	when := cmp.Or(ev.Details["created_at"], ev.Details["created"], ev.Details["when"], ev.Time.UTC().Format("2006-01-02 15:04 UTC"))
	return Alert{Rule: AlertOutsidePass, Key: eventKey(AlertOutsidePass, strconv.FormatInt(ev.Seq, 10)),
		Subject: target, Seq: ev.Seq, At: ev.Time,
		Summary: fmt.Sprintf("A Temporary Access Pass for %s was created outside tapdesk by %s at %s, without a request, a caller check or an approval.",
			target, by, when),
		Evidence: evidenceFor(ev)}
}

// threatModeOff: the switch off is what a stolen admin session does
// first, so the security team hears of every one, with who and why.
func threatModeOff(ev Event) Alert {
	return Alert{Rule: AlertThreatModeOff, Key: eventKey(AlertThreatModeOff, strconv.FormatInt(ev.Seq, 10)),
		Subject: cmp.Or(ev.Actor.UPN, ev.Actor.Name, ev.Actor.ObjectID, "someone"), Seq: ev.Seq, At: ev.Time,
		Summary: fmt.Sprintf("%s switched heightened-threat mode off, giving the reason \"%s\": passes need their usual approvers again, "+
			"are no longer held to one-time use and the shortest lifetime, and privileged users can get them. "+
			"Confirm with them on a known number that it was them.", personName(ev.Actor), ev.Reason),
		Evidence: evidenceFor(ev)}
}

// outsideScanFailing: the outside-pass job has not read Entra's directory
// audit log for OutsideScanFailingRuns runs. Keyed by where the shared
// cursor stood, so instances failing on the same stuck cursor raise one
// alert, and a new failure after the log was read again raises a new one.
// Without a cursor (never read, or not readable) the streak's start keys
// it, so a later streak is not taken for one already raised.
func outsideScanFailing(ev Event) Alert {
	key := ev.Details["read_up_to"]
	if key == "" {
		key = "never read|since " + cmp.Or(ev.Details["failing_since"], ev.Time.UTC().Format(time.RFC3339))
	}
	return Alert{Rule: AlertOutsideScanFailing, Key: eventKey(AlertOutsideScanFailing, key),
		Subject: "Entra's directory audit log", Seq: ev.Seq, At: ev.Time,
		Summary: cmp.Or(ev.Reason, "Entra's directory audit log could not be read."), Evidence: evidenceFor(ev)}
}

// evidenceFor is the request's page when there is one, else the audit
// trail from the event down.
func evidenceFor(ev Event) string {
	if ev.RequestID != "" {
		return "/requests/" + url.PathEscape(ev.RequestID)
	}
	return "/audit?before=" + strconv.FormatInt(ev.Seq+1, 10)
}

func auditHref(q url.Values, from, to time.Time) string {
	q.Set("from", from.UTC().Format(AuditFilterTimeLayout))
	// The filter's To is exclusive and by the minute: the minute after.
	q.Set("to", to.UTC().Truncate(time.Minute).Add(time.Minute).Format(AuditFilterTimeLayout))
	return "/audit?" + q.Encode()
}

func eventKey(rule AlertRule, id string) string { return string(rule) + "|" + id }

func actorKey(a Actor) string { return cmp.Or(a.ObjectID, a.UPN) }

func personName(a Actor) string {
	switch {
	case a.Name != "" && a.UPN != "":
		return a.Name + " (" + a.UPN + ")"
	case a.Name != "":
		return a.Name
	}
	return cmp.Or(a.UPN, a.ObjectID, "someone")
}

func sortedEvents(evs []Event) []Event {
	out := slices.Clone(evs)
	slices.SortFunc(out, func(a, b Event) int { return cmp.Compare(a.Seq, b.Seq) })
	return out
}

// AlertPageGone is said when the alerts page is asked for a page that is
// not one: the list starts again at the newest.
const AlertPageGone = "That page of alerts does not exist. The list below starts again at the newest alerts."

// AlertPageSize is how many alerts the alerts page lists at once;
// DashboardAlerts how many the auditor's dashboard shows.
const (
	AlertPageSize   = 50
	DashboardAlerts = 5
)

// Description says when rule raises an alert, with the thresholds and
// working hours in force.
func (r AlertRule) Description(th AlertThresholds, hours WorkingHours) string {
	switch r {
	case AlertFilingBurst:
		return fmt.Sprintf("One agent files more than %d requests within an hour.", th.FilingsPerHour)
	case AlertPairDecisions:
		return fmt.Sprintf("One approver decides more than %d requests of the same agent within seven days.", th.PairDecisionsPerWeek)
	case AlertPrivilegedOutOfHours:
		h := DefaultWorkingHours
		if !hours.IsZero() {
			h = hours.String()
		}
		return fmt.Sprintf("A request for a privileged target is filed outside the working hours (%s).", h)
	case AlertDispute:
		return "The target or their manager reports \"This wasn't me\"; the dispute's own mail is the security team's mail."
	case AlertOutsidePass:
		return "A Temporary Access Pass is found in Entra that tapdesk did not issue."
	case AlertAuditFailure:
		return "A check of the audit trail fails, or tampering is detected."
	case AlertThreatModeOff:
		return "An administrator switches heightened-threat mode off: every guard it raised is down again."
	case AlertOutsideScanFailing:
		return fmt.Sprintf("Entra's directory audit log cannot be read in %d sweeps in a row (a missing AuditLog.Read.All permission, "+
			"an outage, throttling), so passes made outside tapdesk go unseen.", OutsideScanFailingRuns)
	}
	return ""
}

// ParseAlertRule reads a rule filter ("" is every rule).
func ParseAlertRule(s string) (AlertRule, error) {
	if s == "" || slices.Contains(AlertRules(), AlertRule(s)) {
		return AlertRule(s), nil
	}
	return "", Titledf(EINVALID, "Unknown alert rule", "%q is not an alert rule. Pick one from the list, or any rule.", s)
}

// TrailCursor is where a reader of the audit trail (the alert job) has
// got to: Seq and the Mac the event there had when it was read, and
// whether the trail still holds that event with that mac. When it does
// not, someone cut the trail's tail (new events reuse the seqs), and the
// reader would otherwise sit above the trail, blind to what comes next.
type TrailCursor struct {
	Seq    int64
	Mac    string
	Head   int64 // the trail's last seq now
	Intact bool
}

// TrailCutAlert is the audit_failure alert raised, at now, when the trail
// no longer reaches where the alert job had read to. Its key names the
// lost event by its mac, so a cut is raised once however many instances
// see it.
func TrailCutAlert(c TrailCursor, now time.Time) Alert {
	mac := c.Mac
	if len(mac) > 16 {
		mac = mac[:16]
	}
	return Alert{Rule: AlertAuditFailure, Key: eventKey(AlertAuditFailure, "cut|"+strconv.FormatInt(c.Seq, 10)+"|"+mac),
		Subject: "audit trail", Seq: c.Seq, At: now,
		Summary: fmt.Sprintf("The audit trail no longer reaches where alerts had read to (seq %d): its last event is now seq %d, "+
			"or the event at seq %d is not the one read. Events were removed or replaced; follow the runbook: the trail may have been altered.",
			c.Seq, c.Head, c.Seq),
		Evidence: "/audit?before=" + strconv.FormatInt(c.Head+1, 10)}
}

// isThreatSwitchOff says ev switched heightened-threat mode off.
func isThreatSwitchOff(ev Event) bool {
	on, ok := ThreatSwitchOf(ev)
	return ok && !on
}
