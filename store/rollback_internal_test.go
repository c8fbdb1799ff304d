package store

import (
	"context"
	"database/sql"
	"errors"
	"github.com/tapdesk/tapdesk/internal/pgtest"
	"testing"

	"github.com/tapdesk/tapdesk"
)

// Found by the crash test: a transaction that appended two events and then
// rolled back (a conflict after its writes) left the second event's number
// noted as seen, so the next issue-time walk called the trail cut off the
// end and refused a real request as tampering.
func TestRolledBackAppendsAreNotSeen(t *testing.T) {
	pgtest.Backends(t, func(t *testing.T) {
		ctx := context.Background()
		db := keyedTestDB(t)
		filed := tapdesk.Event{Activity: tapdesk.ActRequestFiled, Category: tapdesk.CatRequest, RequestID: "r1",
			Actor: tapdesk.Actor{TenantID: "t", ObjectID: "agent"}, Details: map[string]string{"approvals_required": "1"}}
		if err := db.AppendEvent(ctx, filed); err != nil {
			t.Fatal(err)
		}
		conflict := errors.New("the request moved meanwhile")
		err := db.inTx(ctx, func(tx *sql.Tx) error {
			for range 2 {
				if err := db.appendEvent(ctx, tx, tapdesk.Event{Activity: tapdesk.ActMailQueued, Category: tapdesk.CatMail, RequestID: "r1"}); err != nil {
					return err
				}
			}
			return conflict
		})
		if !errors.Is(err, conflict) {
			t.Fatalf("inTx = %v", err)
		}
		events, unverified, err := db.RequestEvidence(ctx, "r1")
		if err != nil {
			t.Fatal(err)
		}
		if len(unverified) != 0 || len(events) != 1 {
			t.Fatalf("after a rolled-back transaction: events %d, unverified %v", len(events), unverified)
		}
	})
}

// A recount passes over the events this process wrote, but only those
// that committed: an event a rollback took back never existed, and its mac
// must not stand for whatever another instance writes at its number.
func TestRolledBackAppendsAreNotRemembered(t *testing.T) {
	ctx := context.Background()
	db := keyedTestDB(t)
	if err := db.AppendEvent(ctx, tapdesk.Event{Activity: tapdesk.ActUserLookup, Category: tapdesk.CatRequest}); err != nil {
		t.Fatal(err)
	}
	err := db.inTx(ctx, func(tx *sql.Tx) error {
		if err := db.appendEvent(ctx, tx, tapdesk.Event{Activity: tapdesk.ActUserLookup, Category: tapdesk.CatRequest}); err != nil {
			return err
		}
		return errors.New("the request moved meanwhile")
	})
	if err == nil {
		t.Fatal("inTx succeeded")
	}
	remembered := func(seq int64) bool {
		db.keys.verified.mu.Lock()
		defer db.keys.verified.mu.Unlock()
		return db.keys.verified.rows[seq%verifiedCap].seq == seq
	}
	if !remembered(1) || remembered(2) {
		t.Fatalf("remembered: committed event 1 %v, rolled-back event 2 %v", remembered(1), remembered(2))
	}
}
