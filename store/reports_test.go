package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/tapdesk/tapdesk"
	"github.com/tapdesk/tapdesk/internal/pgtest"
	"github.com/tapdesk/tapdesk/store"
)

// reportTrail seeds a trail with known outcomes, times, agents, approvers,
// reasons, privileged flags and hours (see TestReportFromTrail).
func reportTrail(t *testing.T, db *store.DB) {
	t.Helper()
	ctx := context.Background()
	agent2 := tapdesk.Actor{TenantID: "t", ObjectID: "agent2", UPN: "agent2@x", Name: "Agent Two"}
	at := func(day, hour, min int) time.Time { return time.Date(2026, 11, day, hour, min, 0, 0, time.UTC) }
	add := func(ev tapdesk.Event) {
		t.Helper()
		if ev.TargetID == "" {
			ev.TargetID, ev.TargetUPN = "target-"+ev.RequestID, ev.RequestID+"@x"
		}
		if err := db.AppendEvent(ctx, ev); err != nil {
			t.Fatal(err)
		}
	}
	file := func(id string, when time.Time, by tapdesk.Actor, approvals string, roles string) {
		add(tapdesk.Event{Time: when, Activity: tapdesk.ActRequestFiled, Category: tapdesk.CatRequest, Actor: by, RequestID: id,
			Details: map[string]string{"approvals_required": approvals, "lifetime_minutes": "60", "usable_once": "true", "target_roles": roles}})
	}
	decide := func(id string, when time.Time, act tapdesk.Activity, by tapdesk.Actor, reason string) {
		add(tapdesk.Event{Time: when, Activity: act, Category: tapdesk.CatApproval, Actor: by, RequestID: id, Reason: reason})
	}
	issue := func(id string, when time.Time, result tapdesk.Result) {
		add(tapdesk.Event{Time: when, Activity: tapdesk.ActIssueAttempt, Category: tapdesk.CatMethod, Actor: agent, RequestID: id, Result: result, TAPMethodID: "m-" + id})
	}
	// Filed before the period, issued in it.
	file("r7", at(10, 10, 0), agent, "1", "")
	decide("r7", at(10, 10, 5), tapdesk.ActApprove, approver, "")
	issue("r7", at(23, 11, 0), tapdesk.ResultSuccess)
	// Monday, in hours: approved in 20 minutes, issued in an hour.
	file("r1", at(23, 10, 0), agent, "1", "")
	decide("r1", at(23, 10, 20), tapdesk.ActApprove, approver, "")
	issue("r1", at(23, 11, 0), tapdesk.ResultSuccess)
	// Saturday night, a privileged target: two approvals, issued, revoked.
	file("r2", at(28, 22, 0), agent2, "2", "Global Administrator")
	decide("r2", at(28, 22, 10), tapdesk.ActApprove, approver, "")
	decide("r2", at(28, 22, 40), tapdesk.ActApprove, second, "")
	issue("r2", at(29, 0, 0), tapdesk.ResultSuccess)
	add(tapdesk.Event{Time: at(29, 1, 0), Activity: tapdesk.ActRevoke, Category: tapdesk.CatMethod, Actor: agent2, RequestID: "r2"})
	// Two denials, the same reason written two ways.
	file("r3", at(24, 9, 0), agent, "1", "")
	decide("r3", at(24, 9, 5), tapdesk.ActDeny, approver, "No ticket.")
	file("r4", at(24, 9, 30), agent, "1", "")
	decide("r4", at(24, 9, 45), tapdesk.ActDeny, second, "  no   ticket")
	// Pending, and cancelled (a failed issue attempt elsewhere counts for nothing).
	file("r5", at(25, 12, 0), agent, "1", "")
	file("r6", at(25, 13, 0), agent, "1", "")
	add(tapdesk.Event{Time: at(25, 13, 5), Activity: tapdesk.ActRequestCancel, Category: tapdesk.CatRequest, Actor: agent, RequestID: "r6"})
	// After the period: not counted.
	file("r8", at(30, 9, 0), agent, "1", "")
	issue("r8", at(30, 9, 30), tapdesk.ResultSuccess)
}

