package store_test

import (
	"context"
	"errors"
	"fmt"
	"github.com/tapdesk/tapdesk/internal/pgtest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tapdesk/tapdesk"
	"github.com/tapdesk/tapdesk/store"
)

// approvedThenDisputed files r1 (one approval), approves it, disputes it
// (its "Dispute request" event, then others' events after it) and returns
// the dispute event's number.
func approvedThenDisputed(t *testing.T, db *store.DB) (r *tapdesk.Request, dispute int64) {
	t.Helper()
	seed(t, db, 2)
	r = newRequest("r1", 1)
	fileRequest(t, db, r)
	approve(t, db, r, approver)
	r = mustRequest(t, db, r.ID)
	ev := tapdesk.Event{Activity: tapdesk.ActDispute, Category: tapdesk.CatRequest, Actor: tapdesk.Actor{Name: "target@x"}}
	if err := db.Transition(context.Background(), r, store.Change{From: tapdesk.StateApproved, To: tapdesk.StateDisputed}, nil, ev); err != nil {
		t.Fatal(err)
	}
	if err := db.SQL().QueryRow(`SELECT seq FROM audit_events WHERE activity = ?`, string(tapdesk.ActDispute)).Scan(&dispute); err != nil {
		t.Fatal(err)
	}
	seed(t, db, 3) // later events of others: the dispute is not at the end
	return r, dispute
}

func issueRefused(t *testing.T, db *store.DB, id, want string) {
	t.Helper()
	evs, bad := evidence(t, db, id)
	finding, err := tapdesk.CheckIssueEvidence(mustRequest(t, db, id), evs, bad)
	if err == nil || tapdesk.ErrorCode(err) != tapdesk.EFORBIDDEN {
		t.Fatalf("the issue is not refused: %v (unverified %v, events %v)", err, bad, activities(evs))
	}
	if !strings.Contains(finding, want) {
		t.Fatalf("finding %q lacks %q", finding, want)
	}
}

// An insider deletes the dispute event from the middle of the trail and
// sets the request back to approved: every event left of the request
// still checks out against the one before it, but the numbers have a gap.
func TestEvidenceDisputeCutFromTheMiddle(t *testing.T) {
	pgtest.Backends(t, func(t *testing.T) {
		db, _ := openDB(t)
		r, dispute := approvedThenDisputed(t, db)
		exec(t, db, `DELETE FROM audit_events WHERE seq = ?`, dispute)
		exec(t, db, `UPDATE requests SET state = 'approved' WHERE id = ?`, r.ID)
		issueRefused(t, db, r.ID, fmt.Sprintf("event %d, in the audit trail since request r1 was filed, is missing", dispute))
	})
}

// An event of another request (or none) inside the window was changed:
// the trail since filing no longer holds, so nothing is issued on it. A
// process that wrote (or checked) the event passes over it by its mac,
// which is unchanged: what the changed record says was never read, and
// verify finds it.
func TestEvidenceBadMacInWindow(t *testing.T) {
	pgtest.Backends(t, func(t *testing.T) {
		db, path := openDB(t)
		r := newRequest("r1", 1)
		fileRequest(t, db, r)
		seed(t, db, 3) // events 2..4, no request
		approve(t, db, r, approver)
		if evs, bad := evidence(t, db, r.ID); len(bad) != 0 || len(evs) != 2 {
			t.Fatalf("untouched: %v %v", activities(evs), bad)
		}
		exec(t, db, `UPDATE audit_events SET record = `+jsonSet(t, 12, `'someone-else@x'`)+` WHERE seq = 3`)
		issueRefused(t, reopen(t, path, testAuditKey), r.ID, "event 3, in the audit trail since request r1 was filed, is missing or does not check out")
		if evs, bad := evidence(t, db, r.ID); len(bad) != 0 || len(evs) != 2 {
			t.Fatalf("the process that wrote event 3 passes over it: %v %v", activities(evs), bad)
		}
		// Its mac changed too: no process passes over it.
		exec(t, db, `UPDATE audit_events SET mac = (SELECT mac FROM audit_events WHERE seq = 2) WHERE seq = 3`)
		issueRefused(t, db, r.ID, "event 3, in the audit trail since request r1 was filed, is missing or does not check out")
		// Events before the filing are not the request's window.
		db2, _ := openDB(t)
		seed(t, db2, 3)
		exec(t, db2, `UPDATE audit_events SET record = `+jsonSet(t, 12, `'someone-else@x'`)+` WHERE seq = 2`)
		r2 := newRequest("r2", 1)
		fileRequest(t, db2, r2)
		approve(t, db2, r2, approver)
		if evs, bad := evidence(t, db2, r2.ID); len(bad) != 0 || len(evs) != 2 {
			t.Fatalf("a change before filing is verify's business: %v %v", activities(evs), bad)
		}
	})
}

