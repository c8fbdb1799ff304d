package tapdesk_test

import (
	"strings"
	"testing"

	"github.com/tapdesk/tapdesk"
)

// A target who gained privilege after filing needs more approvals than the
// request collected: issuing is refused, with the reason in words.
func TestCheckStillEnoughApprovals(t *testing.T) {
	yes, no := true, false
	member := func(change func(u *tapdesk.DirectoryUser)) *tapdesk.DirectoryUser {
		u := &tapdesk.DirectoryUser{ID: "target", DisplayName: "Blake Backup", UPN: "blake@x", UserType: "Member",
			AccountEnabled: true, InTAPScope: &yes}
		if change != nil {
			change(u)
		}
		return u
	}
	one, two := request(tapdesk.StateApproved), request(tapdesk.StateApproved)
	two.ApprovalsRequired = 2
	for _, tc := range []struct {
		name   string
		r      *tapdesk.Request
		target *tapdesk.DirectoryUser
		want   string // "" allowed; else the error's code and a part of its sentence
	}{
		{"ordinary then, ordinary now", one, member(nil), ""},
		{"privileged then and now", two, member(func(u *tapdesk.DirectoryUser) { u.TapdeskRoles = []string{"Tap.Approver"} }), ""},
		{"privileged then, ordinary now", two, member(nil), ""},
		{"became an approver", one, member(func(u *tapdesk.DirectoryUser) { u.TapdeskRoles = []string{"Tap.Approver"} }),
			tapdesk.ECONFLICT + ": holds Tap.Approver in tapdesk, so a pass needs two approvers; this request was filed when one was enough. File a new request."},
		{"became an administrator", one, member(func(u *tapdesk.DirectoryUser) { u.Roles = []string{"Global Administrator"} }),
			tapdesk.ECONFLICT + ": holds Global Administrator, so a pass needs two approvers"},
		{"joined a privileged group", one, member(func(u *tapdesk.DirectoryUser) { u.PrivilegedGroups = []string{"g1"} }),
			tapdesk.ECONFLICT + ": is in a group configured as privileged"},
		{"disabled since", one, member(func(u *tapdesk.DirectoryUser) { u.AccountEnabled = false }), tapdesk.EINVALID + ": account is disabled"},
		{"a guest now", two, member(func(u *tapdesk.DirectoryUser) { u.UserType = "Guest" }), tapdesk.EINVALID + ": external guest"},
		{"out of scope now", one, member(func(u *tapdesk.DirectoryUser) { u.InTAPScope = &no }), tapdesk.EINVALID + ": outside the tenant's Temporary Access Pass policy"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tapdesk.CheckStillEnoughApprovals(tc.r, tc.target)
			if tc.want == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			code, part, _ := strings.Cut(tc.want, ": ")
			if tapdesk.ErrorCode(err) != code || !strings.Contains(tapdesk.ErrorMessage(err), part) {
				t.Fatalf("got %q (%s), want %s containing %q", tapdesk.ErrorMessage(err), tapdesk.ErrorCode(err), code, part)
			}
		})
	}
}
