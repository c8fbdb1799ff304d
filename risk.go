package tapdesk

import (
	"fmt"
	"strings"
	"time"
)

// What an approver is warned about on the request page ("risk at a
// glance"). Handlers gather the facts (Entra, tapdesk's own records); the
// rules and the sentences are here.

// NewAccountAge: an account created this recently is a new account. New
// accounts have no history to check the caller against and are a favourite
// of "I'm the new starter, IT never set me up" calls.
const NewAccountAge = 14 * 24 * time.Hour

// RecentPassWindow: a pass tapdesk issued to the same user this recently is
// worth a second look (passes should be rare; a pattern of them is not).
const RecentPassWindow = 30 * 24 * time.Hour

// GlanceFactsTTL is how long what Entra said about a target (the account,
// its memberships, its methods) is shown again beside their pending
// request without asking Graph: an approver's page and its reloads ask
// about the same target within seconds, at five Graph calls each. It
// informs the approver only: no rule reads it (the reveal reads the target
// afresh before issuing; tapdesk.CheckStillEnoughApprovals).
const GlanceFactsTTL = 15 * time.Second

// DefaultWorkingHours is when the helpdesk normally files requests
// (TAPDESK_WORKING_HOURS); a request filed outside them is named as a risk.
const DefaultWorkingHours = "Mon-Fri 08:00-18:00 UTC"

// WorkingHours are the days and the times of day, in one zone, when
// requests are expected.
type WorkingHours struct {
	Days       [7]bool // by time.Weekday
	Start, End int     // minutes after midnight; End > Start
	Zone       *time.Location
	text       string
}

// ParseWorkingHours reads "Mon-Fri 08:00-18:00 Europe/Berlin": days (a
// range or a comma list; optional, default Mon-Fri), a time range, and an
// IANA zone (optional, default UTC).
func ParseWorkingHours(s string) (WorkingHours, error) {
	bad := func(why string) (WorkingHours, error) {
		return WorkingHours{}, Titledf(EINVALID, "Working hours not understood", "Working hours %q: %s. Write them like \"Mon-Fri 08:00-18:00 Europe/Berlin\".", s, why)
	}
	fields := strings.Fields(s)
	if len(fields) == 0 {
		return bad("empty")
	}
	w := WorkingHours{Zone: time.UTC, text: strings.Join(fields, " ")}
	i := 0
	if !strings.Contains(fields[0], ":") {
		days, ok := parseDays(fields[0])
		if !ok {
			return bad("the days are not like Mon-Fri or Mon,Wed,Sat")
		}
		w.Days = days
		i++
	} else {
		w.Days, _ = parseDays("Mon-Fri")
	}
	if i >= len(fields) {
		return bad("no time range")
	}
	from, to, ok := strings.Cut(fields[i], "-")
	if !ok {
		return bad("the time range is not like 08:00-18:00")
	}
	var err1, err2 error
	w.Start, err1 = clockMinutes(from)
	w.End, err2 = clockMinutes(to)
	if err1 != nil || err2 != nil || w.End <= w.Start {
		return bad("the time range is not like 08:00-18:00 (start before end, 24-hour clock)")
	}
	i++
	if i < len(fields) {
		loc, err := time.LoadLocation(fields[i])
		if err != nil {
			return bad("unknown time zone " + fields[i])
		}
		w.Zone = loc
		i++
	}
	if i != len(fields) {
		return bad("unexpected " + strings.Join(fields[i:], " "))
	}
	return w, nil
}

var weekdayNames = []string{"sun", "mon", "tue", "wed", "thu", "fri", "sat"}

func weekday(s string) (int, bool) {
	s = strings.ToLower(s)
	for i, n := range weekdayNames {
		if s == n {
			return i, true
		}
	}
	return 0, false
}

func parseDays(s string) ([7]bool, bool) {
	var days [7]bool
	for _, part := range strings.Split(s, ",") {
		from, to, isRange := strings.Cut(part, "-")
		a, ok := weekday(from)
		if !ok {
			return days, false
		}
		b := a
		if isRange {
			if b, ok = weekday(to); !ok {
				return days, false
			}
		}
		// Wraps past Saturday: "Sat-Mon" is Saturday, Sunday, Monday.
		for d := a; ; d = (d + 1) % 7 {
			days[d] = true
			if d == b {
				break
			}
		}
	}
	return days, true
}

