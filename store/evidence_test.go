package store_test

import (
	"context"
	"github.com/tapdesk/tapdesk/internal/pgtest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tapdesk/tapdesk"
	"github.com/tapdesk/tapdesk/store"
)

// approve records approvers' approvals through Decide, as the handlers do.
func approve(t *testing.T, db *store.DB, r *tapdesk.Request, as ...tapdesk.Actor) {
	t.Helper()
	for _, a := range as {
		ev := tapdesk.Event{Activity: tapdesk.ActApprove, Category: tapdesk.CatApproval, Actor: a}
		if _, err := db.Decide(context.Background(), r, tapdesk.Approval{RequestID: r.ID, Approver: a, Decision: tapdesk.DecisionApprove, CreatedAt: t0}, ev, nil); err != nil {
			t.Fatal(err)
		}
	}
}

func evidence(t *testing.T, db *store.DB, id string) ([]tapdesk.Event, []int64) {
	t.Helper()
	evs, bad, err := db.RequestEvidence(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return evs, bad
}

func activities(evs []tapdesk.Event) []tapdesk.Activity {
	var out []tapdesk.Activity
	for _, ev := range evs {
		out = append(out, ev.Activity)
	}
	return out
}

func TestRequestEvidence(t *testing.T) {
	pgtest.Backends(t, func(t *testing.T) {
		db, path := openDB(t)
		seed(t, db, 3)
		r := newRequest("r1", 1)
		fileRequest(t, db, r)
		other := newRequest("r2", 1)
		fileRequest(t, db, other)
		seed(t, db, 2)
		approve(t, db, r, approver)
		approve(t, db, other, second)

		evs, bad := evidence(t, db, r.ID)
		if len(bad) != 0 || !slices.Equal(activities(evs), []tapdesk.Activity{tapdesk.ActRequestFiled, tapdesk.ActApprove}) {
			t.Fatalf("untouched: %v, unverified %v", activities(evs), bad)
		}
		if evs[1].Actor != approver || evs[0].Details["approvals_required"] != "1" {
			t.Fatalf("decoded: %+v", evs)
		}
		if finding, err := tapdesk.CheckIssueEvidence(mustRequest(t, db, r.ID), evs, bad); err != nil {
			t.Fatalf("a sound request is refused: %s", finding)
		}

		// An approval event appended by someone without the key: whatever mac
		// they write (here one copied from a real event) does not check out.
		var head int64
		if err := db.SQL().QueryRow(`SELECT MAX(seq) FROM audit_events`).Scan(&head); err != nil {
			t.Fatal(err)
		}
		exec(t, db, `INSERT INTO audit_events (seq, record, mac)
		SELECT ?, `+jsonSet(t, 6, `'appr3'`, 13, `?`)+`, mac FROM audit_events WHERE request_id = ? AND activity = ?`,
			head+1, r.ID, other.ID, string(tapdesk.ActApprove))
		evs, bad = evidence(t, db, r.ID)
		if !slices.Equal(bad, []int64{head + 1}) || len(evs) != 2 {
			t.Fatalf("a forged approval event: unverified %v, events %v", bad, activities(evs))
		}

		// Another request's approval moved over: its mac covers its request
		// id, so a process that has not checked it before finds it does not
		// check out. This process wrote it, remembers it as r2's and passes
		// over it: either way it never counts for r1.
		exec(t, db, `UPDATE audit_events SET record = `+jsonSet(t, 13, `?`)+` WHERE request_id = ? AND activity = ?`,
			r.ID, other.ID, string(tapdesk.ActApprove))
		if evs, bad = evidence(t, reopen(t, path, testAuditKey), r.ID); len(bad) != 2 || len(evs) != 2 {
			t.Fatalf("a moved approval, read by another process: unverified %v, events %v", bad, activities(evs))
		}
		if evs, bad = evidence(t, db, r.ID); !slices.Equal(bad, []int64{head + 1}) || len(evs) != 2 || evs[1].Actor != approver {
			t.Fatalf("a moved approval, read by the process that wrote it: unverified %v, events %+v", bad, evs)
		}
		// The other request's window holds the changed event too: any event
		// since filing that does not check out refuses the issue.
		if evs, bad = evidence(t, db, other.ID); len(bad) == 0 || slices.Contains(activities(evs), tapdesk.ActApprove) {
			t.Fatalf("the other request's window holds a changed event: unverified %v, events %v", bad, activities(evs))
		}
	})
}

func mustRequest(t *testing.T, db *store.DB, id string) *tapdesk.Request {
	t.Helper()
	r, err := db.Request(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// An event whose predecessor was deleted cannot be checked; one whose
// predecessor was pruned is checked against the checkpoint.
func TestRequestEvidencePredecessor(t *testing.T) {
	pgtest.Backends(t, func(t *testing.T) {
		db, _ := openDB(t)
		seed(t, db, 3) // t0 .. t0+2m
		r := newRequest("r1", 1)
		r.CreatedAt = t0.Add(10 * time.Minute)
		db.Now = func() time.Time { return t0.Add(10 * time.Minute) }
		fileRequest(t, db, r) // event 4
		if _, err := db.PruneEvents(context.Background(), t0.Add(5*time.Minute), agent); err != nil {
			t.Fatal(err)
		}
		if evs, bad := evidence(t, db, r.ID); len(bad) != 0 || len(evs) != 1 {
			t.Fatalf("after a prune: %v unverified %v", activities(evs), bad)
		}
		if rep := verify(t, db); rep.Break != nil || len(rep.Unexplained) != 0 {
			t.Fatalf("after a prune: %+v %+v", rep.Break, rep.Unexplained)
		}
		exec(t, db, `DELETE FROM audit_events WHERE activity = ?`, string(tapdesk.ActAuditPruned))
		// The checkpoint was the newest event: its deletion also cut the end.
		if _, bad := evidence(t, db, r.ID); !slices.Equal(bad, []int64{4, 5}) {
			t.Fatalf("predecessor gone: unverified %v", bad)
		}
	})
}

// verify replays every request and names the ones edited in the database.
func TestVerifyReplaysRequests(t *testing.T) {
	pgtest.Backends(t, func(t *testing.T) {
		ctx := context.Background()
		setup := func(t *testing.T) *store.DB {
			db, _ := openDB(t)
			seed(t, db, 2)
			fileRequest(t, db, newRequest("sound", 1))
			approve(t, db, newRequest("sound", 1), approver)
			fileRequest(t, db, newRequest("pending", 1))
			fileRequest(t, db, newRequest("vip", 2))
			approve(t, db, newRequest("vip", 2), approver)
			if rep := verify(t, db); rep.Break != nil || len(rep.Unexplained) != 0 {
				t.Fatalf("untouched: %+v %+v", rep.Break, rep.Unexplained)
			}
			return db
		}
		cases := []struct {
			name, sql, want string
		}{
			{"state set to approved", `UPDATE requests SET state = 'approved' WHERE id = 'pending'`,
				"request pending is approved but its trail holds 0 of 1 required approvals"},
			{"approval forged in the table", `INSERT INTO approvals (request_id, approver_tid, approver_oid, approver_upn, approver_name, decision, reason, created_at)
			VALUES ('pending', 't', 'mallory', 'mallory@x', 'Mallory', 'approve', '', '2026-11-23T10:00:00.000000Z')`,
				"request pending has approvals by mallory@x that no signed approval event backs"},
			{"approvals required lowered", `UPDATE requests SET approvals_required = 1, state = 'approved' WHERE id = 'vip'`,
				"request vip needs 1 approvals in the database but 2 in its signed filing event"},
			{"target changed", `UPDATE requests SET target_id = 'global-admin' WHERE id = 'sound'`,
				"request sound is for user global-admin in the database but was filed for user target"},
			{"approved request set to failed", `UPDATE requests SET state = 'failed' WHERE id = 'sound'`,
				"request sound is failed but its events leave it approved"},
			{"a request with no events", `CREATE TEMP TABLE ghost AS SELECT * FROM requests WHERE id = 'sound';
			UPDATE ghost SET id = 'ghost', target_id = 'ghost-target'; INSERT INTO requests SELECT * FROM ghost`,
				`request ghost is approved but its trail holds no "File request" event`},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				db := setup(t)
				exec(t, db, tc.sql)
				rep, err := db.VerifyChain(ctx)
				if err != nil {
					t.Fatal(err)
				}
				if rep.Break != nil {
					t.Fatalf("the chain itself was not touched: %+v", rep.Break)
				}
				var details []string
				for _, f := range rep.Unexplained {
					details = append(details, f.Detail)
				}
				if !slices.ContainsFunc(details, func(d string) bool { return strings.Contains(d, tc.want) }) {
					t.Fatalf("findings %q lack %q", details, tc.want)
				}
			})
		}
	})
}

// Events of requests the database does not hold (the synthetic seed) and
// records with escapes are replayed correctly.
func TestVerifyReplayRecords(t *testing.T) {
	pgtest.Backends(t, func(t *testing.T) {
		db, _ := openDB(t)
		r := newRequest("r1", 1)
		r.Requester.Name = `Agent "Q" \ Smith`
		fileRequest(t, db, r)
		ev := tapdesk.Event{Activity: tapdesk.ActApprove, Category: tapdesk.CatApproval,
			Actor: tapdesk.Actor{TenantID: "t", ObjectID: "appr", UPN: `a"b\c@x`}}
		if _, err := db.Decide(context.Background(), r, tapdesk.Approval{RequestID: r.ID, Approver: ev.Actor, Decision: tapdesk.DecisionApprove, CreatedAt: t0}, ev, nil); err != nil {
			t.Fatal(err)
		}
		if err := db.AppendEvent(context.Background(), tapdesk.Event{Activity: tapdesk.ActApprove, RequestID: "not-in-the-database", Actor: approver}); err != nil {
			t.Fatal(err)
		}
		if rep := verify(t, db); rep.Break != nil || len(rep.Unexplained) != 0 {
			t.Fatalf("%+v %+v", rep.Break, rep.Unexplained)
		}
		exec(t, db, `UPDATE requests SET state = 'issued' WHERE id = 'r1'`)
		if rep := verify(t, db); len(rep.Unexplained) != 1 || !strings.Contains(rep.Unexplained[0].Detail, "is issued but its events leave it approved") {
			t.Fatalf("%+v", rep.Unexplained)
		}
	})
}
