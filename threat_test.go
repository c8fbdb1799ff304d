package tapdesk

import (
	"errors"
	"strings"
	"testing"
	"time"
)

// TestThreatModeRules: each rule the mode changes, off and on, including a
// request filed before the switch.
func TestThreatModeRules(t *testing.T) {
	on := ThreatMode{On: true, Since: time.Date(2026, 11, 29, 6, 0, 0, 0, time.UTC)}
	off := ThreatMode{}
	ordinary := &DirectoryUser{ID: "u1", DisplayName: "Nina", AccountEnabled: true}
	admin := &DirectoryUser{ID: "u2", DisplayName: "Grace", AccountEnabled: true, Roles: []string{"Global Administrator"}}
	pol := &TAPPolicy{Enabled: true, MinLifetime: 30, MaxLifetime: 480}

	if off.ApprovalsRequired(ordinary) != 1 || on.ApprovalsRequired(ordinary) != 2 || on.ApprovalsRequired(admin) != 2 {
		t.Error("approvals required")
	}
	if CheckThreatFile(off, admin) != nil || CheckThreatFile(on, ordinary) != nil {
		t.Error("filing refused where it should not be")
	}
	if err := CheckThreatFile(on, admin); ErrorCode(err) != EFORBIDDEN || ErrorTitle(err) != "Refused in heightened-threat mode" ||
		!strings.Contains(ErrorMessage(err), "Global Administrator") {
		t.Errorf("privileged filing: %v", err)
	}

	d := RequestDraft{Lifetime: "480"}
	off.ClampDraft(&d, pol)
	if d.Lifetime != "480" || d.UsableOnce {
		t.Errorf("off clamps: %+v", d)
	}
	on.ClampDraft(&d, pol)
	if d.Lifetime != "30" || !d.UsableOnce {
		t.Errorf("on does not clamp: %+v", d)
	}
	if s := on.ClampSpec(TAPSpec{LifetimeMinutes: 120}, pol); s.LifetimeMinutes != 30 || !s.UsableOnce {
		t.Errorf("spec %+v", s)
	}

	filedBefore := &Request{ApprovalsRequired: 1, TargetName: "Nina"}
	filedBeforePrivileged := &Request{ApprovalsRequired: 2, TargetName: "Grace", PrivilegeReason: "holds Global Administrator"}
	filedUnder := &Request{ApprovalsRequired: 2, TargetName: "Nina"}
	if CheckThreatApprove(off, filedBefore) != nil || CheckThreatApprove(on, filedUnder) != nil {
		t.Error("approval refused where it should not be")
	}
	if err := CheckThreatApprove(on, filedBefore); ErrorCode(err) != ECONFLICT {
		t.Errorf("one-approval request approved under the mode: %v", err)
	}
	if err := CheckThreatApprove(on, filedBeforePrivileged); ErrorCode(err) != EFORBIDDEN {
		t.Errorf("privileged request approved under the mode: %v", err)
	}
	if err := CheckThreatIssue(on, filedBefore, ordinary); ErrorCode(err) != ECONFLICT {
		t.Errorf("one-approval request issued under the mode: %v", err)
	}
	if err := CheckThreatIssue(on, filedBeforePrivileged, admin); ErrorCode(err) != EFORBIDDEN {
		t.Errorf("privileged request issued under the mode: %v", err)
	}
	// A target who became privileged after filing under the mode.
	if err := CheckThreatIssue(on, filedUnder, admin); ErrorCode(err) != EFORBIDDEN {
		t.Errorf("target privileged now: %v", err)
	}
	if CheckThreatIssue(on, filedUnder, ordinary) != nil || CheckThreatIssue(off, filedBefore, admin) != nil {
		t.Error("issue refused where it should not be")
	}
}

