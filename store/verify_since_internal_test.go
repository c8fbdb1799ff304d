package store

import (
	"context"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tapdesk/tapdesk"
	"github.com/tapdesk/tapdesk/internal/pgtest"
)

// signedTrail writes 20 events: a checkpoint signed at event 10, its
// publication event at 11 (as RecordCheckpoint writes it), and 9 more.
func signedTrail(t *testing.T) (*DB, Head, string) {
	t.Helper()
	dsn := pgtest.DSN(t, filepath.Join(t.TempDir(), "tapdesk.db"))
	db := openKeyed(t, dsn)
	ctx := context.Background()
	signIn := func(i int) {
		t.Helper()
		if err := db.AppendEvent(ctx, tapdesk.Event{Activity: tapdesk.ActSignIn, Category: tapdesk.CatSignIn,
			Reason: "sign-in " + strconv.Itoa(i)}); err != nil {
			t.Fatal(err)
		}
	}
	for i := 1; i <= 10; i++ {
		signIn(i)
	}
	var cp Head
	cp.Seq = 10
	if err := db.SQL().QueryRowContext(ctx, `SELECT mac FROM audit_events WHERE seq = 10`).Scan(&cp.MAC); err != nil {
		t.Fatal(err)
	}
	slot := "2026-11-29T10:00:00Z"
	if ok, err := db.ClaimCheckpointSlot(ctx, slot, time.Now(), time.Minute); err != nil || !ok {
		t.Fatalf("claim: %v %v", ok, err)
	}
	if err := db.RecordCheckpoint(ctx, slot, 10, cp.MAC, `{"format":"tapdesk-audit-checkpoint-v1"}`, tapdesk.Event{
		Activity: tapdesk.ActCheckpointPublished, Category: tapdesk.CatAudit, Details: map[string]string{"seq": "10", "mac": cp.MAC}}); err != nil {
		t.Fatal(err)
	}
	for i := 12; i <= 20; i++ {
		signIn(i)
	}
	return db, cp, dsn
}