// A prune checkpoint stands in for the events before the filing; a
// request filed after a prune is issued as usual.
func TestEvidenceAfterPrune(t *testing.T) {
	pgtest.Backends(t, func(t *testing.T) {
		db, _ := openDB(t)
		seed(t, db, 3)
		if _, err := db.PruneEvents(context.Background(), t0.Add(10*time.Minute), agent); err != nil {
			t.Fatal(err)
		}
		r := newRequest("r1", 1)
		fileRequest(t, db, r)
		approve(t, db, r, approver)
		evs, bad := evidence(t, db, r.ID)
		if _, err := tapdesk.CheckIssueEvidence(mustRequest(t, db, r.ID), evs, bad); err != nil || len(evs) != 2 {
			t.Fatalf("after a prune: %v %v %v", err, activities(evs), bad)
		}
	})
}

// Someone holding the retired key (and write access to the database)
// approves a request filed after the rotation: the approval checks out
// with that key, but the trail had moved on from it.
func TestEvidenceRetiredKeyApproval(t *testing.T) {
	pgtest.Backends(t, func(t *testing.T) {
		ctx := context.Background()
		path, db := rotated(t)
		r := newRequest("r1", 1)
		fileRequest(t, db, r)
		// The attacker runs tapdesk's own code with the retired key A.
		back := reopen(t, path, keyA, keyB)
		approve(t, back, mustRequest(t, back, r.ID), approver)
		if got := mustRequest(t, db, r.ID); got.State != tapdesk.StateApproved {
			t.Fatalf("the forged approval did not take: %s", got.State)
		}
		issueRefused(t, db, r.ID, "event 12, in the audit trail since request r1 was filed, is missing or does not check out")

		// Tapdesk with the current key writes nothing onto the forged head, and
		// does not start on it.
		var mismatch *store.KeyMismatchError
		err := db.AppendEvent(ctx, tapdesk.Event{Activity: tapdesk.ActSignIn})
		if !errors.As(err, &mismatch) || !mismatch.Retired || !strings.Contains(err.Error(), "retired") {
			t.Fatalf("appended onto an event under a retired key: %v", err)
		}
		if err := db.CheckAuditKey(ctx); !errors.As(err, &mismatch) || !mismatch.Retired {
			t.Fatalf("started on an event under a retired key: %v", err)
		}
		if n := len(keyIDs(t, db)); n != 12 {
			t.Fatalf("%d events", n)
		}
	})
}

// The first events after a rotation chain onto the old key's head.
func TestAppendAfterRotation(t *testing.T) {
	pgtest.Backends(t, func(t *testing.T) {
		path, db := rotated(t)
		db.Close()
		c := reopen(t, path, keyC, keyB, keyA)
		if err := c.CheckAuditKey(context.Background()); err != nil {
			t.Fatal(err)
		}
		seed(t, c, 2)
		if ids := keyIDs(t, c); !slices.Equal(ids[9:], []string{store.AuditKeyID(keyB), store.AuditKeyID(keyC), store.AuditKeyID(keyC)}) {
			t.Fatalf("%v", ids)
		}
	})
}