// TestThreatSwitchRules: only admins switch, with a reason, and never off
// while the setting forces it on.
func TestThreatSwitchRules(t *testing.T) {
	adm := Principal{ObjectID: "a", Roles: []Role{RoleAdmin}}
	agent := Principal{ObjectID: "b", Roles: []Role{RoleRequester}}
	const why = "Vishing wave against the helpdesk"
	if err := CheckThreatSwitch(agent, ThreatMode{}, true, why); ErrorCode(err) != EFORBIDDEN {
		t.Errorf("agent: %v", err)
	}
	if err := CheckThreatSwitch(adm, ThreatMode{}, true, "short"); ErrorCode(err) != EINVALID {
		t.Errorf("short reason: %v", err)
	}
	if err := CheckThreatSwitch(adm, ThreatMode{}, true, "Reason with a hidden\u202echaracter"); ErrorCode(err) != EINVALID {
		t.Errorf("hidden character: %v", err)
	}
	if err := CheckThreatSwitch(adm, ThreatMode{On: true, Forced: true}, false, why); ErrorCode(err) != ECONFLICT {
		t.Errorf("forced off: %v", err)
	}
	if err := CheckThreatSwitch(adm, ThreatMode{On: true}, true, why); ErrorCode(err) != ECONFLICT {
		t.Errorf("on twice: %v", err)
	}
	if err := CheckThreatSwitch(adm, ThreatMode{}, true, why); err != nil {
		t.Errorf("admin with a reason: %v", err)
	}
}

// TestThreatSwitchSignIn: switching off lowers every guard, so it needs
// the sign-in an approval needs (recent, with MFA); switching on does not.
func TestThreatSwitchSignIn(t *testing.T) {
	now := time.Date(2026, 11, 29, 9, 0, 0, 0, time.UTC)
	fresh := Principal{ObjectID: "a", Roles: []Role{RoleAdmin}, MFA: true, AuthTime: now.Add(-time.Minute)}
	stale := fresh
	stale.AuthTime = now.Add(-time.Hour)
	noMFA := fresh
	noMFA.MFA = false
	for _, c := range []struct {
		name string
		p    Principal
		on   bool
		want string
	}{
		{"on with a stale sign-in", stale, true, ""},
		{"on without MFA", noMFA, true, ""},
		{"off with a fresh MFA sign-in", fresh, false, ""},
		{"off with a stale sign-in", stale, false, EUNAUTHORIZED},
		{"off without MFA", noMFA, false, EFORBIDDEN},
	} {
		t.Run(c.name, func(t *testing.T) {
			if got := ErrorCode(CheckThreatSwitchSignIn(c.p, c.on, 15*time.Minute, true, now)); got != c.want {
				t.Errorf("got %q, want %q", got, c.want)
			}
		})
	}
	if n := ThreatOffSignInNote(15*time.Minute, true, true); !strings.Contains(n, "15 minutes") || !strings.Contains(n, "multi-factor") || !strings.Contains(n, "by mail") {
		t.Errorf("note %q", n)
	}
	if n := ThreatOffSignInNote(15*time.Minute, true, false); !strings.Contains(n, "not mailed") || strings.Contains(n, "alerted") {
		t.Errorf("note without security addresses %q", n)
	}
}

// The sentence after a switch off says what became of its alert, never
// more than happened.
func TestThreatOffAlertSentence(t *testing.T) {
	for _, c := range []struct {
		raised, mailed, addresses bool
		want                      string
	}{
		{true, true, true, "The security team has been alerted by mail."},
		{false, false, true, "The switch is recorded; the alert will be raised and mailed at the next check."},
		{true, false, false, "The alert is recorded but not mailed: no security addresses are set (TAPDESK_SECURITY_EMAILS)."},
		{false, false, false, "The alert will be recorded at the next check, but not mailed: no security addresses are set (TAPDESK_SECURITY_EMAILS)."},
	} {
		if got := ThreatOffAlertSentence(c.raised, c.mailed, c.addresses); got != c.want {
			t.Errorf("raised %v, mailed %v, addresses %v: %q, want %q", c.raised, c.mailed, c.addresses, got, c.want)
		}
	}
}

