package tapdesk

import (
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestEvaluateAlerts(t *testing.T) {
	base := time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC) // a Tuesday, in the default hours
	alex := Actor{ObjectID: "oid-alex", UPN: "alex@contoso.example", Name: "Alex"}
	sam := Actor{ObjectID: "oid-sam", UPN: "sam@contoso.example", Name: "Sam"}
	avery := Actor{ObjectID: "oid-avery", UPN: "avery@contoso.example", Name: "Avery"}
	filing := func(seq int64, by Actor, at time.Time) Event {
		return Event{Seq: seq, Time: at, Activity: ActRequestFiled, Actor: by, RequestID: "r" + strconv.FormatInt(seq, 10),
			Details: map[string]string{"approvals_required": "1"}}
	}
	filings := func(n int, by Actor, start time.Time, step time.Duration) []Event {
		var out []Event
		for i := range n {
			out = append(out, filing(int64(i+1), by, start.Add(time.Duration(i)*step)))
		}
		return out
	}
	decision := func(seq int64, by Actor, request string, at time.Time) Event {
		return Event{Seq: seq, Time: at, Activity: ActApprove, Actor: by, RequestID: request}
	}
	th := AlertThresholds{FilingsPerHour: 3, PairDecisionsPerWeek: 2}
	hours, err := ParseWorkingHours("Mon-Fri 08:00-18:00 UTC")
	if err != nil {
		t.Fatal(err)
	}
	privileged := filing(1, alex, time.Date(2026, 11, 28, 23, 30, 0, 0, time.UTC)) // a Saturday night
	privileged.Details = map[string]string{"privileged": "true", "privilege_reason": "holds Global Administrator"}
	privilegedOld := filing(2, alex, privileged.Time)
	privilegedOld.Details = map[string]string{"approvals_required": "2"}
	inHours := filing(3, alex, base)
	inHours.Details = map[string]string{"privileged": "true"}

	cases := []struct {
		name string
		in   AlertInput
		want []AlertRule
	}{
		{"at the filing threshold: no alert", func() AlertInput {
			f := filings(3, alex, base, 10*time.Minute)
			return AlertInput{New: f, Filings: f}
		}(), nil},
		{"above it within an hour: one alert for the burst", func() AlertInput {
			f := filings(6, alex, base, 5*time.Minute)
			return AlertInput{New: f, Filings: f}
		}(), []AlertRule{AlertFilingBurst}},
		{"spread over more than an hour: no alert", func() AlertInput {
			f := filings(6, alex, base, 21*time.Minute)
			return AlertInput{New: f, Filings: f}
		}(), nil},
		{"two agents each at the threshold: no alert", func() AlertInput {
			f := append(filings(3, alex, base, time.Minute), filings(3, sam, base, time.Minute)...)
			for i := range f {
				f[i].Seq = int64(i + 1)
			}
			return AlertInput{New: f, Filings: f}
		}(), nil},
		{"earlier filings before the cursor count", func() AlertInput {
			f := filings(4, alex, base, time.Minute)
			return AlertInput{New: f[3:], Filings: f}
		}(), []AlertRule{AlertFilingBurst}},
		{"pair above the threshold in a week", AlertInput{
			New:        []Event{decision(10, avery, "a", base), decision(11, avery, "b", base.Add(48*time.Hour)), decision(12, avery, "c", base.Add(96*time.Hour))},
			Decisions:  []Event{decision(10, avery, "a", base), decision(11, avery, "b", base.Add(48*time.Hour)), decision(12, avery, "c", base.Add(96*time.Hour))},
			Requesters: map[string]Actor{"a": alex, "b": alex, "c": alex}}, []AlertRule{AlertPairDecisions}},
		{"same approver, different agents: no alert", AlertInput{
			New:        []Event{decision(10, avery, "a", base), decision(11, avery, "b", base), decision(12, avery, "c", base)},
			Decisions:  []Event{decision(10, avery, "a", base), decision(11, avery, "b", base), decision(12, avery, "c", base)},
			Requesters: map[string]Actor{"a": alex, "b": sam, "c": alex}}, nil},
		{"pair spread over more than a week: no alert", AlertInput{
			New:        []Event{decision(12, avery, "c", base.Add(8*24*time.Hour))},
			Decisions:  []Event{decision(10, avery, "a", base), decision(11, avery, "b", base.Add(24*time.Hour)), decision(12, avery, "c", base.Add(8*24*time.Hour))},
			Requesters: map[string]Actor{"a": alex, "b": alex, "c": alex}}, nil},
		{"privileged out of hours", AlertInput{New: []Event{privileged}, Filings: []Event{privileged}}, []AlertRule{AlertPrivilegedOutOfHours}},
		{"privileged out of hours, recorded before the privileged detail", AlertInput{New: []Event{privilegedOld}, Filings: []Event{privilegedOld}}, []AlertRule{AlertPrivilegedOutOfHours}},
		{"privileged in hours: no alert", AlertInput{New: []Event{inHours}, Filings: []Event{inHours}}, nil},
		{"not privileged out of hours: no alert", AlertInput{New: []Event{filing(4, alex, privileged.Time)}}, nil},
		{"a dispute", AlertInput{New: []Event{{Seq: 5, Activity: ActDispute, RequestID: "r1", TargetUPN: "nina@contoso.example"}}}, []AlertRule{AlertDispute}},
		{"a refused dispute link: no alert", AlertInput{New: []Event{{Seq: 5, Activity: ActDisputeRefused, Result: ResultFailure}}}, nil},
		{"an outside pass", AlertInput{New: []Event{{Seq: 6, Activity: ActOutsidePassFound, Category: CatSecurity,
			Details: map[string]string{"target": "nina@contoso.example", "created_by": "eve@contoso.example"}}}}, []AlertRule{AlertOutsidePass}},
		{"a failed verify and a tamper detection", AlertInput{New: []Event{
			{Seq: 7, Activity: ActAuditVerified, Result: ResultFailure, Reason: "event 3 does not check out"},
			{Seq: 8, Activity: ActTamperDetected, Result: ResultFailure}}}, []AlertRule{AlertAuditFailure, AlertAuditFailure}},
		{"a verify that held: no alert", AlertInput{New: []Event{{Seq: 7, Activity: ActAuditVerified}}}, nil},
		{"an alert raised: no alert about it", AlertInput{New: []Event{{Seq: 9, Activity: ActAlertRaised, Category: CatSecurity}}}, nil},
		{"threat mode switched off", AlertInput{New: []Event{{Seq: 10, Activity: ActThreatModeChanged, Category: CatSecurity, Actor: alex,
			Reason: "The wave is over", Details: map[string]string{"threat_mode": "off"}}}}, []AlertRule{AlertThreatModeOff}},
		{"threat mode switched on: no alert", AlertInput{New: []Event{{Seq: 11, Activity: ActThreatModeChanged, Category: CatSecurity, Actor: alex,
			Reason: "Vishing wave", Details: map[string]string{"threat_mode": "on"}}}}, nil},
		{"switched off twice: two alerts", AlertInput{New: []Event{
			{Seq: 12, Activity: ActThreatModeChanged, Actor: alex, Details: map[string]string{"threat_mode": "off"}},
			{Seq: 13, Activity: ActThreatModeChanged, Actor: alex, Details: map[string]string{"threat_mode": "on"}},
			{Seq: 14, Activity: ActThreatModeChanged, Actor: sam, Details: map[string]string{"threat_mode": "off"}}}},
			[]AlertRule{AlertThreatModeOff, AlertThreatModeOff}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := EvaluateAlerts(c.in, th, hours)
			if len(got) != len(c.want) {
				t.Fatalf("got %d alerts %+v, want %v", len(got), got, c.want)
			}
			for i, a := range got {
				if a.Rule != c.want[i] {
					t.Errorf("alert %d is %s, want %s", i, a.Rule, c.want[i])
				}
				if a.Key == "" || a.Summary == "" || a.Evidence == "" || a.Seq == 0 {
					t.Errorf("alert %d lacks a key, summary, evidence or event: %+v", i, a)
				}
			}
		})
	}
}

