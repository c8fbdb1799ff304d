package alerts_test

import (
	"context"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tapdesk/tapdesk"
	"github.com/tapdesk/tapdesk/alerts"
	"github.com/tapdesk/tapdesk/internal/pgtest"
	"github.com/tapdesk/tapdesk/store"
)

const auditKey = "alerts-test-audit-key-0123456789abcdef"

type count struct{ n atomic.Int64 }

func (c *count) AlertRaised(string) { c.n.Add(1) }

func open(t *testing.T, dsn string) *store.DB {
	t.Helper()
	db, err := store.Open(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if err := db.SetAuditKey(auditKey); err != nil {
		t.Fatal(err)
	}
	return db
}

// Two instances evaluating the same trail at once, over and over, raise
// each alert once between them: one of them moves the cursor over a
// batch, and a key is stored once.
func TestTwoInstancesRaiseEachAlertOnce(t *testing.T) {
	pgtest.Backends(t, func(t *testing.T) {
		ctx := context.Background()
		dsn := pgtest.DSN(t, filepath.Join(t.TempDir(), "tapdesk.db"))
		a, b := open(t, dsn), open(t, dsn)
		now := time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC) // a Tuesday, in the default hours
		agent := tapdesk.Actor{ObjectID: "oid-alex", UPN: "alex@contoso.example", Name: "Alex"}
		events := []tapdesk.Event{
			{Activity: tapdesk.ActOutsidePassFound, Category: tapdesk.CatSecurity, TargetUPN: "nina@contoso.example"},
			{Activity: tapdesk.ActTamperDetected, Category: tapdesk.CatAudit, Result: tapdesk.ResultFailure, Reason: "mac mismatch"},
		}
		for i := range tapdesk.DefaultAlertFilingsPerHour + 3 {
			events = append(events, tapdesk.Event{Time: now.Add(time.Duration(i) * time.Minute), Activity: tapdesk.ActRequestFiled,
				Category: tapdesk.CatRequest, Actor: agent, RequestID: "r" + string(rune('a'+i))})
		}
		var counted count
		jobs := []*alerts.Job{
			{Store: a, SecurityEmails: []string{"security@contoso.example"}, Metrics: &counted},
			{Store: b, SecurityEmails: []string{"security@contoso.example"}, Metrics: &counted},
		}
		var wg sync.WaitGroup
		for _, ev := range events {
			ev.Time = now
			if err := a.AppendEvent(ctx, ev); err != nil {
				t.Fatal(err)
			}
			for _, j := range jobs {
				wg.Add(1)
				go func() {
					defer wg.Done()
					if _, err := j.Run(ctx, now); err != nil {
						t.Error(err)
					}
				}()
			}
		}
		wg.Wait()
		for _, j := range jobs {
			if _, err := j.Run(ctx, now); err != nil {
				t.Fatal(err)
			}
		}
		list, err := a.Alerts(ctx, "", 0, 100)
		if err != nil {
			t.Fatal(err)
		}
		rules := map[tapdesk.AlertRule]int{}
		for _, al := range list {
			rules[al.Rule]++
		}
		want := map[tapdesk.AlertRule]int{tapdesk.AlertOutsidePass: 1, tapdesk.AlertAuditFailure: 1, tapdesk.AlertFilingBurst: 1}
		if len(rules) != len(want) || rules[tapdesk.AlertOutsidePass] != 1 || rules[tapdesk.AlertAuditFailure] != 1 || rules[tapdesk.AlertFilingBurst] != 1 {
			t.Errorf("alerts by rule %v, want %v", rules, want)
		}
		if n := counted.n.Load(); n != 3 {
			t.Errorf("counted %d alerts, want 3", n)
		}
		if n, _ := a.CountEvents(ctx, store.EventFilter{Activity: string(tapdesk.ActAlertRaised)}, 100); n != 3 {
			t.Errorf("%d alert events, want 3", n)
		}
		if due, err := a.DueMail(ctx, now, 100); err != nil || len(due) != 3 {
			t.Errorf("%d alert mails queued, want 3 (%v)", len(due), err)
		}
	})
}