// The report's numbers on both databases, against a seeded trail whose
// every number is known.
func TestReportFromTrail(t *testing.T) {
	pgtest.Backends(t, func(t *testing.T) {
		db, _ := openDB(t)
		reportTrail(t, db)
		p := tapdesk.ReportPeriod{From: time.Date(2026, 11, 16, 0, 0, 0, 0, time.UTC), To: time.Date(2026, 11, 30, 0, 0, 0, 0, time.UTC)}
		facts, err := db.ReportFacts(context.Background(), p.From, p.To)
		if err != nil {
			t.Fatal(err)
		}
		hours, _ := tapdesk.ParseWorkingHours("Mon-Fri 08:00-18:00 UTC")
		r := tapdesk.BuildReport(p, facts, hours)

		bars := func(bs []tapdesk.ReportBar) map[string]float64 {
			m := map[string]float64{}
			for _, b := range bs {
				m[b.Label] = b.Value
			}
			return m
		}
		check := func(name string, got map[string]float64, want map[string]float64) {
			t.Helper()
			for k, v := range want {
				if got[k] != v {
					t.Errorf("%s %q = %v, want %v (all: %v)", name, k, got[k], v, got)
				}
			}
			total := 0.0
			for _, v := range got {
				total += v
			}
			wantTotal := 0.0
			for _, v := range want {
				wantTotal += v
			}
			if total != wantTotal {
				t.Errorf("%s: total %v, want %v (%v)", name, total, wantTotal, got)
			}
		}
		check("issued per week", bars(r.IssuedPerWeek), map[string]float64{"Week of 16 Nov 2026": 0, "Week of 23 Nov 2026": 3})
		if len(r.IssuedPerWeek) != 2 {
			t.Errorf("weeks: %+v", r.IssuedPerWeek)
		}
		if r.Filed != 6 {
			t.Errorf("filed = %d, want 6", r.Filed)
		}
		check("outcomes", bars(r.Outcomes), map[string]float64{"Issued": 1, "Revoked": 1, "Denied": 2, "Pending": 1, "Cancelled": 1})
		want := []tapdesk.ReportTime{
			{Label: "Filing to decision", N: 4, Median: 15 * time.Minute, P90: 40 * time.Minute},
			{Label: "Filing to issue", N: 2, Median: time.Hour, P90: 2 * time.Hour},
		}
		for i, w := range want {
			if r.Times[i] != w {
				t.Errorf("times[%d] = %+v, want %+v", i, r.Times[i], w)
			}
		}
		check("denials", bars(r.Denials), map[string]float64{"no ticket": 2}) // "  no   ticket" sorts first
		check("agents", bars(r.Agents), map[string]float64{"Agent (agent@x)": 5, "Agent Two (agent2@x)": 1})
		if r.Agents[0].Key != "agent@x" {
			t.Errorf("first agent's key = %q", r.Agents[0].Key)
		}
		check("approvers", bars(r.Approvers), map[string]float64{"Approver (appr@x)": 3, "Approver Two (appr2@x)": 2})
		if len(r.Privileged) != 1 || r.Privileged[0].RequestID != "r2" || r.Privileged[0].Why != "directory roles: Global Administrator" {
			t.Errorf("privileged: %+v", r.Privileged)
		}
		if len(r.OutOfHours) != 1 || r.OutOfHours[0].RequestID != "r2" {
			t.Errorf("out of hours: %+v", r.OutOfHours)
		}
		if r.Empty() {
			t.Error("a full period reads as empty")
		}

		empty, err := db.ReportFacts(context.Background(), p.From.AddDate(-1, 0, 0), p.From.AddDate(-1, 0, 7))
		if err != nil {
			t.Fatal(err)
		}
		if er := tapdesk.BuildReport(tapdesk.ReportPeriod{From: p.From.AddDate(-1, 0, 0), To: p.From.AddDate(-1, 0, 7)}, empty, hours); !er.Empty() {
			t.Errorf("a period a year before reads as not empty: %+v", er)
		}
	})
}
