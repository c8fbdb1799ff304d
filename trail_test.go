package tapdesk_test

import (
	"strings"
	"testing"
	"time"

	"github.com/tapdesk/tapdesk"
)

var (
	appr2  = tapdesk.Principal{TenantID: "t", ObjectID: "appr2", Roles: []tapdesk.Role{tapdesk.RoleApprover}}
	target = tapdesk.Actor{TenantID: "t", ObjectID: "target"}
)

// trailOf builds a request's events: filed by requester for "target",
// needing `required` approvals, then one event per step.
func trailOf(required string, steps ...tapdesk.Event) []tapdesk.Event {
	evs := []tapdesk.Event{{Activity: tapdesk.ActRequestFiled, Actor: requester.Actor(), TargetID: "target",
		Details: map[string]string{"approvals_required": required, "lifetime_minutes": "60", "usable_once": "true"}}}
	evs = append(evs, steps...)
	for i := range evs {
		evs[i].Seq = int64(10 + i)
		evs[i].RequestID = "r"
	}
	return evs
}

func approveBy(a tapdesk.Actor) tapdesk.Event {
	return tapdesk.Event{Activity: tapdesk.ActApprove, Actor: a}
}

func storedRequest(state tapdesk.State, required int, approvers ...tapdesk.Actor) *tapdesk.Request {
	r := request(state)
	r.ApprovalsRequired, r.LifetimeMinutes, r.UsableOnce = required, 60, true
	for _, a := range approvers {
		r.Approvals = append(r.Approvals, tapdesk.Approval{Approver: a, Decision: tapdesk.DecisionApprove})
	}
	return r
}

func TestCheckIssueEvidence(t *testing.T) {
	a1, a2 := approver.Actor(), appr2.Actor()
	cases := []struct {
		name       string
		r          *tapdesk.Request
		events     []tapdesk.Event
		unverified []int64
		want       string // part of the finding; "" holds
	}{
		{"one approval of one", storedRequest(tapdesk.StateApproved, 1, a1), trailOf("1", approveBy(a1)), nil, ""},
		{"two approvals of two", storedRequest(tapdesk.StateApproved, 2, a1, a2), trailOf("2", approveBy(a1), approveBy(a2)), nil, ""},
		{"a claim released after throttling stays approved", storedRequest(tapdesk.StateApproved, 1, a1), trailOf("1", approveBy(a1),
			tapdesk.Event{Activity: tapdesk.ActIssueStart, Actor: requester.Actor()},
			tapdesk.Event{Activity: tapdesk.ActIssueAttempt, Result: tapdesk.ResultFailure, Details: map[string]string{"request_kept": "approved"}}), nil, ""},
		{"unknown activities change nothing", storedRequest(tapdesk.StateApproved, 1, a1), trailOf("1", approveBy(a1),
			tapdesk.Event{Activity: "Something a later version does"}), nil, ""},

		{"state set to approved without approvals", storedRequest(tapdesk.StateApproved, 1), trailOf("1"), nil,
			"is approved but its trail holds 0 of 1 required approvals"},
		{"a forged approvals row", storedRequest(tapdesk.StateApproved, 1, a1), trailOf("1"), nil,
			"holds 0 of 1 required approvals"},
		{"a forged approvals row is named", storedRequest(tapdesk.StateApproved, 1, a1), trailOf("1"), nil,
			"approvals by " + a1.ObjectID + " that no signed approval event backs"},
		{"an approval event whose mac does not check out", storedRequest(tapdesk.StateApproved, 1, a1), trailOf("1"), []int64{12},
			"event 12, in the audit trail since request r was filed, is missing or does not check out"},
		{"required lowered from 2 to 1 after one approval", storedRequest(tapdesk.StateApproved, 1, a1), trailOf("2", approveBy(a1)), nil,
			"needs 1 approvals in the database but 2 in its signed filing event"},
		{"approval by the requester does not count", storedRequest(tapdesk.StateApproved, 1, requester.Actor()), trailOf("1", approveBy(requester.Actor())), nil,
			"is an approval by the agent who filed the request"},
		{"approval by the target does not count", storedRequest(tapdesk.StateApproved, 1, target), trailOf("1", approveBy(target)), nil,
			"by the person the pass is for"},
		{"the same approver twice counts once", storedRequest(tapdesk.StateApproved, 2, a1, a1), trailOf("2", approveBy(a1), approveBy(a1)), nil,
			"a second approval by the same approver"},
		{"target changed in the database", func() *tapdesk.Request {
			r := storedRequest(tapdesk.StateApproved, 1, a1)
			r.TargetID = "global-admin"
			return r
		}(), trailOf("1", approveBy(a1)), nil, "is for user global-admin in the database but was filed for user target"},
		{"requester changed in the database", func() *tapdesk.Request {
			r := storedRequest(tapdesk.StateApproved, 1, a1)
			r.Requester = stranger.Actor()
			return r
		}(), trailOf("1", approveBy(a1)), nil, "names other as its requester"},
		{"lifetime raised in the database", func() *tapdesk.Request {
			r := storedRequest(tapdesk.StateApproved, 1, a1)
			r.LifetimeMinutes = 480
			return r
		}(), trailOf("1", approveBy(a1)), nil, "asks for a 480-minute pass"},
		{"a cancelled request set back to approved", storedRequest(tapdesk.StateApproved, 1, a1),
			trailOf("1", approveBy(a1), tapdesk.Event{Activity: tapdesk.ActRequestCancel, Actor: requester.Actor()}), nil,
			"is approved but its events leave it cancelled"},
		{"a denied request set to approved", storedRequest(tapdesk.StateApproved, 2, a1),
			trailOf("2", approveBy(a1), tapdesk.Event{Activity: tapdesk.ActDeny, Actor: a2}), nil, "its events leave it denied"},
		{"no filing event", storedRequest(tapdesk.StateApproved, 1, a1), []tapdesk.Event{{Seq: 3, Activity: tapdesk.ActApprove, Actor: a1}}, nil,
			`its trail holds no "File request" event`},
		{"filing event without a count", storedRequest(tapdesk.StateApproved, 1, a1), trailOf("", approveBy(a1)), nil,
			"does not record how many approvals"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			finding, err := tapdesk.CheckIssueEvidence(tc.r, tc.events, tc.unverified)
			if tc.want == "" {
				if err != nil || finding != "" {
					t.Fatalf("refused a sound request: %q %v", finding, err)
				}
				return
			}
			if err == nil || tapdesk.ErrorCode(err) != tapdesk.EFORBIDDEN {
				t.Fatalf("not refused (finding %q, err %v)", finding, err)
			}
			if !strings.Contains(finding, tc.want) {
				t.Errorf("finding %q lacks %q", finding, tc.want)
			}
			if msg := tapdesk.ErrorMessage(err); !strings.Contains(msg, "will not issue this pass") {
				t.Errorf("refusal %q", msg)
			}
		})
	}
}

