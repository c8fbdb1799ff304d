package tapdesk_test

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/tapdesk/tapdesk"
)

var (
	now       = time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)
	requester = tapdesk.Principal{TenantID: "t", ObjectID: "agent", Roles: []tapdesk.Role{tapdesk.RoleRequester}}
	approver  = tapdesk.Principal{TenantID: "t", ObjectID: "appr", Roles: []tapdesk.Role{tapdesk.RoleApprover}}
	auditor   = tapdesk.Principal{TenantID: "t", ObjectID: "aud", Roles: []tapdesk.Role{tapdesk.RoleAuditor}}
	stranger  = tapdesk.Principal{TenantID: "t", ObjectID: "other", Roles: []tapdesk.Role{tapdesk.RoleRequester}}
)

func request(state tapdesk.State) *tapdesk.Request {
	return &tapdesk.Request{ID: "r", State: state, Requester: requester.Actor(), TargetID: "target",
		ApprovalsRequired: 1, ExpiresAt: now.Add(time.Hour)}
}

func TestStateMachine(t *testing.T) {
	allowed := map[string]bool{
		"pending>approved": true, "pending>denied": true, "pending>expired": true, "pending>cancelled": true,
		"approved>issued": true, "approved>failed": true, "approved>expired": true, "approved>cancelled": true,
		"issued>revoked": true,
	}
	states := []tapdesk.State{tapdesk.StatePending, tapdesk.StateApproved, tapdesk.StateIssued, tapdesk.StateDenied,
		tapdesk.StateExpired, tapdesk.StateCancelled, tapdesk.StateFailed, tapdesk.StateRevoked}
	for _, from := range states {
		for _, to := range states {
			key := fmt.Sprintf("%s>%s", from, to)
			if got := tapdesk.CanTransition(from, to); got != allowed[key] {
				t.Errorf("%s: CanTransition = %v", key, got)
			}
		}
	}
	for _, s := range []tapdesk.State{tapdesk.StateDenied, tapdesk.StateExpired, tapdesk.StateCancelled, tapdesk.StateFailed, tapdesk.StateRevoked} {
		if !s.Terminal() {
			t.Errorf("%s is not terminal", s)
		}
	}
}

func TestCheckDecide(t *testing.T) {
	dual := tapdesk.Principal{TenantID: "t", ObjectID: "agent", Roles: []tapdesk.Role{tapdesk.RoleRequester, tapdesk.RoleApprover}}
	targetApprover := tapdesk.Principal{TenantID: "t", ObjectID: "target", Roles: []tapdesk.Role{tapdesk.RoleApprover}}
	decided := request(tapdesk.StatePending)
	decided.ApprovalsRequired = 2
	decided.Approvals = []tapdesk.Approval{{Approver: approver.Actor(), Decision: tapdesk.DecisionApprove}}
	expired := request(tapdesk.StatePending)
	expired.ExpiresAt = now
	cases := []struct {
		name string
		r    *tapdesk.Request
		p    tapdesk.Principal
		code string
	}{
		{"approver may decide", request(tapdesk.StatePending), approver, ""},
		{"no approver role", request(tapdesk.StatePending), stranger, tapdesk.EFORBIDDEN},
		{"own request, even holding the approver role", request(tapdesk.StatePending), dual, tapdesk.EFORBIDDEN},
		{"own account as target", request(tapdesk.StatePending), targetApprover, tapdesk.EFORBIDDEN},
		{"second decision by the same approver", decided, approver, tapdesk.ECONFLICT},
		{"already approved", request(tapdesk.StateApproved), approver, tapdesk.ECONFLICT},
		{"expired", expired, approver, tapdesk.ECONFLICT},
		{"same oid in another tenant is another person", request(tapdesk.StatePending),
			tapdesk.Principal{TenantID: "other-tenant", ObjectID: "agent", Roles: []tapdesk.Role{tapdesk.RoleApprover}}, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := tapdesk.CheckDecide(tc.r, tc.p, now)
			if got := tapdesk.ErrorCode(err); got != tc.code {
				t.Fatalf("code %q (%v), want %q", got, err, tc.code)
			}
			if err != nil && tapdesk.ErrorMessage(err) == "" {
				t.Error("refusal without a sentence")
			}
		})
	}
}

func TestCheckRevealCancelRevokeView(t *testing.T) {
	if err := tapdesk.CheckReveal(request(tapdesk.StateApproved), requester, now); err != nil {
		t.Errorf("requester reveal: %v", err)
	}
	if tapdesk.ErrorCode(tapdesk.CheckReveal(request(tapdesk.StateApproved), stranger, now)) != tapdesk.EFORBIDDEN {
		t.Error("another agent may reveal")
	}
	if tapdesk.ErrorCode(tapdesk.CheckReveal(request(tapdesk.StateApproved), approver, now)) != tapdesk.EFORBIDDEN {
		t.Error("an approver may reveal")
	}
	revealed := request(tapdesk.StateIssued)
	at := now
	revealed.RevealedAt = &at
	if err := tapdesk.CheckReveal(revealed, requester, now); tapdesk.ErrorCode(err) != tapdesk.ECONFLICT {
		t.Errorf("second reveal: %v", err)
	}
	if tapdesk.CheckReveal(request(tapdesk.StatePending), requester, now) == nil {
		t.Error("reveal before approval")
	}
	if tapdesk.CheckCancel(request(tapdesk.StateApproved), requester) != nil || tapdesk.CheckCancel(request(tapdesk.StateIssued), requester) == nil ||
		tapdesk.CheckCancel(request(tapdesk.StatePending), stranger) == nil {
		t.Error("cancel rules")
	}
	if tapdesk.CheckRevoke(request(tapdesk.StateIssued), approver) != nil || tapdesk.CheckRevoke(request(tapdesk.StateIssued), stranger) == nil ||
		tapdesk.CheckRevoke(request(tapdesk.StateApproved), requester) == nil {
		t.Error("revoke rules")
	}
	r := request(tapdesk.StatePending)
	if !tapdesk.CanView(r, requester) || !tapdesk.CanView(r, approver) || !tapdesk.CanView(r, auditor) || tapdesk.CanView(r, stranger) {
		t.Error("view rules")
	}
}

