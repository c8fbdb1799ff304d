package tapdesk

import (
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// The dashboard's rules: which requests each list holds, how ages and
// deadlines read, and how far the agent's history pages. Handlers and views
// call these; they decide nothing of their own.

const (
	// DashboardPageSize is how many requests one page of an agent's
	// history shows (and the auditor's recent requests).
	DashboardPageSize = 25
	// DashboardMaxPage bounds paging through the history: older requests
	// are for the audit trail's filters and export, not for paging a
	// thousand rows deep.
	DashboardMaxPage = 40
	// DashboardRecentActivity is how many audit events the auditor's
	// dashboard shows, and DashboardRecentlyDecided how many of an
	// approver's own decisions.
	DashboardRecentActivity  = 10
	DashboardRecentlyDecided = 10
	// DashboardIssuedWindow is the span of "passes issued lately".
	DashboardIssuedWindow = 7 * 24 * time.Hour
	// DashboardPhraseStep is how long an age or deadline phrase ("12
	// minutes ago") holds: a page kept rendered is read again after it.
	DashboardPhraseStep = time.Minute
	// MaxHistorySearch bounds the history search (target name, UPN or
	// ticket), as user searches are bounded.
	MaxHistorySearch = 64
)

// ReadyToIssue reports whether r belongs in p's "Ready to issue" list: the
// pass may be issued and revealed by p now (CheckReveal).
func ReadyToIssue(r *Request, p Principal, now time.Time) bool {
	return CheckReveal(r, p, now) == nil
}

// WaitingForApproval reports whether r, filed by p, still waits for a
// decision at now.
func WaitingForApproval(r *Request, p Principal, now time.Time) bool {
	return r.IsRequester(p) && r.State == StatePending && now.Before(r.ExpiresAt)
}

// WaitingForDecisionBy reports whether r belongs in p's "Waiting for me"
// list: p may approve or deny it now (CheckDecide: not p's own request, not
// for p's own account, not already decided by p, pending and in time).
func WaitingForDecisionBy(r *Request, p Principal, now time.Time) bool {
	return CheckDecide(r, p, now) == nil
}

// SortByDue orders requests by their deadline, the soonest first (ties by
// filing time, the oldest first), so what expires next is on top.
func SortByDue(rs []*Request) {
	slices.SortStableFunc(rs, func(a, b *Request) int {
		if c := a.ExpiresAt.Compare(b.ExpiresAt); c != 0 {
			return c
		}
		return a.CreatedAt.Compare(b.CreatedAt)
	})
}

// AgePhrase says how long ago t was at now: "just now", "12 minutes ago",
// "3 hours ago", "2 days ago".
func AgePhrase(t, now time.Time) string {
	d := now.Sub(t)
	if d < time.Minute {
		return "just now"
	}
	return spanPhrase(d) + " ago"
}

// DuePhrase says when a deadline falls at now: "due in 40 minutes", "due
// in 5 hours", or "overdue" once it has passed.
func DuePhrase(due, now time.Time) string {
	d := due.Sub(now)
	if d <= 0 {
		return "overdue"
	}
	if d < time.Minute {
		return "due in under a minute"
	}
	return "due in " + spanPhrase(d)
}

// spanPhrase writes d rounded down to its largest sensible unit.
func spanPhrase(d time.Duration) string {
	n, unit := int64(d/time.Minute), "minute"
	switch {
	case d >= 48*time.Hour:
		n, unit = int64(d/(24*time.Hour)), "day"
	case d >= 2*time.Hour:
		n, unit = int64(d/time.Hour), "hour"
	}
	if n == 1 {
		return "1 " + unit
	}
	return strconv.FormatInt(n, 10) + " " + unit + "s"
}

// HistoryQuery is what an agent's history shows: a state, a search over
// the target's name and UPN and the ticket, and a page (1-based).
type HistoryQuery struct {
	State  State
	Search string
	Page   int
}

// IsZero reports whether q is the plain first page (no filter, no search).
func (q HistoryQuery) IsZero() bool { return q.State == "" && q.Search == "" && q.Page <= 1 }

// Offset is how many requests the page skips.
func (q HistoryQuery) Offset() int { return (max(q.Page, 1) - 1) * DashboardPageSize }

// ParseHistoryQuery reads the history's query parameters. Anything it
// cannot take is a sentence (EINVALID), never a guess; the returned query
// keeps what was given so the form can show it again.
func ParseHistoryQuery(state, search, page string) (HistoryQuery, error) {
	q := HistoryQuery{State: State(strings.TrimSpace(state)), Search: strings.TrimSpace(search), Page: 1}
	if q.State != "" && !slices.Contains(AllStates, q.State) {
		bad := q.State
		q.State = ""
		return q, Titledf(EINVALID, "No such state", "There is no state %q. Pick one from the list, or All states.", BoundText(string(bad), 32))
	}
	if n := utf8.RuneCountInString(q.Search); n > MaxHistorySearch || len(q.Search) > 4*MaxHistorySearch {
		q.Search = ""
		return q, Titledf(EINVALID, "Search too long", "A search is at most %d characters: part of the user's name, UPN or the ticket.", MaxHistorySearch)
	}
	if !utf8.ValidString(q.Search) || strings.ContainsFunc(q.Search, isControl) {
		q.Search = ""
		return q, Titledf(EINVALID, "Search not understood", "A search holds letters, digits and punctuation only: no line breaks or control characters.")
	}
	if page = strings.TrimSpace(page); page != "" {
		n, err := strconv.Atoi(page)
		if err != nil || n < 1 || n > DashboardMaxPage {
			return q, Titledf(EINVALID, "No such page", "There is no page %q of your requests: pages run from 1 to %d. Narrow the list with a state or a search instead.", BoundText(page, 16), DashboardMaxPage)
		}
		q.Page = n
	}
	return q, nil
}

// BackgroundJobs are the sweep's jobs as the admin's dashboard names them,
// in the order a sweep runs them; Task is the job's metric label.
var BackgroundJobs = []struct{ Task, Label string }{
	{"claims_settled", "Settle issues interrupted past their lease"},
	{"expired", "Expire requests past their deadline"},
	{"escalated", "Remind approvers of undecided requests"},
	{"passes_removed", "Remove passes once a strong method is registered"},
	{"outside_passes", "Look for passes made outside tapdesk"},
	{"refusal_counts", "Write the counts of refusals to the audit trail"},
	{"audit_checkpoints", "Publish a signed checkpoint of the audit trail"},
	{"wal_checkpoint", "Checkpoint the database's write-ahead log"},
	{"rate_limits_swept", "Delete spent rate limits (PostgreSQL)"},
}

// ApproverSignInWindow is how far back the admin's dashboard looks for
// sign-ins that show who holds Tap.Approver.
const ApproverSignInWindow = 90 * 24 * time.Hour

// SignInRoles reads the roles a sign-in event records (its "roles" detail,
// space separated).
func SignInRoles(ev Event) []Role {
	var out []Role
	for _, r := range strings.Fields(ev.Details["roles"]) {
		out = append(out, Role(r))
	}
	return out
}

// DecisionLabel is an approver's decision as the dashboard shows it.
func DecisionLabel(d Decision) string {
	switch d {
	case DecisionApprove:
		return "Approved"
	case DecisionDeny:
		return "Denied"
	}
	return string(d)
}

// DashboardPolicyTTL is how long the admin's dashboard reuses the pass
// policy it read from Graph.
const DashboardPolicyTTL = 5 * time.Minute