func clockMinutes(s string) (int, error) {
	t, err := time.Parse("15:04", s)
	if err != nil {
		if s == "24:00" {
			return 24 * 60, nil
		}
		return 0, err
	}
	return t.Hour()*60 + t.Minute(), nil
}

// IsZero reports whether w was never set.
func (w WorkingHours) IsZero() bool { return w.Zone == nil }

// String is the working hours as configured ("Mon-Fri 08:00-18:00 UTC").
func (w WorkingHours) String() string { return w.text }

// Contains reports whether t falls inside the working hours.
func (w WorkingHours) Contains(t time.Time) bool {
	if w.IsZero() {
		return true
	}
	local := t.In(w.Zone)
	m := local.Hour()*60 + local.Minute()
	return w.Days[local.Weekday()] && m >= w.Start && m < w.End
}

// TargetFacts is what tapdesk knows about a request's target when an
// approver looks at it.
type TargetFacts struct {
	// User is the target as Entra shows them now; nil when the lookup
	// failed (LookupError says why).
	User        *DirectoryUser
	Methods     []AuthMethod
	TAP         *TAPInfo // the pass the user holds now, if any
	LookupError string
	// OtherOpen are the target's other open requests (not this one).
	OtherOpen []*Request
	// RecentPasses are passes tapdesk issued to the target within
	// RecentPassWindow, other than this request's.
	RecentPasses []*Request
}

// RiskKind names one risk.
type RiskKind string

const (
	RiskPrivileged  RiskKind = "privileged"
	RiskTapdeskRole RiskKind = "tapdesk-role"
	RiskOtherOpen   RiskKind = "other-open-request"
	RiskOutOfHours  RiskKind = "out-of-hours"
	RiskNewAccount  RiskKind = "new-account"
	RiskRecentPass  RiskKind = "recent-pass"
	RiskDisabled    RiskKind = "disabled-account"
)

// Risk is one thing an approver should weigh, in words.
type Risk struct {
	Kind RiskKind
	// Title is the risk in a few words; Detail the sentence that says which
	// role, when, or how many.
	Title  string
	Detail string
	// Requests are the requests the risk is about (other open requests,
	// earlier passes), for links.
	Requests []*Request
}

// AssessRisks names the risks of r given what is known about its target.
// now is when the approver looks.
func AssessRisks(r *Request, f TargetFacts, hours WorkingHours, now time.Time) []Risk {
	var risks []Risk
	u := f.User
	switch {
	case u != nil && (len(u.Roles) > 0 || len(u.PrivilegedGroups) > 0):
		var parts []string
		if len(u.Roles) > 0 {
			parts = append(parts, "holds the directory role "+joinWords(u.Roles))
		}
		if len(u.PrivilegedGroups) > 0 {
			parts = append(parts, "is in the group configured as privileged "+joinWords(u.PrivilegedGroups))
		}
		risks = append(risks, Risk{Kind: RiskPrivileged, Title: "Privileged account",
			Detail: r.TargetName + " " + strings.Join(parts, " and ") + ". A pass takes over an administrator; two approvers must agree."})
	case u == nil && r.ApprovalsRequired > 1 && r.PrivilegeReason != "":
		// Entra could not be read: what it showed when the request was filed.
		risks = append(risks, Risk{Kind: RiskPrivileged, Title: "Privileged account",
			Detail: r.TargetName + " " + r.PrivilegeReason + " (as Entra showed when the request was filed). Two approvers must agree."})
	}
	if u != nil && len(u.TapdeskRoles) > 0 {
		risks = append(risks, Risk{Kind: RiskTapdeskRole, Title: "Holds a tapdesk role",
			Detail: r.TargetName + " holds " + joinWords(u.TapdeskRoles) + " in tapdesk: whoever gets this pass can file or approve passes. Two approvers must agree."})
	}
	if u != nil && !u.AccountEnabled {
		risks = append(risks, Risk{Kind: RiskDisabled, Title: "Account disabled",
			Detail: "The account is disabled in Entra: a pass cannot be used until someone enables it. Ask why it was disabled."})
	}
	if n := len(f.OtherOpen); n > 0 {
		what := "Another open request"
		if n > 1 {
			what = fmt.Sprintf("%d other open requests", n)
		}
		risks = append(risks, Risk{Kind: RiskOtherOpen, Title: what + " for this user",
			Detail: "Only one pass can be issued, and two requests for one person at once is unusual. Compare them before deciding.", Requests: f.OtherOpen})
	}
	if !hours.Contains(r.CreatedAt) {
		at := r.CreatedAt.In(hours.Zone)
		risks = append(risks, Risk{Kind: RiskOutOfHours, Title: "Filed out of hours",
			Detail: "Filed " + at.Format("Monday 15:04 MST") + ", outside the helpdesk's working hours (" + hours.String() + ")."})
	}
	if u != nil && !u.CreatedAt.IsZero() && now.Sub(u.CreatedAt) < NewAccountAge {
		risks = append(risks, Risk{Kind: RiskNewAccount, Title: "New account",
			Detail: "Created " + AgeInWords(u.CreatedAt, now) + " ago (" + u.CreatedAt.UTC().Format("2 Jan 2006") + "). A new account has no history to check the caller against."})
	}
	if n := len(f.RecentPasses); n > 0 {
		last := f.RecentPasses[0]
		for _, p := range f.RecentPasses[1:] {
			if issuedAt(p).After(issuedAt(last)) {
				last = p
			}
		}
		what := "A pass was issued"
		if n > 1 {
			what = fmt.Sprintf("%d passes were issued", n)
		}
		risks = append(risks, Risk{Kind: RiskRecentPass, Title: "Pass issued recently",
			Detail:   what + " to this user through tapdesk in the last " + AgeInWords(now.Add(-RecentPassWindow), now) + ", the latest " + AgeInWords(issuedAt(last), now) + " ago. Why did they not register a method then?",
			Requests: f.RecentPasses})
	}
	return risks
}

