package tapdesk_test

import (
	"strings"
	"testing"
	"time"

	"github.com/tapdesk/tapdesk"
)

func TestIssueClaimLease(t *testing.T) {
	claimed := now
	// The lease must outlast a reveal's Graph work: a create bounded at 60 s
	// and the look and clean-up after a lost answer, 30 s each.
	if tapdesk.IssueClaimLease < 2*(60+30+30)*time.Second {
		t.Errorf("lease %v does not comfortably exceed a reveal's Graph work", tapdesk.IssueClaimLease)
	}
	for _, tc := range []struct {
		at    time.Duration
		stale bool
	}{{0, false}, {time.Minute, false}, {tapdesk.IssueClaimLease - time.Microsecond, false}, {tapdesk.IssueClaimLease, true}, {time.Hour, true}} {
		if got := tapdesk.ClaimStale(claimed, claimed.Add(tc.at)); got != tc.stale {
			t.Errorf("claim %v old: stale %v, want %v", tc.at, got, tc.stale)
		}
	}
}

func TestClaimMayHaveCreated(t *testing.T) {
	claimed := now
	for _, tc := range []struct {
		name    string
		created time.Time
		want    bool
	}{
		{"during the reveal", claimed.Add(2 * time.Second), true},
		{"Graph's clock a little behind", claimed.Add(-30 * time.Second), true},
		{"well before the claim", claimed.Add(-tapdesk.ClaimClockSkew - time.Second), false},
		{"at the end of the lease", claimed.Add(tapdesk.IssueClaimLease), true},
		{"after the lease (a later reveal's)", claimed.Add(tapdesk.IssueClaimLease + time.Second), false},
	} {
		if got := tapdesk.ClaimMayHaveCreated(claimed, tc.created); got != tc.want {
			t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestClosesLoop(t *testing.T) {
	// Graph stamped the pass with fractions; tapdesk recorded its issue a
	// little later; Graph stamps the passkey in whole seconds.
	passCreated := time.Date(2026, 11, 23, 10, 0, 7, 800_000_000, time.UTC)
	fido := func(created time.Time) tapdesk.AuthMethod {
		return tapdesk.AuthMethod{Kind: "fido2", CreatedAt: created}
	}
	for _, tc := range []struct {
		name string
		m    tapdesk.AuthMethod
		want bool
	}{
		{"registered minutes after the pass", fido(passCreated.Add(3 * time.Minute)), true},
		{"registered in the pass's second", fido(passCreated.Truncate(time.Second)), true},
		{"stamped a little before, within tolerance", fido(passCreated.Truncate(time.Second).Add(-tapdesk.LoopTolerance)), true},
		{"registered before the pass (the lost key)", fido(passCreated.Add(-time.Hour)), false},
		{"just outside the tolerance", fido(passCreated.Truncate(time.Second).Add(-tapdesk.LoopTolerance - time.Second)), false},
		{"not strong", tapdesk.AuthMethod{Kind: "phone", CreatedAt: passCreated.Add(time.Minute)}, false},
		{"no stamp", fido(time.Time{}), false},
	} {
		if got := tc.m.ClosesLoop(passCreated); got != tc.want {
			t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
		}
	}
	if fido(passCreated).ClosesLoop(time.Time{}) {
		t.Error("a pass without a creation time closes the loop")
	}
}

func TestPassCreatedAt(t *testing.T) {
	issued := now.Add(time.Second)
	graph := now.Add(300 * time.Millisecond)
	r := &tapdesk.Request{IssuedAt: &issued}
	if got := r.PassCreatedAt(); !got.Equal(issued) {
		t.Errorf("without Graph's stamp: %v, want the issue time", got)
	}
	r.TAPCreatedAt = &graph
	if got := r.PassCreatedAt(); !got.Equal(graph) {
		t.Errorf("with Graph's stamp: %v", got)
	}
}

func TestNothingCreatedKeepsTheRequest(t *testing.T) {
	for kind, want := range map[tapdesk.GraphErrorKind]bool{
		tapdesk.GraphNothingCreated: true, tapdesk.GraphThrottled: true, tapdesk.GraphAnswerLost: true,
		tapdesk.GraphUnavailable: false, tapdesk.GraphOutcomeUnknown: false, tapdesk.GraphAnswerLostPassLeft: false,
		tapdesk.GraphPolicyDisallows: false, tapdesk.GraphBadRequest: false,
	} {
		if got := (&tapdesk.GraphError{Kind: kind}).NothingIssuedTryAgain(); got != want {
			t.Errorf("%s: NothingIssuedTryAgain %v, want %v", kind, got, want)
		}
	}
	msg := (&tapdesk.GraphError{Kind: tapdesk.GraphNothingCreated, Status: 503}).UserMessage()
	for _, want := range []string{"none was created", "nothing was issued", "Try again"} {
		if !strings.Contains(msg, want) {
			t.Errorf("message lacks %q: %s", want, msg)
		}
	}
}

func TestIsPassOfIssue(t *testing.T) {
	issued := time.Date(2026, 11, 23, 10, 0, 7, 0, time.UTC)
	pass := func(created time.Time) tapdesk.AuthMethod {
		return tapdesk.AuthMethod{Kind: "temporaryAccessPass", CreatedAt: created, TAP: &tapdesk.TAPInfo{}}
	}
	for _, tc := range []struct {
		name string
		m    tapdesk.AuthMethod
		want bool
	}{
		{"created at the issue", pass(issued), true},
		{"Graph's clock a minute behind", pass(issued.Add(-tapdesk.ClaimClockSkew)), true},
		{"created an hour later (another pass)", pass(issued.Add(time.Hour)), false},
		{"not a pass", tapdesk.AuthMethod{Kind: "fido2", CreatedAt: issued}, false},
		{"no stamp", pass(time.Time{}), false},
	} {
		if got := tc.m.IsPassOfIssue(issued); got != tc.want {
			t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
		}
	}
}

// A create goes by a read of the passes begun at most PriorTAPsFresh
// before it; an untimed read or none at all is read again.
func TestPriorTAPsFreshAt(t *testing.T) {
	read := &tapdesk.PriorTAPs{ReadAt: now}
	for _, c := range []struct {
		p    *tapdesk.PriorTAPs
		at   time.Time
		want bool
	}{
		{read, now, true},
		{read, now.Add(tapdesk.PriorTAPsFresh), true},
		{read, now.Add(tapdesk.PriorTAPsFresh + time.Millisecond), false},
		{&tapdesk.PriorTAPs{}, now, false},
		{nil, now, false},
	} {
		if got := c.p.FreshAt(c.at); got != c.want {
			t.Errorf("%+v.FreshAt(%v) = %v, want %v", c.p, c.at.Sub(now), got, c.want)
		}
	}
}
