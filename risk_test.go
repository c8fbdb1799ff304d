package tapdesk

import (
	"slices"
	"strings"
	"testing"
	"time"
)

func TestParseWorkingHours(t *testing.T) {
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Fatal(err)
	}
	// Monday 30 Nov 2026.
	at := func(day, h, m int, loc *time.Location) time.Time { return time.Date(2026, 11, 30+day, h, m, 0, 0, loc) }
	cases := []struct {
		name    string
		in      string
		inside  []time.Time
		outside []time.Time
	}{
		{"default", DefaultWorkingHours,
			[]time.Time{at(0, 8, 0, time.UTC), at(4, 17, 59, time.UTC)},
			[]time.Time{at(0, 7, 59, time.UTC), at(0, 18, 0, time.UTC), at(5, 12, 0, time.UTC), at(6, 12, 0, time.UTC)}},
		{"zone", "Mon-Fri 08:00-18:00 Europe/Berlin",
			[]time.Time{at(0, 8, 0, berlin), at(0, 7, 30, time.UTC)},
			[]time.Time{at(0, 17, 30, time.UTC), at(0, 7, 59, berlin)}},
		{"days omitted", "09:00-17:00",
			[]time.Time{at(2, 9, 0, time.UTC)},
			[]time.Time{at(5, 10, 0, time.UTC)}},
		{"list and wrap", "Sat-Sun,Wed 00:00-24:00",
			[]time.Time{at(5, 0, 0, time.UTC), at(6, 23, 59, time.UTC), at(2, 12, 0, time.UTC)},
			[]time.Time{at(0, 12, 0, time.UTC), at(1, 12, 0, time.UTC)}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			w, err := ParseWorkingHours(c.in)
			if err != nil {
				t.Fatal(err)
			}
			for _, x := range c.inside {
				if !w.Contains(x) {
					t.Errorf("%s: %s should be inside", c.in, x)
				}
			}
			for _, x := range c.outside {
				if w.Contains(x) {
					t.Errorf("%s: %s should be outside", c.in, x)
				}
			}
		})
	}
	for _, bad := range []string{"", "08:00-18:00 Mars/Olympus", "Mon-Fri", "Mon-Fri 18:00-08:00", "Funday 08:00-18:00",
		"Mon-Fri 8-18", "Mon-Fri 08:00-18:00 UTC extra", "Mon-Fri 25:00-26:00"} {
		if _, err := ParseWorkingHours(bad); ErrorCode(err) != EINVALID {
			t.Errorf("%q: %v, want EINVALID", bad, err)
		}
	}
}

func TestAssessRisks(t *testing.T) {
	hours, err := ParseWorkingHours("Mon-Fri 08:00-18:00 UTC")
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 11, 30, 10, 0, 0, 0, time.UTC) // a Monday morning
	inHours := now.Add(-time.Hour)
	base := func() *Request {
		return &Request{ID: "r1", TargetName: "Nina Newhire", CreatedAt: inHours, ApprovalsRequired: 1}
	}
	plain := func() *DirectoryUser {
		return &DirectoryUser{DisplayName: "Nina Newhire", AccountEnabled: true, CreatedAt: now.AddDate(-2, 0, 0)}
	}
	issued := func(ago time.Duration) *Request {
		at := now.Add(-ago)
		return &Request{ID: "old", State: StateRevoked, CreatedAt: at.Add(-time.Hour), IssuedAt: &at}
	}
	cases := []struct {
		name   string
		req    func(*Request)
		facts  func(*TargetFacts)
		want   []RiskKind
		detail string // in the first risk's sentence
	}{
		{name: "nothing to worry about"},
		{name: "directory role named", facts: func(f *TargetFacts) { f.User.Roles = []string{"Global Administrator"} },
			want: []RiskKind{RiskPrivileged}, detail: "holds the directory role Global Administrator"},
		{name: "privileged group named", facts: func(f *TargetFacts) { f.User.PrivilegedGroups = []string{"Tier 0 admins"} },
			want: []RiskKind{RiskPrivileged}, detail: "privileged Tier 0 admins"},
		{name: "privileged as filed when Entra is unreachable",
			req:   func(r *Request) { r.ApprovalsRequired, r.PrivilegeReason = 2, "holds Global Administrator" },
			facts: func(f *TargetFacts) { f.User, f.LookupError = nil, "down" },
			want:  []RiskKind{RiskPrivileged}, detail: "as Entra showed when the request was filed"},
		{name: "tapdesk role", facts: func(f *TargetFacts) { f.User.TapdeskRoles = []string{"Tap.Approver"} },
			want: []RiskKind{RiskTapdeskRole}, detail: "holds Tap.Approver in tapdesk"},
		{name: "disabled account", facts: func(f *TargetFacts) { f.User.AccountEnabled = false },
			want: []RiskKind{RiskDisabled}},
		{name: "another open request", facts: func(f *TargetFacts) { f.OtherOpen = []*Request{{ID: "r2", State: StatePending}} },
			want: []RiskKind{RiskOtherOpen}},
		{name: "filed at night", req: func(r *Request) { r.CreatedAt = time.Date(2026, 11, 30, 2, 30, 0, 0, time.UTC) },
			want: []RiskKind{RiskOutOfHours}, detail: "Monday 02:30 UTC"},
		{name: "filed on a Sunday", req: func(r *Request) { r.CreatedAt = time.Date(2026, 11, 29, 11, 0, 0, 0, time.UTC) },
			want: []RiskKind{RiskOutOfHours}, detail: "Sunday 11:00"},
		{name: "new account", facts: func(f *TargetFacts) { f.User.CreatedAt = now.AddDate(0, 0, -3) },
			want: []RiskKind{RiskNewAccount}, detail: "Created 3 days ago"},
		{name: "account just old enough", facts: func(f *TargetFacts) { f.User.CreatedAt = now.Add(-NewAccountAge) }},
		{name: "account age unknown", facts: func(f *TargetFacts) { f.User.CreatedAt = time.Time{} }},
		{name: "pass issued last week", facts: func(f *TargetFacts) { f.RecentPasses = []*Request{issued(7 * 24 * time.Hour)} },
			want: []RiskKind{RiskRecentPass}, detail: "the latest 7 days ago"},
		{name: "all at once",
			req: func(r *Request) { r.CreatedAt = now.Add(-9 * time.Hour) },
			facts: func(f *TargetFacts) {
				f.User.Roles, f.User.TapdeskRoles, f.User.CreatedAt = []string{"Global Administrator"}, []string{"Tap.Requester"}, now.AddDate(0, 0, -1)
				f.OtherOpen, f.RecentPasses = []*Request{{ID: "r2"}}, []*Request{issued(time.Hour), issued(48 * time.Hour)}
			},
			want: []RiskKind{RiskPrivileged, RiskTapdeskRole, RiskOtherOpen, RiskOutOfHours, RiskNewAccount, RiskRecentPass}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := base()
			if c.req != nil {
				c.req(r)
			}
			f := TargetFacts{User: plain()}
			if c.facts != nil {
				c.facts(&f)
			}
			risks := AssessRisks(r, f, hours, now)
			var got []RiskKind
			for _, k := range risks {
				got = append(got, k.Kind)
				if k.Title == "" || k.Detail == "" {
					t.Errorf("%s without words: %+v", k.Kind, k)
				}
			}
			if !slices.Equal(got, c.want) {
				t.Fatalf("risks %v, want %v", got, c.want)
			}
			if c.detail != "" && !strings.Contains(risks[0].Detail, c.detail) {
				t.Errorf("%q does not say %q", risks[0].Detail, c.detail)
			}
		})
	}
}