// A burst over two clock hours is two alerts, and the same burst read
// twice has the same key, so the store keeps one.
func TestFilingBurstKeys(t *testing.T) {
	alex := Actor{ObjectID: "oid-alex", UPN: "alex@contoso.example"}
	start := time.Date(2026, 11, 24, 10, 30, 0, 0, time.UTC)
	var f []Event
	for i := range 30 {
		f = append(f, Event{Seq: int64(i + 1), Time: start.Add(time.Duration(i) * 3 * time.Minute), Activity: ActRequestFiled, Actor: alex})
	}
	got := EvaluateAlerts(AlertInput{New: f, Filings: f}, AlertThresholds{FilingsPerHour: 5, PairDecisionsPerWeek: 5}, WorkingHours{})
	if len(got) != 2 || !strings.Contains(got[0].Key, "T10:00") || !strings.Contains(got[1].Key, "T11:00") {
		t.Fatalf("alerts %+v, want one at 10:00 and one at 11:00", got)
	}
	again := EvaluateAlerts(AlertInput{New: f[3:], Filings: f}, AlertThresholds{FilingsPerHour: 5, PairDecisionsPerWeek: 5}, WorkingHours{})
	if len(again) != 2 || again[0].Key != got[0].Key {
		t.Errorf("re-read: %+v", again)
	}
	if strings.Contains(got[0].Evidence, " ") || !strings.HasPrefix(got[0].Evidence, "/audit?") {
		t.Errorf("evidence %q", got[0].Evidence)
	}
}

func TestAlertMailPlan(t *testing.T) {
	for _, c := range []struct {
		rule AlertRule
		n    int
		want string
	}{
		{AlertDispute, 2, AlertMailByDispute},
		{AlertOutsidePass, 2, AlertMailQueued},
		{AlertAuditFailure, 0, AlertMailNoRecipients},
	} {
		if got := AlertMailPlan(c.rule, c.n); got != c.want {
			t.Errorf("%s with %d: %s, want %s", c.rule, c.n, got, c.want)
		}
	}
	for _, r := range AlertRules() {
		if r.Title() == string(r) {
			t.Errorf("rule %s has no title", r)
		}
	}
	if CheckAlertThreshold("X", 0) == nil || CheckAlertThreshold("X", 1) != nil {
		t.Error("threshold check")
	}
}