// The replay follows every path the handlers and sweeps take.
func TestReplayRequest(t *testing.T) {
	a1 := approver.Actor()
	cases := []struct {
		name   string
		events []tapdesk.Event
		want   tapdesk.State
	}{
		{"filed", trailOf("1"), tapdesk.StatePending},
		{"one of two approvals", trailOf("2", approveBy(a1)), tapdesk.StatePending},
		{"issued", trailOf("1", approveBy(a1), tapdesk.Event{Activity: tapdesk.ActIssueStart},
			tapdesk.Event{Activity: tapdesk.ActIssueAttempt}, tapdesk.Event{Activity: tapdesk.ActReveal}), tapdesk.StateIssued},
		{"failed", trailOf("1", approveBy(a1), tapdesk.Event{Activity: tapdesk.ActIssueAttempt, Result: tapdesk.ResultFailure}), tapdesk.StateFailed},
		{"revoked", trailOf("1", approveBy(a1), tapdesk.Event{Activity: tapdesk.ActIssueAttempt}, tapdesk.Event{Activity: tapdesk.ActRevoke}), tapdesk.StateRevoked},
		{"a failed revoke changes nothing", trailOf("1", approveBy(a1), tapdesk.Event{Activity: tapdesk.ActIssueAttempt},
			tapdesk.Event{Activity: tapdesk.ActRevoke, Result: tapdesk.ResultFailure}), tapdesk.StateIssued},
		{"loop closed", trailOf("1", approveBy(a1), tapdesk.Event{Activity: tapdesk.ActIssueAttempt}, tapdesk.Event{Activity: tapdesk.ActLoopRemoved}), tapdesk.StateRevoked},
		{"expired while pending", trailOf("1", tapdesk.Event{Activity: tapdesk.ActRequestExpired}), tapdesk.StateExpired},
		{"denied", trailOf("1", tapdesk.Event{Activity: tapdesk.ActDeny, Actor: a1}), tapdesk.StateDenied},
		{"refusals and mail change nothing", trailOf("1", tapdesk.Event{Activity: tapdesk.ActRevealRefused, Result: tapdesk.ResultFailure},
			tapdesk.Event{Activity: tapdesk.ActMailQueued}, tapdesk.Event{Activity: tapdesk.ActTamperDetected, Result: tapdesk.ResultFailure}), tapdesk.StatePending},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			// Out of order on purpose: the replay goes by seq.
			evs := append([]tapdesk.Event{}, tc.events[len(tc.events)-1])
			evs = append(evs, tc.events[:len(tc.events)-1]...)
			tr := tapdesk.ReplayRequest(evs)
			if tr.State != tc.want || len(tr.Problems) > 0 {
				t.Fatalf("state %s, problems %v; want %s", tr.State, tr.Problems, tc.want)
			}
		})
	}
	tr := tapdesk.ReplayRequest(trailOf("1", approveBy(a1), tapdesk.Event{Activity: tapdesk.ActIssueAttempt},
		tapdesk.Event{Activity: tapdesk.ActRequestCancel}))
	if len(tr.Problems) != 1 || !strings.Contains(tr.Problems[0], "from issued to cancelled, which the state machine does not allow") {
		t.Errorf("an impossible move: %v", tr.Problems)
	}
}

