package tapdesk

import (
	"strings"
	"testing"
	"time"
)

func TestPrivileged(t *testing.T) {
	u := &DirectoryUser{}
	if u.Privileged() || u.ApprovalsRequired() != 1 {
		t.Error("a user without roles is privileged")
	}
	u.Roles = []string{"Authentication Administrator"}
	if !u.Privileged() || u.ApprovalsRequired() != 2 {
		t.Error("a role holder is not privileged")
	}

	approver := &DirectoryUser{TapdeskRoles: []string{"Tap.Approver"}}
	if !approver.Privileged() || approver.ApprovalsRequired() != 2 {
		t.Error("a holder of Tap.Approver needs one approver: one approval would make a new approver")
	}
	if got := approver.PrivilegeReason(); got != "holds Tap.Approver in tapdesk" {
		t.Errorf("reason %q", got)
	}
	approver.Roles = []string{"Global Administrator"}
	if got := approver.PrivilegeReason(); got != "holds Global Administrator and holds Tap.Approver in tapdesk" {
		t.Errorf("combined reason %q", got)
	}
}

func TestGraphErrorSentences(t *testing.T) {
	for _, tc := range []struct {
		err  GraphError
		want string
	}{
		{GraphError{Kind: GraphThrottled, RetryAfter: 150 * time.Second}, "try again in 3 minutes."},
		{GraphError{Kind: GraphThrottled, RetryAfter: 30 * time.Second}, "try again in 30 seconds."},
		{GraphError{Kind: GraphThrottled, RetryAfter: 2 * time.Second}, "try again in a few seconds."},
		{GraphError{Kind: GraphThrottled}, "try again in a minute."},
		{GraphError{Kind: GraphThrottled, RetryAfter: 3 * time.Hour}, "try again in 3 hours."},
		{GraphError{Kind: GraphAnswerLost, OrphanMethodID: "m1"}, "so tapdesk deleted that pass: nobody knows it and nothing was issued. Try again."},
		{GraphError{Kind: GraphAnswerLostPassLeft}, "could not delete it"},
		{GraphError{Kind: GraphOutcomeUnknown}, "could not check whether it created a pass"},
	} {
		got := tc.err.UserMessage()
		if !strings.Contains(got, tc.want) {
			t.Errorf("%s %v: %q lacks %q", tc.err.Kind, tc.err.RetryAfter, got, tc.want)
		}
		if tc.err.DomainCode() != EUNAVAILABLE {
			t.Errorf("%s: domain code %s", tc.err.Kind, tc.err.DomainCode())
		}
	}
}
