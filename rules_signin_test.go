package tapdesk_test

import (
	"strings"
	"testing"
	"time"

	"github.com/tapdesk/tapdesk"
)

// The requester of a request who no longer holds Tap.Requester (the role was
// removed and they signed in again) may not reveal, cancel or revoke it.
func TestRolesHeldAtTheMomentOfAction(t *testing.T) {
	demoted := requester
	demoted.Roles = nil
	nowApprover := requester
	nowApprover.Roles = []tapdesk.Role{tapdesk.RoleApprover}
	admin := tapdesk.Principal{TenantID: "t", ObjectID: "adm", Roles: []tapdesk.Role{tapdesk.RoleAdmin}}

	if err := tapdesk.CheckReveal(request(tapdesk.StateApproved), demoted, now); tapdesk.ErrorCode(err) != tapdesk.EFORBIDDEN {
		t.Errorf("requester without Tap.Requester reveals: %v", err)
	}
	if err := tapdesk.CheckReveal(request(tapdesk.StateApproved), nowApprover, now); tapdesk.ErrorCode(err) != tapdesk.EFORBIDDEN {
		t.Errorf("requester who is now only an approver reveals: %v", err)
	}
	if err := tapdesk.CheckCancel(request(tapdesk.StatePending), demoted); tapdesk.ErrorCode(err) != tapdesk.EFORBIDDEN {
		t.Errorf("requester without Tap.Requester cancels: %v", err)
	}
	if err := tapdesk.CheckRevoke(request(tapdesk.StateIssued), demoted); tapdesk.ErrorCode(err) != tapdesk.EFORBIDDEN {
		t.Errorf("requester without any role revokes: %v", err)
	}
	// Revoking stays open to the requester with the role, any approver
	// (including a requester who became one) and any admin.
	for name, p := range map[string]tapdesk.Principal{"requester": requester, "approver": approver, "requester now approver": nowApprover, "admin": admin} {
		if err := tapdesk.CheckRevoke(request(tapdesk.StateIssued), p); err != nil {
			t.Errorf("%s cannot revoke: %v", name, err)
		}
	}
	if err := tapdesk.CheckRevoke(request(tapdesk.StateIssued), auditor); tapdesk.ErrorCode(err) != tapdesk.EFORBIDDEN {
		t.Errorf("auditor revokes: %v", err)
	}
}

func TestCheckFreshSignIn(t *testing.T) {
	fresh := tapdesk.Principal{ObjectID: "a", MFA: true, AuthTime: now.Add(-14 * time.Minute)}
	stale := fresh
	stale.AuthTime = now.Add(-16 * time.Minute)
	noMFA := fresh
	noMFA.MFA = false
	never := fresh
	never.AuthTime = time.Time{}
	cases := []struct {
		name   string
		p      tapdesk.Principal
		maxAge time.Duration
		mfa    bool
		code   string
		says   string
	}{
		{"fresh with MFA", fresh, 15 * time.Minute, true, "", ""},
		{"stale", stale, 15 * time.Minute, true, tapdesk.EUNAUTHORIZED, "from the last 15 minutes"},
		{"no auth_time", never, 15 * time.Minute, true, tapdesk.EUNAUTHORIZED, "from the last 15 minutes"},
		{"no MFA", noMFA, 15 * time.Minute, true, tapdesk.EFORBIDDEN, "multi-factor"},
		{"no MFA, not required", noMFA, 15 * time.Minute, false, "", ""},
		{"stale, no limit", stale, 0, true, "", ""},
		{"an hour", stale, time.Hour, true, "", ""},
		{"stale for an hour", tapdesk.Principal{MFA: true, AuthTime: now.Add(-61 * time.Minute)}, time.Hour, true, tapdesk.EUNAUTHORIZED, "from the last 1 hour"},
	}
	for _, c := range cases {
		err := tapdesk.CheckFreshSignIn(c.p, c.maxAge, c.mfa, now)
		if got := tapdesk.ErrorCode(err); got != c.code {
			t.Errorf("%s: code %q, want %q (%v)", c.name, got, c.code, err)
		}
		if c.says != "" && !strings.Contains(tapdesk.ErrorMessage(err), c.says) {
			t.Errorf("%s: %q lacks %q", c.name, tapdesk.ErrorMessage(err), c.says)
		}
	}
}