func TestCheckFile(t *testing.T) {
	yes, no := true, false
	cases := []struct {
		name string
		u    tapdesk.DirectoryUser
		p    tapdesk.Principal
		code string
	}{
		{"member in scope", tapdesk.DirectoryUser{ID: "u", AccountEnabled: true, UserType: "Member", InTAPScope: &yes}, requester, ""},
		{"oneself", tapdesk.DirectoryUser{ID: "agent", AccountEnabled: true, InTAPScope: &yes}, requester, tapdesk.EFORBIDDEN},
		{"not a requester", tapdesk.DirectoryUser{ID: "u", AccountEnabled: true, InTAPScope: &yes}, approver, tapdesk.EFORBIDDEN},
		{"disabled", tapdesk.DirectoryUser{ID: "u", AccountEnabled: false, InTAPScope: &yes}, requester, tapdesk.EINVALID},
		{"guest", tapdesk.DirectoryUser{ID: "u", AccountEnabled: true, UserType: "Guest", InTAPScope: &yes}, requester, tapdesk.EINVALID},
		{"out of scope", tapdesk.DirectoryUser{ID: "u", AccountEnabled: true, InTAPScope: &no}, requester, tapdesk.EINVALID},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := tapdesk.ErrorCode(tapdesk.CheckFile(tc.p, &tc.u)); got != tc.code {
				t.Errorf("code %q, want %q", got, tc.code)
			}
		})
	}
}

func TestErrors(t *testing.T) {
	wrapped := fmt.Errorf("context: %w", tapdesk.Errorf(tapdesk.ENOTFOUND, "No such thing."))
	if tapdesk.ErrorCode(wrapped) != tapdesk.ENOTFOUND || tapdesk.ErrorMessage(wrapped) != "No such thing." {
		t.Error("wrapped domain error lost")
	}
	internal := errors.New("pq: secret detail")
	if tapdesk.ErrorCode(internal) != tapdesk.EINTERNAL || tapdesk.ErrorMessage(internal) == internal.Error() {
		t.Error("internal error text would reach people")
	}
	for kind, code := range map[tapdesk.GraphErrorKind]string{
		tapdesk.GraphNotFound: tapdesk.ENOTFOUND, tapdesk.GraphPolicyDisallows: tapdesk.EINVALID,
		tapdesk.GraphGuestUser: tapdesk.EINVALID, tapdesk.GraphThrottled: tapdesk.EUNAVAILABLE,
		tapdesk.GraphUnauthorized: tapdesk.EUNAVAILABLE, tapdesk.GraphForbidden: tapdesk.EUNAVAILABLE,
	} {
		ge := &tapdesk.GraphError{Kind: kind, Status: 400, Code: "x", Message: "m"}
		if got := tapdesk.ErrorCode(fmt.Errorf("wrap: %w", ge)); got != code {
			t.Errorf("%s -> %s, want %s", kind, got, code)
		}
		if ge.UserMessage() == "" {
			t.Errorf("%s has no sentence", kind)
		}
	}
	var ve tapdesk.ValidationError
	if ve.Err() != nil {
		t.Error("empty validation is an error")
	}
	ve.Add("a", "first")
	ve.Add("a", "second")
	var e *tapdesk.Error
	if !errors.As(ve.Err(), &e) || e.Fields["a"] != "first" || e.Code != tapdesk.EINVALID {
		t.Errorf("validation error: %+v", ve.Err())
	}
}

// TestNoticeOfOpenRequest: the link shows only to those who may open the
// request, and only its requester is told to cancel it.
func TestNoticeOfOpenRequest(t *testing.T) {
	r := request(tapdesk.StateApproved)
	r.TargetName, r.Requester.Name, r.CreatedAt = "Nina Newhire", "Alex Agent", now
	cases := []struct {
		name       string
		p          tapdesk.Principal
		linked     bool
		wantPrefix string
	}{
		{"requester", requester, true, "You already have an open request for Nina Newhire (approved, filed on 23 Nov 2026 10:00 UTC). Follow it, or cancel it"},
		{"other agent", stranger, false, "Nina Newhire already has an open request (approved, filed by Alex Agent on 23 Nov 2026 10:00 UTC). Ask Alex Agent or an approver"},
		{"approver", approver, true, "Nina Newhire already has an open request (approved, filed by Alex Agent"},
		{"auditor", auditor, true, "Nina Newhire already has an open request (approved, filed by Alex Agent"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			n := tapdesk.NoticeOfOpenRequest(r, tc.p)
			if n.Linked != tc.linked || n.Linked != tapdesk.CanView(r, tc.p) {
				t.Errorf("linked %v, want %v", n.Linked, tc.linked)
			}
			if len(n.Sentence) < len(tc.wantPrefix) || n.Sentence[:len(tc.wantPrefix)] != tc.wantPrefix {
				t.Errorf("sentence %q, want it to start %q", n.Sentence, tc.wantPrefix)
			}
		})
	}
}