func issuedAt(r *Request) time.Time {
	if r.IssuedAt != nil {
		return *r.IssuedAt
	}
	return r.CreatedAt
}

// RecentPass reports whether other (not the request being decided) holds a
// pass tapdesk issued within RecentPassWindow before now.
func RecentPass(other *Request, now time.Time) bool {
	return other.IssuedAt != nil && now.Sub(*other.IssuedAt) < RecentPassWindow
}

// AgeInWords is how long ago since was, roughly: "3 days", "5 months",
// "2 years".
func AgeInWords(since, now time.Time) string {
	d := now.Sub(since)
	plural := func(n int, unit string) string {
		if n == 1 {
			return "1 " + unit
		}
		return fmt.Sprintf("%d %ss", n, unit)
	}
	switch {
	case d < time.Hour:
		return plural(max(int(d/time.Minute), 0), "minute")
	case d < 48*time.Hour:
		return plural(int(d/time.Hour), "hour")
	case d < 60*24*time.Hour:
		return plural(int(d/(24*time.Hour)), "day")
	case d < 730*24*time.Hour:
		return plural(int(d/(30*24*time.Hour)), "month")
	}
	return plural(int(d/(365*24*time.Hour)), "year")
}

func joinWords(items []string) string {
	switch len(items) {
	case 0:
		return ""
	case 1:
		return items[0]
	}
	return strings.Join(items[:len(items)-1], ", ") + " and " + items[len(items)-1]
}

// LinkRevisitNotice is what an approver link's recipient reads when they
// open a link that was used already (or has expired) and tapdesk shows
// them the request instead: what happened to it.
func LinkRevisitNotice(r *Request, p Principal) string {
	for _, a := range r.Approvals {
		if a.Approver.TenantID == p.TenantID && a.Approver.ObjectID == p.ObjectID {
			if a.Decision == DecisionDeny {
				return "You already denied this request."
			}
			return "You already approved this request."
		}
	}
	var by []string
	for _, a := range r.Approvals {
		by = append(by, a.Approver.Name)
	}
	switch r.State {
	case StatePending:
		return "You opened this approval link before; the request is still waiting for a decision."
	case StateApproved, StateIssued, StateRevoked:
		if len(by) == 0 {
			return "This request was already approved."
		}
		return "This request was already approved by " + joinWords(by) + "."
	case StateDenied:
		if len(by) == 0 {
			return "This request was already denied."
		}
		return "This request was already denied by " + joinWords(by) + "."
	case StateCancelled:
		return "This request was cancelled by its requester; there is nothing to decide."
	case StateExpired:
		return "This request expired before anyone decided it."
	}
	return "This request is " + strings.ToLower(r.State.Label()) + "; there is nothing to decide."
}