func TestRecentPass(t *testing.T) {
	now := time.Date(2026, 11, 30, 10, 0, 0, 0, time.UTC)
	for _, c := range []struct {
		ago  time.Duration
		want bool
	}{{time.Hour, true}, {29 * 24 * time.Hour, true}, {RecentPassWindow, false}, {40 * 24 * time.Hour, false}} {
		at := now.Add(-c.ago)
		if got := RecentPass(&Request{IssuedAt: &at}, now); got != c.want {
			t.Errorf("issued %s ago: %v, want %v", c.ago, got, c.want)
		}
	}
	if RecentPass(&Request{State: StateDenied}, now) {
		t.Error("a request never issued counts as a pass")
	}
}

func TestLinkRevisitNotice(t *testing.T) {
	avery := Principal{TenantID: "t", ObjectID: "avery", Name: "Avery Approver"}
	blake := Actor{TenantID: "t", ObjectID: "blake", Name: "Blake Backup"}
	cases := []struct {
		name string
		r    Request
		want string
	}{
		{"I approved", Request{State: StateApproved, Approvals: []Approval{{Approver: avery.Actor(), Decision: DecisionApprove}}}, "You already approved this request."},
		{"I denied", Request{State: StateDenied, Approvals: []Approval{{Approver: avery.Actor(), Decision: DecisionDeny}}}, "You already denied this request."},
		{"someone else approved", Request{State: StateApproved, Approvals: []Approval{{Approver: blake, Decision: DecisionApprove}}}, "This request was already approved by Blake Backup."},
		{"someone else denied", Request{State: StateDenied, Approvals: []Approval{{Approver: blake, Decision: DecisionDeny}}}, "This request was already denied by Blake Backup."},
		{"still waiting", Request{State: StatePending}, "still waiting for a decision"},
		{"cancelled", Request{State: StateCancelled}, "cancelled by its requester"},
		{"expired", Request{State: StateExpired}, "expired before anyone decided"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := LinkRevisitNotice(&c.r, avery); !strings.Contains(got, c.want) {
				t.Errorf("%q, want %q", got, c.want)
			}
		})
	}
}

func TestAgeInWords(t *testing.T) {
	now := time.Date(2026, 11, 30, 10, 0, 0, 0, time.UTC)
	for ago, want := range map[time.Duration]string{
		5 * time.Minute: "5 minutes", time.Hour: "1 hour", 3 * 24 * time.Hour: "3 days",
		90 * 24 * time.Hour: "3 months", 3 * 365 * 24 * time.Hour: "3 years",
	} {
		if got := AgeInWords(now.Add(-ago), now); got != want {
			t.Errorf("%s: %q, want %q", ago, got, want)
		}
	}
}
