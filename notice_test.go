package tapdesk

import (
	"slices"
	"testing"
	"time"
)

func TestNoticeAddress(t *testing.T) {
	for _, tc := range []struct {
		u    DirectoryUser
		want string
	}{
		{DirectoryUser{Mail: "nina@contoso.example", OtherMails: []string{"nina@home.example"}}, "nina@contoso.example"},
		{DirectoryUser{OtherMails: []string{" ", "omar@home.example"}}, "omar@home.example"},
		{DirectoryUser{UPN: "nomail@contoso.example"}, ""}, // the UPN is not a mailbox
	} {
		if got := tc.u.NoticeAddress(); got != tc.want {
			t.Errorf("%+v: NoticeAddress %q, want %q", tc.u, got, tc.want)
		}
	}
}

func TestDispute(t *testing.T) {
	now := time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)
	r := &Request{State: StatePending, ExpiresAt: now.Add(24 * time.Hour), LifetimeMinutes: 60}
	t.Run("machine", func(t *testing.T) {
		for _, from := range []State{StatePending, StateApproved, StateIssued} {
			if !CanTransition(from, StateDisputed) {
				t.Errorf("%s cannot be disputed", from)
			}
		}
		if !StateDisputed.Terminal() {
			t.Error("disputed is not terminal")
		}
		for _, from := range []State{StateDenied, StateExpired, StateCancelled, StateFailed, StateRevoked} {
			if CanTransition(from, StateDisputed) {
				t.Errorf("%s -> disputed allowed", from)
			}
		}
	})
	t.Run("link expiry", func(t *testing.T) {
		if got, want := DisputeLinkExpiry(r), now.Add(25*time.Hour); !got.Equal(want) {
			t.Errorf("pending: %s, want %s", got, want)
		}
		later := now.Add(48 * time.Hour)
		withStart := *r
		withStart.StartAt = &later
		if got, want := DisputeLinkExpiry(&withStart), later.Add(time.Hour); !got.Equal(want) {
			t.Errorf("with a later start: %s, want %s", got, want)
		}
		tapEnd := now.Add(2 * time.Hour)
		issued := *r
		issued.State, issued.TAPExpiresAt = StateIssued, &tapEnd
		if got := DisputeLinkExpiry(&issued); !got.Equal(tapEnd) {
			t.Errorf("issued: %s, want the pass's expiry %s", got, tapEnd)
		}
		if err := CheckDispute(&issued, tapEnd); ErrorCode(err) != ECONFLICT {
			t.Errorf("a dispute after the pass expired: %v", err)
		}
	})
	t.Run("states", func(t *testing.T) {
		for _, s := range []State{StatePending, StateApproved, StateIssued} {
			x := *r
			x.State = s
			if err := CheckDispute(&x, now); err != nil {
				t.Errorf("%s: %v", s, err)
			}
		}
		for _, s := range []State{StateDisputed, StateDenied, StateRevoked} {
			x := *r
			x.State = s
			if err := CheckDispute(&x, now); ErrorCode(err) != ECONFLICT {
				t.Errorf("%s: %v, want a conflict", s, err)
			}
		}
	})
	t.Run("nothing more happens", func(t *testing.T) {
		x := *r
		x.State = StateDisputed
		x.Requester = Actor{TenantID: "t", ObjectID: "agent"}
		approver := Principal{Roles: []Role{RoleApprover}}
		approver.TenantID, approver.ObjectID = "t", "approver"
		if err := CheckDecide(&x, approver, now); ErrorCode(err) != ECONFLICT || ErrorMessage(err) != DisputedSentence {
			t.Errorf("decide a disputed request: %v", err)
		}
		agent := Principal{Roles: []Role{RoleRequester}}
		agent.TenantID, agent.ObjectID = "t", "agent"
		if err := CheckReveal(&x, agent, now); ErrorCode(err) != ECONFLICT || ErrorMessage(err) != DisputedSentence {
			t.Errorf("reveal a disputed request: %v", err)
		}
	})
}

func TestDisputeAlertRecipients(t *testing.T) {
	r := &Request{Requester: Actor{UPN: "alex@x"}, TargetUPN: "avery@x",
		Approvals: []Approval{{Approver: Actor{UPN: "Blake@X"}}}}
	got := DisputeAlertRecipients(r, []string{"avery@x", " blake@x", "casey@x"}, []string{"sec@x", "ALEX@x", ""})
	want := []string{"alex@x", "blake@x", "casey@x", "sec@x"}
	if !slices.Equal(got, want) {
		t.Errorf("got %v, want %v (the target is not alerted, each address once)", got, want)
	}
}
