package tapdesk_test

import (
	"strings"
	"testing"
	"time"

	"github.com/tapdesk/tapdesk"
)

func TestAgeAndDuePhrases(t *testing.T) {
	now := time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)
	for _, c := range []struct {
		ago  time.Duration
		want string
	}{
		{0, "just now"}, {59 * time.Second, "just now"}, {time.Minute, "1 minute ago"},
		{119 * time.Minute, "119 minutes ago"}, {2 * time.Hour, "2 hours ago"},
		{47*time.Hour + 59*time.Minute, "47 hours ago"}, {49 * time.Hour, "2 days ago"},
	} {
		if got := tapdesk.AgePhrase(now.Add(-c.ago), now); got != c.want {
			t.Errorf("AgePhrase(-%s) = %q, want %q", c.ago, got, c.want)
		}
	}
	for _, c := range []struct {
		in   time.Duration
		want string
	}{
		{-time.Hour, "overdue"}, {0, "overdue"}, {30 * time.Second, "due in under a minute"},
		{45 * time.Minute, "due in 45 minutes"}, {23*time.Hour + 59*time.Minute, "due in 23 hours"},
		{72 * time.Hour, "due in 3 days"},
	} {
		if got := tapdesk.DuePhrase(now.Add(c.in), now); got != c.want {
			t.Errorf("DuePhrase(+%s) = %q, want %q", c.in, got, c.want)
		}
	}
}

func TestParseHistoryQuery(t *testing.T) {
	q, err := tapdesk.ParseHistoryQuery(" cancelled ", "  Nina ", "3")
	if err != nil || q.State != tapdesk.StateCancelled || q.Search != "Nina" || q.Page != 3 || q.Offset() != 2*tapdesk.DashboardPageSize {
		t.Fatalf("got %+v, %v", q, err)
	}
	if q, err := tapdesk.ParseHistoryQuery("", "", ""); err != nil || !q.IsZero() || q.Offset() != 0 {
		t.Fatalf("empty: %+v, %v", q, err)
	}
	for _, c := range []struct{ state, search, page, sentence string }{
		{"bogus", "", "", "There is no state"},
		{"Pending", "", "", "There is no state"}, // states are their values, not labels
		{"", strings.Repeat("é", tapdesk.MaxHistorySearch+1), "", "at most 64"},
		{"", "a\tb", "", "control characters"},
		{"", "\xff", "", "control characters"},
		{"", "", "0", "pages run from 1"},
		{"", "", "41", "pages run from 1"},
		{"", "", "1e3", "pages run from 1"},
	} {
		_, err := tapdesk.ParseHistoryQuery(c.state, c.search, c.page)
		if tapdesk.ErrorCode(err) != tapdesk.EINVALID || !strings.Contains(tapdesk.ErrorMessage(err), c.sentence) {
			t.Errorf("(%q, %q, %q): %v, want EINVALID with %q", c.state, c.search, c.page, err, c.sentence)
		}
	}
}

func TestDashboardListRules(t *testing.T) {
	now := time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)
	agent := tapdesk.Principal{TenantID: "t", ObjectID: "agent", Roles: []tapdesk.Role{tapdesk.RoleRequester, tapdesk.RoleApprover}}
	other := tapdesk.Principal{TenantID: "t", ObjectID: "other", Roles: []tapdesk.Role{tapdesk.RoleApprover}}
	req := func(s tapdesk.State, due time.Duration) *tapdesk.Request {
		return &tapdesk.Request{State: s, Requester: agent.Actor(), TargetID: "target", ExpiresAt: now.Add(due), CreatedAt: now.Add(-time.Hour)}
	}
	if !tapdesk.ReadyToIssue(req(tapdesk.StateApproved, time.Hour), agent, now) {
		t.Error("an approved request in time is not ready to issue")
	}
	if tapdesk.ReadyToIssue(req(tapdesk.StateApproved, -time.Minute), agent, now) || tapdesk.ReadyToIssue(req(tapdesk.StateApproved, time.Hour), other, now) {
		t.Error("a request past its deadline, or someone else's, is ready to issue")
	}
	if !tapdesk.WaitingForApproval(req(tapdesk.StatePending, time.Hour), agent, now) || tapdesk.WaitingForApproval(req(tapdesk.StatePending, 0), agent, now) {
		t.Error("waiting for approval: pending and in time only")
	}
	if tapdesk.WaitingForDecisionBy(req(tapdesk.StatePending, time.Hour), agent, now) {
		t.Error("one's own request is waiting for one's decision")
	}
	if !tapdesk.WaitingForDecisionBy(req(tapdesk.StatePending, time.Hour), other, now) {
		t.Error("another approver cannot decide it")
	}
	rs := []*tapdesk.Request{req(tapdesk.StatePending, 3*time.Hour), req(tapdesk.StatePending, time.Hour), req(tapdesk.StatePending, 2*time.Hour)}
	tapdesk.SortByDue(rs)
	for i := 1; i < len(rs); i++ {
		if rs[i].ExpiresAt.Before(rs[i-1].ExpiresAt) {
			t.Fatalf("not soonest due first: %v", rs)
		}
	}
}