// The dispute is the newest event: cutting it off the end leaves no gap,
// but this tapdesk has seen a longer trail (it wrote after the dispute).
func TestEvidenceDisputeCutOffTheEnd(t *testing.T) {
	pgtest.Backends(t, func(t *testing.T) {
		db, _ := openDB(t)
		seed(t, db, 2)
		r := newRequest("r1", 1)
		fileRequest(t, db, r)
		approve(t, db, r, approver)
		r = mustRequest(t, db, r.ID)
		ev := tapdesk.Event{Activity: tapdesk.ActDispute, Category: tapdesk.CatRequest, Actor: tapdesk.Actor{Name: "target@x"}}
		if err := db.Transition(context.Background(), r, store.Change{From: tapdesk.StateApproved, To: tapdesk.StateDisputed}, nil, ev); err != nil {
			t.Fatal(err)
		}
		// The mail about it is sent (an event written onto the dispute).
		if err := db.AppendEvent(context.Background(), tapdesk.Event{Activity: tapdesk.ActMailSent, RequestID: r.ID}); err != nil {
			t.Fatal(err)
		}
		exec(t, db, `DELETE FROM audit_events WHERE seq >= (SELECT seq FROM audit_events WHERE activity = ?)`, string(tapdesk.ActDispute))
		exec(t, db, `UPDATE requests SET state = 'approved' WHERE id = ?`, r.ID)
		issueRefused(t, db, r.ID, "event 5, in the audit trail since request r1 was filed, is missing")
	})
}

// Events another tapdesk (a second instance on PostgreSQL, or this one
// before a restart) wrote are new to this process: between its own, its
// recount reads and checks their records, a few of them or many, and finds
// one changed with its mac left as it was.
func TestEvidenceChecksEventsOthersWrote(t *testing.T) {
	pgtest.Backends(t, func(t *testing.T) {
		for _, n := range []int{3, 100} {
			t.Run(fmt.Sprintf("%d events", n), func(t *testing.T) {
				db, path := openDB(t)
				other := reopen(t, path, testAuditKey)
				r := newRequest("r1", 1)
				fileRequest(t, db, r)
				seed(t, other, n) // events 2..n+1
				approve(t, db, r, approver)
				// Checked by a third process, so db remembers its own two
				// events and none of the other's.
				if evs, bad := evidence(t, reopen(t, path, testAuditKey), r.ID); len(bad) != 0 || len(evs) != 2 {
					t.Fatalf("untouched: %v %v", activities(evs), bad)
				}
				exec(t, db, `UPDATE audit_events SET record = `+jsonSet(t, 12, `'someone-else@x'`)+` WHERE seq = 2`)
				issueRefused(t, db, r.ID, "event 2, in the audit trail since request r1 was filed, is missing or does not check out")
			})
		}
	})
}

// Two histories spliced: events this process wrote are put back, by their
// macs, in place of another instance's (which held the request's dispute),
// and this process's later events chained onto the other instance's. Each
// event is one this process remembers, but not next to the one before it:
// a recount passes over an event only when its mac was computed over the
// event before it as stored, so the splice is found.
func TestEvidenceSplicedHistories(t *testing.T) {
	pgtest.Backends(t, func(t *testing.T) {
		db, path := openDB(t)
		r := newRequest("r1", 1)
		fileRequest(t, db, r)
		approve(t, db, r, approver) // events 1, 2
		seed(t, db, 2)              // events 3, 4: this process's
		type kept struct{ mac, keyID string }
		saved := map[int64]kept{}
		for _, seq := range []int64{3, 4} {
			var k kept
			if err := db.SQL().QueryRow(`SELECT mac, key_id FROM audit_events WHERE seq = ?`, seq).Scan(&k.mac, &k.keyID); err != nil {
				t.Fatal(err)
			}
			saved[seq] = k
		}
		exec(t, db, `DELETE FROM audit_events WHERE seq >= 3`)

		// Another instance disputes the request (event 3) and writes event 4.
		other := reopen(t, path, testAuditKey)
		ev := tapdesk.Event{Activity: tapdesk.ActDispute, Category: tapdesk.CatRequest, Actor: tapdesk.Actor{Name: "target@x"}}
		if err := other.Transition(context.Background(), mustRequest(t, other, r.ID), store.Change{From: tapdesk.StateApproved, To: tapdesk.StateDisputed}, nil, ev); err != nil {
			t.Fatal(err)
		}
		seed(t, other, 1)
		seed(t, db, 2) // events 5, 6: this process's, chained onto the other's 4

		for seq, k := range saved {
			exec(t, db, `UPDATE audit_events SET mac = ?, key_id = ? WHERE seq = ?`, k.mac, k.keyID, seq)
		}
		exec(t, db, `UPDATE requests SET state = 'approved' WHERE id = ?`, r.ID)
		issueRefused(t, db, r.ID, "event 5, in the audit trail since request r1 was filed, is missing or does not check out")
	})
}
