package tapdesk_test

import (
	"strings"
	"testing"
	"time"

	"github.com/tapdesk/tapdesk"
)

// unisolated drops the isolates IsolateName puts around names.
var unisolated = strings.NewReplacer("\u2068", "", "\u2069", "").Replace

func TestStatusOf(t *testing.T) {
	now := time.Date(2026, 11, 29, 13, 5, 0, 0, time.UTC)
	t.Run("denied names who and why, and offers filing again to agents only", func(t *testing.T) {
		r := request(tapdesk.StateDenied)
		r.Approvals = []tapdesk.Approval{{Approver: tapdesk.Actor{Name: "Avery"}, Decision: tapdesk.DecisionDeny, Reason: "wrong number", CreatedAt: now}}
		s := tapdesk.StatusOf(r, nil, requester, now)
		if unisolated(s.Reason) != "Denied by Avery on 2026-11-29 13:05 UTC: wrong number" || !s.Refile || s.Live {
			t.Errorf("%+v", s)
		}
		if s := tapdesk.StatusOf(r, nil, auditor, now); s.Refile || s.Next != "" || s.Reason == "" {
			t.Errorf("auditor: %+v", s)
		}
	})
	t.Run("expired reads the expiry event", func(t *testing.T) {
		r := request(tapdesk.StateExpired)
		ev := []tapdesk.Event{{Activity: tapdesk.ActRequestExpired, Reason: "No decision before X.", Time: now}}
		if s := tapdesk.StatusOf(r, ev, requester, now); s.Reason != "No decision before X." {
			t.Errorf("%+v", s)
		}
	})
	t.Run("cancelled is not failed", func(t *testing.T) {
		c := tapdesk.StatusOf(request(tapdesk.StateCancelled), []tapdesk.Event{{Activity: tapdesk.ActRequestCancel, Actor: tapdesk.Actor{Name: "Alex"}, Time: now}}, requester, now)
		f := request(tapdesk.StateFailed)
		f.FailureReason = "Graph said no."
		fs := tapdesk.StatusOf(f, nil, requester, now)
		if !strings.HasPrefix(unisolated(c.Reason), "Cancelled by Alex on ") || fs.Reason != "Graph said no." || c.Headline == fs.Headline {
			t.Errorf("cancelled %+v failed %+v", c, fs)
		}
	})
	t.Run("approved: the agent issues, others wait for them", func(t *testing.T) {
		r := request(tapdesk.StateApproved)
		r.ExpiresAt = now.Add(time.Hour)
		if s := tapdesk.StatusOf(r, nil, requester, now); !s.Issue || !s.Live {
			t.Errorf("requester: %+v", s)
		}
		if s := tapdesk.StatusOf(r, nil, approver, now); s.Issue || !strings.HasPrefix(s.Next, "Waiting for ") {
			t.Errorf("approver: %+v", s)
		}
	})
}

func TestRefileDraftLeavesTheCallerCheckOut(t *testing.T) {
	r := request(tapdesk.StateDenied)
	r.TicketRef, r.Justification, r.VerificationMethod, r.VerificationNote = "INC-1", "Lost phone", tapdesk.VerifyCallback, "called +1 555"
	r.LifetimeMinutes, r.UsableOnce = 600, false
	pol := &tapdesk.TAPPolicy{DefaultLifetime: 60, MinLifetime: 60, MaxLifetime: 480}
	d := tapdesk.RefileDraft(r, pol)
	if d.TicketRef != "INC-1" || d.Justification != "Lost phone" || d.Verification != tapdesk.VerifyCallback || d.VerificationNote != "" || d.StartAt != "" {
		t.Errorf("%+v", d)
	}
	if d.Lifetime != "60" { // 600 is outside the policy now: its default
		t.Errorf("lifetime %q", d.Lifetime)
	}
	r.LifetimeMinutes = 120
	if d := tapdesk.RefileDraft(r, pol); d.Lifetime != "120" || d.UsableOnce {
		t.Errorf("%+v", d)
	}
}

func TestPassWordsFor(t *testing.T) {
	now := time.Date(2026, 11, 29, 13, 5, 0, 0, time.UTC)
	w := tapdesk.PassWordsFor(now, now.Add(time.Hour), true, now)
	if w.Lasts != "for the next 60 minutes" || !strings.Contains(w.Uses, "one sign-in only") {
		t.Errorf("%+v", w)
	}
	w = tapdesk.PassWordsFor(now.Add(2*time.Hour), now.Add(6*time.Hour), false, now)
	if w.Lasts != "from 2026-11-29 15:05 UTC, for 4 hours" || strings.Contains(w.Uses, "one sign-in") {
		t.Errorf("%+v", w)
	}
}