// TestHoldThreatMode: the stored mode stands only where the trail's last
// signed switch explains it; otherwise the mode is held on, with a finding.
// When, by whom and why are the signed switch's wherever there is one: the
// row's words are shown only when the trail holds no switch.
func TestHoldThreatMode(t *testing.T) {
	at := time.Date(2026, 11, 29, 9, 0, 0, 0, time.UTC)
	ada := Actor{ObjectID: "oid-ada", Name: "Ada Admin"}
	off := ThreatMode{Reason: "wave over", Since: at.Add(time.Hour), By: Actor{Name: "Forged Name"}}
	on := ThreatMode{On: true, Reason: "vishing wave", Since: at, By: ada}
	switchedOn := ThreatSwitch{Seq: 7, On: true, Verified: true, Time: at, By: ada, Reason: "vishing wave"}
	switchedOff := ThreatSwitch{Seq: 9, On: false, Verified: true, Time: at.Add(2 * time.Hour), By: ada, Reason: "wave over"}
	edited := switchedOff
	edited.Verified = false
	for _, tc := range []struct {
		name        string
		stored      ThreatMode
		last        *ThreatSwitch
		wantOn      bool
		wantFinding string
		wantShown   ThreatMode // Since, By and Reason shown
	}{
		{"never switched", off, nil, false, "", off},
		{"switch pruned, on", on, nil, true, "", on},
		{"agrees, on", on, &switchedOn, true, "", on},
		{"agrees, off", off, &switchedOff, false, "", ThreatMode{Since: switchedOff.Time, By: ada, Reason: "wave over"}},
		{"row switched off behind tapdesk", off, &switchedOn, true,
			"the stored heightened-threat mode says off, but the last switch in the audit trail (event 7) turned it on", on},
		{"row switched on behind tapdesk", on, &switchedOff, true,
			"the stored heightened-threat mode says on, but the last switch in the audit trail (event 9) turned it off", ThreatMode{}},
		{"switch event edited", off, &edited, true,
			"the last switch of heightened-threat mode in the audit trail (event 9) does not verify", ThreatMode{}},
		{"row unreadable", ThreatMode{Unreadable: "changed_at holds a value tapdesk never writes"}, &switchedOn, true,
			"the stored heightened-threat mode cannot be read: changed_at holds a value tapdesk never writes", on},
		{"row deleted, never switched", ThreatMode{Missing: true}, nil, true,
			"the stored heightened-threat mode is missing from the database", ThreatMode{}},
		{"row deleted while on", ThreatMode{Missing: true}, &switchedOn, true,
			"the stored heightened-threat mode is missing from the database", on},
	} {
		m, finding := HoldThreatMode(tc.stored, tc.last)
		if m.On != tc.wantOn || finding != tc.wantFinding || m.Held != finding {
			t.Errorf("%s: on %v, held %q, finding %q; want on %v, finding %q", tc.name, m.On, m.Held, finding, tc.wantOn, tc.wantFinding)
		}
		if !m.Since.Equal(tc.wantShown.Since) || m.By != tc.wantShown.By || m.Reason != tc.wantShown.Reason {
			t.Errorf("%s: shows since %v by %+v for %q; want since %v by %+v for %q", tc.name, m.Since, m.By, m.Reason,
				tc.wantShown.Since, tc.wantShown.By, tc.wantShown.Reason)
		}
		if banner := m.Banner(); (finding != "") != strings.Contains(banner, "held on") {
			t.Errorf("%s: banner %q", tc.name, banner)
		}
	}
}

// The mode steps act under: a failed read refuses unless the setting
// forces the mode on, which needs no row; the setting forces a row read
// off on.
func TestThreatModeInForce(t *testing.T) {
	since := time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC)
	stored := ThreatMode{On: true, Since: since, Reason: "vishing wave"}
	broken := errors.New("no such table: threat_mode")
	for _, tc := range []struct {
		name    string
		stored  ThreatMode
		err     error
		forced  bool
		want    ThreatMode
		refused bool
	}{
		{"read, not forced", stored, nil, false, stored, false},
		{"read off, forced", ThreatMode{}, nil, true, ThreatMode{On: true, Forced: true}, false},
		{"read on, forced", stored, nil, true, ThreatMode{On: true, Since: since, Reason: "vishing wave", Forced: true}, false},
		{"unreadable, not forced", ThreatMode{}, broken, false, ThreatMode{}, true},
		{"unreadable, forced", ThreatMode{}, broken, true, ThreatMode{On: true, Forced: true, ReadFailed: true}, false},
	} {
		got, err := ThreatModeInForce(tc.stored, tc.err, tc.forced)
		if (err != nil) != tc.refused || got != tc.want {
			t.Errorf("%s: %+v, %v; want %+v, refused %v", tc.name, got, err, tc.want, tc.refused)
		}
		if tc.refused && ErrorMessage(err) != ThreatModeUnreadSentence {
			t.Errorf("%s: refused with %q", tc.name, ErrorMessage(err))
		}
	}
}
