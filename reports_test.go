package tapdesk

import (
	"testing"
	"time"
)

func TestParseReportPeriod(t *testing.T) {
	now := time.Date(2026, 11, 29, 10, 30, 15, 0, time.UTC)
	t.Run("empty is the last 30 days", func(t *testing.T) {
		p, errs := ParseReportPeriod("", "", now)
		if len(errs) != 0 {
			t.Fatal(errs)
		}
		if want := time.Date(2026, 11, 29, 10, 31, 0, 0, time.UTC); !p.To.Equal(want) {
			t.Errorf("To = %v, want %v", p.To, want)
		}
		if p.To.Sub(p.From) != ReportDefaultSpan {
			t.Errorf("span = %v", p.To.Sub(p.From))
		}
	})
	t.Run("typed times", func(t *testing.T) {
		p, errs := ParseReportPeriod("2026-11-01", "2026-11-15T12:00", now)
		if len(errs) != 0 || !p.From.Equal(time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)) || !p.To.Equal(time.Date(2026, 11, 15, 12, 0, 0, 0, time.UTC)) {
			t.Errorf("%v %v", p, errs)
		}
	})
	for name, c := range map[string]struct{ from, to, field string }{
		"not a time":    {"yesterday", "", "from"},
		"to not a time": {"", "soon", "to"},
		"reversed":      {"2026-11-10", "2026-11-01", "to"},
		"too long":      {"2024-01-01", "2026-01-01", "from"},
	} {
		t.Run(name, func(t *testing.T) {
			_, errs := ParseReportPeriod(c.from, c.to, now)
			if errs[c.field] == "" {
				t.Errorf("no sentence for %s: %v", c.field, errs)
			}
		})
	}
}

func TestWeeks(t *testing.T) {
	// Wednesday 4 Nov to Tuesday 17 Nov 2026: the weeks of 2, 9 and 16 Nov.
	p := ReportPeriod{From: time.Date(2026, 11, 4, 9, 0, 0, 0, time.UTC), To: time.Date(2026, 11, 17, 0, 0, 0, 0, time.UTC)}
	ws := p.Weeks()
	if len(ws) != 3 || ws[0].Day() != 2 || ws[1].Day() != 9 || ws[2].Day() != 16 || ws[0].Weekday() != time.Monday {
		t.Errorf("weeks = %v", ws)
	}
	if got := WeekStart(time.Date(2026, 11, 8, 23, 59, 0, 0, time.UTC)); got.Day() != 2 {
		t.Errorf("Sunday 8 Nov belongs to the week of %v", got)
	}
}

func TestPercentile(t *testing.T) {
	var ds []time.Duration
	for i := 10; i >= 1; i-- {
		ds = append(ds, time.Duration(i)*time.Minute)
	}
	if got := Percentile(ds, 50); got != 5*time.Minute {
		t.Errorf("median = %v", got)
	}
	if got := Percentile(ds, 90); got != 9*time.Minute {
		t.Errorf("p90 = %v", got)
	}
	if got := Percentile(ds[:1], 90); got != 10*time.Minute {
		t.Errorf("p90 of one = %v", got)
	}
	if got := Percentile(nil, 50); got != 0 {
		t.Errorf("median of none = %v", got)
	}
}

func TestDenialReasonsGrouped(t *testing.T) {
	facts := ReportFacts{Denials: []ReportCount{
		{Key: "Caller could not verify", N: 2}, {Key: "  caller could NOT verify. ", N: 1},
		{Key: "No ticket", N: 2}, {Key: "a", N: 1}, {Key: "b", N: 1},
	}}
	for i := range ReportTopN {
		facts.Denials = append(facts.Denials, ReportCount{Key: "rare " + string(rune('c'+i)), N: 1})
	}
	r := BuildReport(ReportPeriod{From: time.Unix(0, 0), To: time.Unix(86400, 0)}, facts, WorkingHours{})
	if len(r.Denials) != ReportTopN+1 {
		t.Fatalf("bars = %d: %+v", len(r.Denials), r.Denials)
	}
	if r.Denials[0].Label != "Caller could not verify" || r.Denials[0].Value != 3 {
		t.Errorf("first = %+v", r.Denials[0])
	}
	if r.Denials[1].Label != "No ticket" || r.Denials[1].Value != 2 {
		t.Errorf("second = %+v", r.Denials[1])
	}
	last := r.Denials[len(r.Denials)-1]
	total := 0.0
	for _, b := range r.Denials {
		total += b.Value
	}
	if last.Label != ReportOther || total != 15 {
		t.Errorf("last = %+v, total %v", last, total)
	}
}

func TestReplayFiling(t *testing.T) {
	hours, err := ParseWorkingHours("Mon-Fri 08:00-18:00 UTC")
	if err != nil {
		t.Fatal(err)
	}
	agent := Actor{ObjectID: "a", UPN: "agent@x"}
	filed := time.Date(2026, 11, 28, 22, 0, 0, 0, time.UTC) // a Saturday night
	evs := []Event{
		{Seq: 1, Time: filed, Activity: ActRequestFiled, Result: ResultSuccess, Actor: agent, RequestID: "r1", TargetID: "t", TargetUPN: "t@x",
			Details: map[string]string{"approvals_required": "2", "target_roles": "Global Administrator"}},
		{Seq: 2, Time: filed.Add(10 * time.Minute), Activity: ActApprove, Result: ResultSuccess, Actor: Actor{ObjectID: "p1"}},
		{Seq: 3, Time: filed.Add(30 * time.Minute), Activity: ActApprove, Result: ResultSuccess, Actor: Actor{ObjectID: "p2"}},
		{Seq: 4, Time: filed.Add(time.Hour), Activity: ActIssueAttempt, Result: ResultSuccess, TAPMethodID: "m"},
	}
	f, ok := ReplayFiling(evs, hours)
	if !ok || f.Outcome != StateIssued || !f.Privileged || !f.OutOfHours || f.Why != "directory roles: Global Administrator" {
		t.Fatalf("%+v", f)
	}
	if f.DecidedAt.Sub(f.FiledAt) != 30*time.Minute || f.IssuedAt.Sub(f.FiledAt) != time.Hour {
		t.Errorf("decided %v issued %v", f.DecidedAt, f.IssuedAt)
	}
	if _, ok := ReplayFiling(evs[1:], hours); ok {
		t.Error("a trail without its filing event counted")
	}
	// In heightened-threat mode every request needs two approvers; the
	// filing says whether the target itself was privileged.
	threat := []Event{{Seq: 5, Time: filed, Activity: ActRequestFiled, Result: ResultSuccess, Actor: agent, RequestID: "r2", TargetID: "u", TargetUPN: "u@x",
		Details: map[string]string{"approvals_required": "2", "privileged": "false", "threat_mode": "on"}}}
	if f, ok := ReplayFiling(threat, hours); !ok || f.Privileged {
		t.Errorf("an ordinary target filed in threat mode counted as privileged: %+v", f)
	}
}

func TestFormatReportDuration(t *testing.T) {
	for d, want := range map[time.Duration]string{
		40 * time.Second: "40 s", 15 * time.Minute: "15 min", 3 * time.Hour: "3.0 h", 72 * time.Hour: "3.0 days",
	} {
		if got := FormatReportDuration(d); got != want {
			t.Errorf("%v: %q, want %q", d, got, want)
		}
	}
}