// openKeyed opens dsn with the audit key; a second call is a second
// process's view of the same trail.
func openKeyed(t *testing.T, dsn string) *DB {
	t.Helper()
	db, err := Open(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if err := db.SetAuditKey(strings.Repeat("k", 32)); err != nil {
		t.Fatal(err)
	}
	return db
}

// rewrite changes event seq's record as someone without the audit key
// would: its mac stays as it was.
func rewrite(t *testing.T, db *DB, seq int64) {
	t.Helper()
	var record string
	if err := db.SQL().QueryRow(`SELECT record FROM audit_events WHERE seq = ?`, seq).Scan(&record); err != nil {
		t.Fatal(err)
	}
	changed := strings.Replace(record, "sign-in ", "sign-out ", 1)
	if changed == record {
		t.Fatalf("event %d has nothing to rewrite: %s", seq, record)
	}
	if _, err := db.SQL().Exec(`UPDATE audit_events SET record = ? WHERE seq = ?`, changed, seq); err != nil {
		t.Fatal(err)
	}
}

// forge re-signs every event from seq on with the audit key, as someone
// holding it would after rewriting event seq: the chain holds again.
func forge(t *testing.T, db *DB, from int64) {
	t.Helper()
	var prev string
	if err := db.SQL().QueryRow(`SELECT mac FROM audit_events WHERE seq = ?`, from-1).Scan(&prev); err != nil {
		t.Fatal(err)
	}
	h := db.keys.ring().hasher(db.keys.current)
	rows, err := db.SQL().Query(`SELECT seq, record FROM audit_events WHERE seq >= ? ORDER BY seq`, from)
	if err != nil {
		t.Fatal(err)
	}
	type row struct {
		seq    int64
		record string
	}
	var all []row
	for rows.Next() {
		var r row
		if err := rows.Scan(&r.seq, &r.record); err != nil {
			t.Fatal(err)
		}
		all = append(all, r)
	}
	rows.Close()
	for _, r := range all {
		mac := string(h.mac(prev, r.seq, h.id, r.record))
		if _, err := db.SQL().Exec(`UPDATE audit_events SET mac = ? WHERE seq = ?`, mac, r.seq); err != nil {
			t.Fatal(err)
		}
		prev = mac
	}
}

func walk(t *testing.T, db *DB, w TrailWalk) VerifyReport {
	t.Helper()
	rep, _, err := db.VerifySince(context.Background(), w)
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

func fullVerify(t *testing.T, db *DB) VerifyReport {
	t.Helper()
	rep, err := db.VerifyChain(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

func wantBreak(t *testing.T, rep VerifyReport, seq int64, kind BreakKind) {
	t.Helper()
	if rep.Break == nil || rep.Break.Seq != seq || rep.Break.Kind != kind {
		t.Fatalf("break %+v, want event %d %s", rep.Break, seq, kind)
	}
}

// The walk from a signed checkpoint reads only from it on, and every
// attack on the trail around it is caught by it, except one, which the
// full walk catches: a record before the checkpoint changed by someone
// without the audit key (the macs after it still chain).
func TestVerifySinceCheckpoint(t *testing.T) {
	pgtest.Backends(t, func(t *testing.T) {
		t.Run("intact", func(t *testing.T) {
			db, cp, _ := signedTrail(t)
			rep := walk(t, db, TrailWalk{Signed: &cp})
			if rep.Break != nil || rep.FirstSeq != 10 || rep.SignedSeq != 10 || rep.Checked != 11 || rep.LastSeq != 20 {
				t.Fatalf("walk from the checkpoint: %+v %+v", rep, rep.Break)
			}
			if rep := fullVerify(t, db); rep.Break != nil || rep.Checked != 20 {
				t.Fatalf("verify: %+v %+v", rep, rep.Break)
			}
			full := walk(t, db, TrailWalk{Signed: &cp, Full: true})
			if full.Break != nil || full.FirstSeq != 1 || full.SignedSeq != 0 || full.Checked != 20 || full.HeadMAC != rep.HeadMAC {
				t.Fatalf("full walk: %+v %+v", full, full.Break)
			}
		})
		t.Run("a record before the checkpoint changed without the key: only the full walk sees it", func(t *testing.T) {
			db, cp, _ := signedTrail(t)
			rewrite(t, db, 5)
			if rep := walk(t, db, TrailWalk{Signed: &cp}); rep.Break != nil {
				t.Fatalf("the walk from the checkpoint now reads event 5? %+v", rep.Break)
			}
			wantBreak(t, walk(t, db, TrailWalk{Signed: &cp, Full: true}), 5, BreakChanged)
		})
		t.Run("a record before the checkpoint changed and the macs forged with the key: caught at the seam", func(t *testing.T) {
			db, cp, _ := signedTrail(t)
			rewrite(t, db, 5)
			forge(t, db, 5)
			if rep := walk(t, db, TrailWalk{}); rep.Break != nil {
				t.Fatalf("the forged chain should hold without the signed mac: %+v", rep.Break)
			}
			wantBreak(t, walk(t, db, TrailWalk{Signed: &cp}), 10, BreakChanged)
			wantBreak(t, walk(t, db, TrailWalk{Signed: &cp, Full: true}), 10, BreakChanged)
			// verify (the CLI, Audit > Verify) holds the trail to the last
			// published checkpoint too.
			wantBreak(t, fullVerify(t, db), 10, BreakChanged)
		})
		t.Run("the checkpoint's own event changed", func(t *testing.T) {
			db, cp, _ := signedTrail(t)
			rewrite(t, db, 10)
			wantBreak(t, walk(t, db, TrailWalk{Signed: &cp}), 10, BreakChanged)
		})
		t.Run("an event after the checkpoint changed", func(t *testing.T) {
			db, cp, _ := signedTrail(t)
			rewrite(t, db, 15)
			wantBreak(t, walk(t, db, TrailWalk{Signed: &cp}), 15, BreakChanged)
		})
		t.Run("an event after the checkpoint deleted", func(t *testing.T) {
			db, cp, _ := signedTrail(t)
			if _, err := db.SQL().Exec(`DELETE FROM audit_events WHERE seq = 15`); err != nil {
				t.Fatal(err)
			}
			wantBreak(t, walk(t, db, TrailWalk{Signed: &cp}), 15, BreakMissing)
		})
		for _, c := range []struct {
			name string
			from int64
			at   int64
		}{
			{"the tail cut after the checkpoint, its publication with it", 11, 11},
			{"the tail cut from the checkpoint on", 10, 10},
		} {
			t.Run(c.name, func(t *testing.T) {
				db, cp, dsn := signedTrail(t)
				if _, err := db.SQL().Exec(`DELETE FROM audit_events WHERE seq >= ?`, c.from); err != nil {
					t.Fatal(err)
				}
				// A process that never saw the cut events (a restart, the CLI).
				fresh := openKeyed(t, dsn)
				wantBreak(t, walk(t, fresh, TrailWalk{Signed: &cp}), c.at, BreakMissing)
				wantBreak(t, walk(t, fresh, TrailWalk{Signed: &cp, Full: true}), c.at, BreakMissing)
				wantBreak(t, fullVerify(t, fresh), c.at, BreakMissing)
				// And the process that wrote them knows its own head.
				wantBreak(t, walk(t, db, TrailWalk{}), c.from, BreakMissing)
			})
		}
		t.Run("the walk starts at the request's first event when it is older", func(t *testing.T) {
			db, _, _ := signedTrail(t)
			ctx := context.Background()
			r := &tapdesk.Request{ID: "req-1"}
			for _, ev := range []tapdesk.Event{
				tapdesk.Event{Activity: tapdesk.ActRequestFiled, Category: tapdesk.CatRequest}.ForRequest(r), // 21
				{Activity: tapdesk.ActSignIn, Category: tapdesk.CatSignIn},                                   // 22
			} {
				if err := db.AppendEvent(ctx, ev); err != nil {
					t.Fatal(err)
				}
			}
			cp := Head{Seq: 22}
			if err := db.SQL().QueryRow(`SELECT mac FROM audit_events WHERE seq = 22`).Scan(&cp.MAC); err != nil {
				t.Fatal(err)
			}
			if err := db.AppendEvent(ctx, tapdesk.Event{Activity: tapdesk.ActCheckpointPublished, Category: tapdesk.CatAudit,
				Details: map[string]string{"seq": "22", "mac": cp.MAC}}); err != nil {
				t.Fatal(err)
			}
			rep, sealed, err := db.VerifySince(ctx, TrailWalk{Signed: &cp, RequestID: "req-1"})
			if err != nil || rep.Break != nil || len(sealed) != 1 || sealed[0].Seq != 21 || rep.FirstSeq != 21 || rep.Checked != 3 {
				t.Fatalf("%+v %+v %+v %v", rep, rep.Break, sealed, err)
			}
			rewrite(t, db, 15) // before the request's first event: not the pack's to read
			rewriteRequest := func() {
				if _, err := db.SQL().Exec(`UPDATE audit_events SET record = REPLACE(record, 'File request', 'Filed request') WHERE seq = 21`); err != nil {
					t.Fatal(err)
				}
			}
			if rep := walk(t, db, TrailWalk{Signed: &cp, RequestID: "req-1"}); rep.Break != nil {
				t.Fatalf("%+v", rep.Break)
			}
			rewriteRequest()
			wantBreak(t, walk(t, db, TrailWalk{Signed: &cp, RequestID: "req-1"}), 21, BreakChanged)
		})
	})
}

// A walk from the checkpoint reports the first alarm it walks over (a
// tampering event, a failed verify), not a passing verify, and none
// before the checkpoint it starts from: the publisher's cue to walk the
// whole trail.
func TestVerifySinceReportsAnAlarmAfterTheCheckpoint(t *testing.T) {
	pgtest.Backends(t, func(t *testing.T) {
		db, cp, _ := signedTrail(t)
		ctx := context.Background()
		if rep := walk(t, db, TrailWalk{Signed: &cp}); rep.Break != nil || rep.AlarmSeq != 0 {
			t.Fatalf("a quiet trail: alarm %d, break %+v", rep.AlarmSeq, rep.Break)
		}
		for _, ev := range []tapdesk.Event{
			{Activity: tapdesk.ActAuditVerified, Category: tapdesk.CatAudit}, // 21: passed
			// 22: failed, its record escaped (the slow path)
			{Activity: tapdesk.ActAuditVerified, Category: tapdesk.CatAudit, Result: tapdesk.ResultFailure, Reason: `event 3: "changed"`},
			{Activity: tapdesk.ActTamperDetected, Category: tapdesk.CatAudit, Result: tapdesk.ResultFailure}, // 23
		} {
			if err := db.AppendEvent(ctx, ev); err != nil {
				t.Fatal(err)
			}
		}
		if rep := walk(t, db, TrailWalk{Signed: &cp}); rep.Break != nil || rep.AlarmSeq != 22 {
			t.Fatalf("the failed verify at 22 is not reported: alarm %d, break %+v", rep.AlarmSeq, rep.Break)
		}
		if _, err := db.SQL().Exec(`UPDATE audit_events SET record = REPLACE(record, ?, ?) WHERE seq = 22`,
			string(tapdesk.ResultFailure), string(tapdesk.ResultSuccess)); err != nil {
			t.Fatal(err)
		}
		if rep := walk(t, db, TrailWalk{Signed: &cp}); rep.Break == nil || rep.Break.Seq != 22 {
			t.Fatalf("an alarm cannot be hidden without breaking the chain: %+v", rep.Break)
		}
	})
}