func TestReplayReads(t *testing.T) {
	for _, a := range []tapdesk.Activity{tapdesk.ActRequestFiled, tapdesk.ActApprove, tapdesk.ActDeny, tapdesk.ActIssueAttempt,
		tapdesk.ActRequestCancel, tapdesk.ActRequestExpired, tapdesk.ActRevoke, tapdesk.ActLoopRemoved} {
		if !tapdesk.ReplayReads(a) {
			t.Errorf("%s is not read", a)
		}
	}
	for _, a := range []tapdesk.Activity{tapdesk.ActMailQueued, tapdesk.ActIssueStart, tapdesk.ActReveal, tapdesk.ActTamperDetected, "Unknown"} {
		if tapdesk.ReplayReads(a) {
			t.Errorf("%s is read, yet changes nothing", a)
		}
		// And indeed it changes nothing.
		tr := tapdesk.ReplayRequest(trailOf("1", tapdesk.Event{Activity: a}))
		if tr.State != tapdesk.StatePending || len(tr.Problems) > 0 {
			t.Errorf("%s: %s %v", a, tr.State, tr.Problems)
		}
	}
}

// The pass id and the decision deadline come from the signed events: a
// stored request that names another pass, or a later deadline, is named.
func TestTrailPassAndExpiry(t *testing.T) {
	exp := time.Date(2026, 11, 24, 10, 0, 0, 123456000, time.UTC)
	evs := trailOf("1", approveBy(approver.Actor()),
		tapdesk.Event{Activity: tapdesk.ActIssueAttempt, TAPMethodID: "real-pass", Time: exp.Add(-time.Hour)})
	evs[0].Details["expires"] = exp.Format(time.RFC3339Nano)
	r := storedRequest(tapdesk.StateIssued, 1, approver.Actor())
	r.ExpiresAt, r.TAPMethodID = exp, "real-pass"
	tr := tapdesk.ReplayRequest(evs)
	if m := tr.Mismatches(r); len(m) != 0 || tr.TAPMethodID != "real-pass" || !tr.IssuedAt.Equal(exp.Add(-time.Hour)) {
		t.Fatalf("sound: %q %+v", m, tr)
	}
	r.TAPMethodID, r.ExpiresAt = "made-up", exp.Add(24*time.Hour)
	m := strings.Join(tr.Mismatches(r), "; ")
	if !strings.Contains(m, `names pass "made-up" in the database, but its signed issue event names pass "real-pass"`) ||
		!strings.Contains(m, "expires at 2026-11-25T10:00:00Z in the database but was filed to expire at 2026-11-24T10:00:00Z") {
		t.Fatalf("findings: %s", m)
	}
	// A filing event from before "expires" was recorded is not compared.
	delete(evs[0].Details, "expires")
	r.TAPMethodID = "real-pass"
	if m := tapdesk.ReplayRequest(evs).Mismatches(r); len(m) != 0 {
		t.Fatalf("an older filing event: %q", m)
	}
}
