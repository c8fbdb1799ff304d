package store_test

import (
	"context"
	"errors"
	"fmt"
	"github.com/tapdesk/tapdesk/internal/pgtest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tapdesk/tapdesk"
	"github.com/tapdesk/tapdesk/store"
)

// seed appends n events one transaction each, a minute apart from t0.
func seed(t *testing.T, db *store.DB, n int) {
	t.Helper()
	for i := range n {
		ev := tapdesk.Event{Time: t0.Add(time.Duration(i) * time.Minute), Activity: tapdesk.ActUserLookup,
			Category: tapdesk.CatRequest, Actor: agent, ActorIP: "10.0.0.1",
			TargetUPN: fmt.Sprintf("user%d@x", i+1), Details: map[string]string{"n": fmt.Sprint(i + 1)}}
		if err := db.AppendEvent(context.Background(), ev); err != nil {
			t.Fatal(err)
		}
	}
}

func verify(t *testing.T, db *store.DB) store.VerifyReport {
	t.Helper()
	rep, err := db.VerifyChain(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

func exec(t *testing.T, db *store.DB, q string, args ...any) {
	t.Helper()
	if _, err := db.SQL().Exec(q, args...); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
}

func TestChainHolds(t *testing.T) {
	pgtest.Backends(t, func(t *testing.T) {
		db, _ := openDB(t)
		if rep := verify(t, db); rep.Break != nil || rep.Checked != 0 {
			t.Fatalf("empty trail: %+v", rep)
		}
		seed(t, db, 20)
		rep := verify(t, db)
		if rep.Break != nil {
			t.Fatalf("untouched chain breaks: %+v", rep.Break)
		}
		if rep.Checked != 20 || rep.FirstSeq != 1 || rep.LastSeq != 20 || len(rep.HeadMAC) != 64 {
			t.Fatalf("report %+v", rep)
		}
		// Every mac differs: the chain binds each event to its predecessor.
		var distinct int
		if err := db.SQL().QueryRow(`SELECT COUNT(DISTINCT mac) FROM audit_events`).Scan(&distinct); err != nil || distinct != 20 {
			t.Fatalf("distinct macs %d, %v", distinct, err)
		}
	})
}

func TestChainTamper(t *testing.T) {
	pgtest.Backends(t, func(t *testing.T) {
		cases := []struct {
			name   string
			tamper func(t *testing.T, db *store.DB)
			seq    int64
			kind   store.BreakKind
		}{
			{"change a field", func(t *testing.T, db *store.DB) {
				exec(t, db, `UPDATE audit_events SET record = `+jsonSet(t, 7, `'mallory@x'`)+` WHERE seq = 7`)
			}, 7, store.BreakChanged},
			{"change the details", func(t *testing.T, db *store.DB) {
				exec(t, db, `UPDATE audit_events SET record = `+jsonSet(t, 16, `'{"n":"999"}'`)+` WHERE seq = 3`)
			}, 3, store.BreakChanged},
			{"change the time", func(t *testing.T, db *store.DB) {
				exec(t, db, `UPDATE audit_events SET record = `+jsonSet(t, 0, `'2020-01-01T00:00:00.000000Z'`)+` WHERE seq = 1`)
			}, 1, store.BreakChanged},
			{"change the last event", func(t *testing.T, db *store.DB) {
				exec(t, db, `UPDATE audit_events SET record = `+jsonSet(t, 3, `'failure'`)+` WHERE seq = 10`)
			}, 10, store.BreakChanged},
			{"delete an event", func(t *testing.T, db *store.DB) {
				exec(t, db, `DELETE FROM audit_events WHERE seq = 5`)
			}, 5, store.BreakMissing},
			{"delete the first events", func(t *testing.T, db *store.DB) {
				exec(t, db, `DELETE FROM audit_events WHERE seq <= 2`)
			}, 1, store.BreakMissing},
			{"delete and renumber", func(t *testing.T, db *store.DB) {
				exec(t, db, `DELETE FROM audit_events WHERE seq = 4`)
				exec(t, db, `UPDATE audit_events SET seq = -seq WHERE seq > 4`)
				exec(t, db, `UPDATE audit_events SET seq = -seq - 1 WHERE seq < 0`)
			}, 4, store.BreakChanged},
			{"insert an event", func(t *testing.T, db *store.DB) {
				// Make room at 6 and copy a real event (with its mac) there.
				exec(t, db, `UPDATE audit_events SET seq = -seq WHERE seq >= 6`)
				exec(t, db, `UPDATE audit_events SET seq = -seq + 1 WHERE seq < 0`)
				exec(t, db, `INSERT INTO audit_events (seq, record, mac)
				SELECT 6, `+jsonSet(t, 7, `'mallory@x'`)+`, mac FROM audit_events WHERE seq = 2`)
			}, 6, store.BreakInserted},
			{"append an event", func(t *testing.T, db *store.DB) {
				exec(t, db, `INSERT INTO audit_events (seq, record, mac)
				SELECT 11, record, mac FROM audit_events WHERE seq = 10`)
			}, 11, store.BreakChanged},
			{"swap two", func(t *testing.T, db *store.DB) {
				exec(t, db, `UPDATE audit_events SET seq = -1 WHERE seq = 8`)
				exec(t, db, `UPDATE audit_events SET seq = 8 WHERE seq = 9`)
				exec(t, db, `UPDATE audit_events SET seq = 9 WHERE seq = -1`)
			}, 8, store.BreakReordered},
			{"forge a mac", func(t *testing.T, db *store.DB) {
				exec(t, db, `UPDATE audit_events SET mac = ? WHERE seq = 2`, strings.Repeat("0", 64))
			}, 2, store.BreakChanged},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				db, _ := openDB(t)
				seed(t, db, 10)
				tc.tamper(t, db)
				rep := verify(t, db)
				if rep.Break == nil {
					t.Fatalf("tampering went unnoticed: %+v", rep)
				}
				if rep.Break.Seq != tc.seq || rep.Break.Kind != tc.kind {
					t.Fatalf("break at %d (%s): %s; want %d (%s)", rep.Break.Seq, rep.Break.Kind, rep.Break.Detail, tc.seq, tc.kind)
				}
				if rep.LastSeq != tc.seq-1 && tc.seq > 1 {
					t.Fatalf("checked up to %d, want %d", rep.LastSeq, tc.seq-1)
				}
			})
		}
	})
}

func TestChainWrongKey(t *testing.T) {
	pgtest.Backends(t, func(t *testing.T) {
		db, path := openDB(t)
		seed(t, db, 5)
		db.Close()
		other, err := store.Open(context.Background(), path)
		if err != nil {
			t.Fatal(err)
		}
		defer other.Close()
		if err := other.SetAuditKey("another-key-that-is-also-32-chars-long"); err != nil {
			t.Fatal(err)
		}
		rep := verify(t, other)
		if rep.Break == nil || rep.Break.Seq != 1 || rep.Break.Kind != store.BreakUnknownKey {
			t.Fatalf("wrong key: %+v", rep.Break)
		}
		if err := other.SetAuditKey("short"); err == nil {
			t.Fatal("a 5-character key was accepted")
		}
	})
}

func TestChainNeedsKey(t *testing.T) {
	pgtest.Backends(t, func(t *testing.T) {
		db, err := store.Open(context.Background(), pgtest.DSN(t, t.TempDir()+"/k.db"))
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		if err := db.AppendEvent(context.Background(), tapdesk.Event{Activity: tapdesk.ActSignIn}); err != store.ErrNoAuditKey {
			t.Fatalf("append without a key: %v", err)
		}
	})
}

// An append chains onto the event this process committed last without
// reading the head, as long as the trail still ends there: when another
// instance has appended since, or the newest event at that number is no
// longer the one it wrote, it reads the head and chains onto that.
func TestAppendFollowsAnotherWriter(t *testing.T) {
	pgtest.Backends(t, func(t *testing.T) {
		db, path := openDB(t)
		other := reopen(t, path, testAuditKey) // another instance (or a CLI command on the file)
		ctx := context.Background()
		appendBy := func(d *store.DB, who string, n int) {
			t.Helper()
			for i := range n {
				ev := tapdesk.Event{Activity: tapdesk.ActSignIn, Category: tapdesk.CatSignIn,
					Actor: tapdesk.Actor{UPN: fmt.Sprintf("%s%d@contoso.example", who, i)}}
				if err := d.AppendEvent(ctx, ev); err != nil {
					t.Fatal(err)
				}
			}
		}
		appendBy(db, "a", 2)
		appendBy(other, "b", 3) // db's next append finds the trail moved on
		appendBy(db, "a", 1)
		appendBy(other, "b", 1)
		fileRequest(t, db, newRequest("after-other", 1)) // a transaction of several events
		// The head db wrote last is cut and another event written at its
		// number: the same number, a different mac.
		var head int64
		if err := db.SQL().QueryRow(`SELECT MAX(seq) FROM audit_events`).Scan(&head); err != nil {
			t.Fatal(err)
		}
		exec(t, db, `DELETE FROM audit_events WHERE seq = ?`, head)
		appendBy(other, "b", 1)
		appendBy(db, "a", 1)
		var n, last int64
		if err := db.SQL().QueryRow(`SELECT COUNT(*), MAX(seq) FROM audit_events`).Scan(&n, &last); err != nil {
			t.Fatal(err)
		}
		if rep := verify(t, db); rep.Break != nil || rep.Checked != n || last != n {
			t.Fatalf("%d events up to %d: %+v %+v", n, last, rep, rep.Break)
		}
		if _, bad, err := db.RequestEvidence(ctx, "after-other"); err != nil || len(bad) != 0 {
			t.Fatalf("request evidence: unverified %v, %v", bad, err)
		}
		// A batch after the other's append chains on too.
		appendBy(other, "b", 1)
		if err := db.AppendEvents(ctx, 5, 5, func(i int) tapdesk.Event {
			return tapdesk.Event{Activity: tapdesk.ActSignIn, Category: tapdesk.CatSignIn, Actor: tapdesk.Actor{UPN: fmt.Sprintf("batch%d@contoso.example", i)}}
		}); err != nil {
			t.Fatal(err)
		}
		if rep := verify(t, db); rep.Break != nil || rep.Checked != n+6 {
			t.Fatalf("after a batch: %+v %+v", rep, rep.Break)
		}

		// The key id of the event db wrote last is changed, its mac left:
		// db writes nothing onto it, whether it reads the head or guesses
		// it.
		appendBy(db, "a", 1)
		exec(t, db, `UPDATE audit_events SET key_id = 'deadbeefdeadbeef' WHERE seq = (SELECT MAX(seq) FROM audit_events)`)
		var mismatch *store.KeyMismatchError
		if err := db.AppendEvent(ctx, tapdesk.Event{Activity: tapdesk.ActSignIn, Category: tapdesk.CatSignIn}); !errors.As(err, &mismatch) {
			t.Fatalf("appended onto a head whose key id was changed: %v", err)
		}
	})
}

// Appends from many goroutines, through two handles on one file (two
// instances of tapdesk), never fork the chain: each transaction takes the
// head (read, or guessed and checked) under the database's write lock.
func TestChainConcurrentAppends(t *testing.T) {
	pgtest.Backends(t, func(t *testing.T) {
		db, path := openDB(t)
		other, err := store.Open(context.Background(), path)
		if err != nil {
			t.Fatal(err)
		}
		defer other.Close()
		if err := other.SetAuditKey(testAuditKey); err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		errs := make(chan error, 8)
		for w := range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				db := db
				if w%2 == 1 {
					db = other
				}
				for i := range 25 {
					ev := tapdesk.Event{Activity: tapdesk.ActSignIn, Category: tapdesk.CatSignIn,
						Details: map[string]string{"w": fmt.Sprint(w), "i": fmt.Sprint(i)}}
					if err := db.AppendEvent(context.Background(), ev); err != nil {
						errs <- err
						return
					}
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
		if rep := verify(t, db); rep.Break != nil || rep.Checked != 200 {
			t.Fatalf("concurrent appends: %+v %+v", rep, rep.Break)
		}
	})
}

func TestPrune(t *testing.T) {
	pgtest.Backends(t, func(t *testing.T) {
		db, _ := openDB(t)
		seed(t, db, 10) // t0, t0+1m, ... t0+9m
		res, err := db.PruneEvents(context.Background(), t0.Add(4*time.Minute), agent)
		if err != nil {
			t.Fatal(err)
		}
		if res.Removed != 4 || res.ThroughSeq != 4 || res.CheckpointSeq != 11 {
			t.Fatalf("prune %+v", res)
		}
		rep := verify(t, db)
		if rep.Break != nil || rep.FirstSeq != 5 || rep.CheckpointSeq != 11 || rep.Checked != 7 {
			t.Fatalf("after prune: %+v %+v", rep, rep.Break)
		}
		cp := events(t, db, store.EventFilter{Activity: string(tapdesk.ActAuditPruned)})
		if len(cp) != 1 || cp[0].Details["removed"] != "4" || cp[0].Actor.UPN != agent.UPN {
			t.Fatalf("checkpoint %+v", cp)
		}

		// Appending and pruning again still verifies.
		seed(t, db, 2)
		if _, err := db.PruneEvents(context.Background(), t0.Add(7*time.Minute), agent); err != nil {
			t.Fatal(err)
		}
		if rep := verify(t, db); rep.Break != nil || rep.FirstSeq != 8 {
			t.Fatalf("second prune: %+v %+v", rep, rep.Break)
		}
		// Nothing older: a no-op, no checkpoint.
		res, err = db.PruneEvents(context.Background(), t0.Add(-time.Hour), agent)
		if err != nil || res.Removed != 0 {
			t.Fatalf("empty prune %+v %v", res, err)
		}

		// Deleting more behind the checkpoint is noticed.
		exec(t, db, `DELETE FROM audit_events WHERE seq = 8`)
		if rep := verify(t, db); rep.Break == nil || rep.Break.Seq != 8 || rep.Break.Kind != store.BreakMissing {
			t.Fatalf("deleted after prune: %+v", rep.Break)
		}
		// And then pruning refuses, so tampering cannot be washed away.
		if _, err := db.PruneEvents(context.Background(), t0.Add(9*time.Minute), agent); tapdesk.ErrorCode(err) != tapdesk.ECONFLICT {
			t.Fatalf("prune over a broken chain: %v", err)
		}
	})
}

// Pruning every event (all older than the cut) keeps the chain's numbering:
// the checkpoint follows the last event removed, it does not restart at 1.
func TestPruneEverything(t *testing.T) {
	pgtest.Backends(t, func(t *testing.T) {
		db, _ := openDB(t)
		seed(t, db, 5)
		res, err := db.PruneEvents(context.Background(), t0.Add(time.Hour), agent)
		if err != nil {
			t.Fatal(err)
		}
		if res.Removed != 5 || res.ThroughSeq != 5 || res.CheckpointSeq != 6 {
			t.Fatalf("prune %+v", res)
		}
		rep := verify(t, db)
		if rep.Break != nil || rep.FirstSeq != 6 || rep.LastSeq != 6 || rep.CheckpointSeq != 6 {
			t.Fatalf("after pruning everything: %+v %+v", rep, rep.Break)
		}
		seed(t, db, 1)
		if rep := verify(t, db); rep.Break != nil || rep.LastSeq != 7 {
			t.Fatalf("appended after: %+v %+v", rep, rep.Break)
		}
	})
}

func TestPruneCheckpointForged(t *testing.T) {
	pgtest.Backends(t, func(t *testing.T) {
		db, _ := openDB(t)
		seed(t, db, 6)
		if _, err := db.PruneEvents(context.Background(), t0.Add(3*time.Minute), agent); err != nil {
			t.Fatal(err)
		}
		// Deleting the checkpoint leaves the pruned stretch unexplained.
		exec(t, db, `DELETE FROM audit_events WHERE activity = ?`, string(tapdesk.ActAuditPruned))
		rep := verify(t, db)
		if rep.Break == nil || rep.Break.Seq != 1 || rep.Break.Kind != store.BreakMissing {
			t.Fatalf("checkpoint deleted: %+v", rep.Break)
		}
	})
}

// Cutting events off the end leaves no gap in the chain, but requests
// changed after the last event give it away; so does an emptied trail.
func TestChainTruncatedTail(t *testing.T) {
	pgtest.Backends(t, func(t *testing.T) {
		db, _ := openDB(t)
		seed(t, db, 5)
		r := newRequest("late", 1)
		r.CreatedAt, r.UpdatedAt = t0.Add(10*time.Minute), t0.Add(10*time.Minute)
		ev := tapdesk.Event{Time: r.CreatedAt, Activity: tapdesk.ActRequestFiled, Category: tapdesk.CatRequest, Actor: agent}
		if err := db.FileRequest(context.Background(), r, ev, nil); err != nil {
			t.Fatal(err)
		}
		if rep := verify(t, db); rep.Break != nil || rep.LastSeq != 6 {
			t.Fatalf("untouched: %+v %+v", rep, rep.Break)
		}
		exec(t, db, `DELETE FROM audit_events WHERE seq = 6`)
		rep := verify(t, db)
		if rep.Break == nil || rep.Break.Seq != 6 || rep.Break.Kind != store.BreakMissing || !strings.Contains(rep.Break.Detail, "cut off the end") {
			t.Fatalf("truncated tail: %+v", rep.Break)
		}
		exec(t, db, `DELETE FROM audit_events`)
		rep = verify(t, db)
		if rep.Break == nil || rep.Break.Seq != 1 || rep.Break.Kind != store.BreakMissing {
			t.Fatalf("emptied trail: %+v", rep.Break)
		}
	})
}

// Redefining a generated column changes no record, but changes what
// filters and exports show: verify compares the table's definition.
func TestChainTableRedefined(t *testing.T) {
	pgtest.Backends(t, func(t *testing.T) {
		t.Run("generated column", func(t *testing.T) {
			db, _ := openDB(t)
			seed(t, db, 3)
			if pgtest.OnPostgres(t) {
				exec(t, db, `CREATE TABLE audit_events_x (seq BIGINT PRIMARY KEY, record TEXT NOT NULL, mac TEXT NOT NULL,
				key_id TEXT NOT NULL DEFAULT '',
				time TEXT GENERATED ALWAYS AS (record::jsonb ->> 0) STORED,
				activity TEXT GENERATED ALWAYS AS (record::jsonb ->> 1) STORED,
				result TEXT GENERATED ALWAYS AS (record::jsonb ->> 3) STORED,
				actor_oid TEXT GENERATED ALWAYS AS (record::jsonb ->> 6) STORED,
				actor_upn TEXT GENERATED ALWAYS AS (CASE WHEN seq = 2 THEN 'nobody' ELSE record::jsonb ->> 7 END) STORED,
				target_id TEXT GENERATED ALWAYS AS (record::jsonb ->> 11) STORED,
				target_upn TEXT GENERATED ALWAYS AS (record::jsonb ->> 12) STORED,
				request_id TEXT GENERATED ALWAYS AS (record::jsonb ->> 13) STORED,
				http_request_id TEXT GENERATED ALWAYS AS (record::jsonb ->> 17) STORED)`)
			} else {
				exec(t, db, `CREATE TABLE audit_events_x (seq INTEGER PRIMARY KEY, record TEXT NOT NULL, mac TEXT NOT NULL,
			time TEXT GENERATED ALWAYS AS (json_extract(record, '$[0]')) VIRTUAL,
			activity TEXT GENERATED ALWAYS AS (json_extract(record, '$[1]')) VIRTUAL,
			result TEXT GENERATED ALWAYS AS (json_extract(record, '$[3]')) VIRTUAL,
			actor_oid TEXT GENERATED ALWAYS AS (json_extract(record, '$[6]')) VIRTUAL,
			actor_upn TEXT GENERATED ALWAYS AS (CASE WHEN seq = 2 THEN 'nobody' ELSE json_extract(record, '$[7]') END) VIRTUAL,
			target_id TEXT GENERATED ALWAYS AS (json_extract(record, '$[11]')) VIRTUAL,
			target_upn TEXT GENERATED ALWAYS AS (json_extract(record, '$[12]')) VIRTUAL,
			request_id TEXT GENERATED ALWAYS AS (json_extract(record, '$[13]')) VIRTUAL)`)
			}
			exec(t, db, `INSERT INTO audit_events_x (seq, record, mac) SELECT seq, record, mac FROM audit_events`)
			exec(t, db, `DROP TABLE audit_events`)
			exec(t, db, `ALTER TABLE audit_events_x RENAME TO audit_events`)
			if n := len(events(t, db, store.EventFilter{Actor: agent.UPN})); n != 2 {
				t.Fatalf("the redefinition should hide one event from a filter; %d shown", n)
			}
			rep := verify(t, db)
			if rep.Break == nil || rep.Break.Kind != store.BreakSchema {
				t.Fatalf("redefined table: %+v", rep.Break)
			}
		})
		t.Run("trigger", func(t *testing.T) {
			db, _ := openDB(t)
			seed(t, db, 3)
			if pgtest.OnPostgres(t) {
				exec(t, db, `CREATE FUNCTION quiet() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NEW; END $$`)
				exec(t, db, `CREATE TRIGGER quiet BEFORE INSERT ON audit_events FOR EACH ROW EXECUTE FUNCTION quiet()`)
			} else {
				exec(t, db, `CREATE TRIGGER quiet BEFORE INSERT ON audit_events BEGIN SELECT 1; END`)
			}
			if rep := verify(t, db); rep.Break == nil || rep.Break.Kind != store.BreakSchema {
				t.Fatalf("trigger: %+v", rep.Break)
			}
		})
		if pgtest.OnPostgres(t) {
			// A row-level security policy hides rows from some readers
			// (not from the table's owner, who verifies): verify refuses
			// a table that has one, as it refuses a trigger.
			t.Run("policy", func(t *testing.T) {
				db, _ := openDB(t)
				seed(t, db, 3)
				exec(t, db, `ALTER TABLE audit_events ENABLE ROW LEVEL SECURITY`)
				exec(t, db, `CREATE POLICY hide ON audit_events USING (actor_upn <> 'mallory@x')`)
				if rep := verify(t, db); rep.Break == nil || rep.Break.Kind != store.BreakSchema {
					t.Fatalf("policy: %+v", rep.Break)
				}
			})
			for name, change := range map[string]string{
				// emptied by crash recovery, not replicated
				"unlogged": `ALTER TABLE audit_events SET UNLOGGED`,
				// a child's rows show in every query of the parent
				"inherited": `CREATE TABLE audit_more () INHERITS (audit_events)`,
			} {
				t.Run(name, func(t *testing.T) {
					db, _ := openDB(t)
					seed(t, db, 3)
					exec(t, db, change)
					if rep := verify(t, db); rep.Break == nil || rep.Break.Kind != store.BreakSchema {
						t.Fatalf("%s: %+v", name, rep.Break)
					}
				})
			}
			t.Run("shadowed by a view", func(t *testing.T) {
				db, dsn := openDB(t)
				seed(t, db, 3)
				// A view of the same name earlier in the search path is
				// what the store's queries would read.
				exec(t, db, `CREATE SCHEMA shadow`)
				exec(t, db, `CREATE VIEW shadow.audit_events AS SELECT * FROM public.audit_events WHERE seq <> 2`)
				shadowed, err := store.OpenExisting(context.Background(), dsn+"&search_path=shadow,public")
				if err != nil {
					t.Fatal(err)
				}
				defer shadowed.Close()
				shadowed.SetAuditKey(testAuditKey)
				if rep := verify(t, shadowed); rep.Break == nil || rep.Break.Kind != store.BreakSchema {
					t.Fatalf("view: %+v", rep.Break)
				}
			})
		}
	})
}

// A head recorded elsewhere catches events cut off the end that no request
// gives away, and a trail rewritten from it.
func TestChainRecordedHead(t *testing.T) {
	pgtest.Backends(t, func(t *testing.T) {
		db, _ := openDB(t)
		seed(t, db, 10)
		head := verify(t, db)
		recorded := store.Head{Seq: head.LastSeq, MAC: head.HeadMAC}
		rep, err := db.VerifyChain(context.Background(), recorded)
		if err != nil || rep.Break != nil {
			t.Fatalf("untouched, with its head: %+v %v", rep.Break, err)
		}
		seed(t, db, 2) // the trail grows past the recorded head: still fine
		if rep, _ := db.VerifyChain(context.Background(), recorded); rep.Break != nil {
			t.Fatalf("grown: %+v", rep.Break)
		}
		exec(t, db, `DELETE FROM audit_events WHERE seq > 7`) // sign-ins only: no request shows it
		if rep := verify(t, db); rep.Break != nil {
			t.Fatalf("without the head the cut is invisible, as documented; got %+v", rep.Break)
		}
		rep, _ = db.VerifyChain(context.Background(), recorded)
		if rep.Break == nil || rep.Break.Seq != 8 || rep.Break.Kind != store.BreakMissing {
			t.Fatalf("cut below the recorded head: %+v", rep.Break)
		}
		wrong := recorded
		wrong.Seq, wrong.MAC = 5, strings.Repeat("ab", 32)
		if rep, _ := db.VerifyChain(context.Background(), wrong); rep.Break == nil || rep.Break.Seq != 5 || rep.Break.Kind != store.BreakChanged {
			t.Fatalf("wrong recorded mac: %+v", rep.Break)
		}
		for _, bad := range []string{"", "12", "x:" + recorded.MAC, "0:" + recorded.MAC, "3:abc"} {
			if _, err := store.ParseHead(bad); err == nil {
				t.Errorf("ParseHead(%q) accepted", bad)
			}
		}
		if h, err := store.ParseHead(" 10:" + strings.ToUpper(recorded.MAC)); err != nil || h != recorded {
			t.Errorf("ParseHead: %+v %v", h, err)
		}
	})
}

// jsonSet is SQL for the audit record with the fields at the given
// indexes set to the given SQL text values (pairs of index and value), in
// the dialect of t's database: tests tamper with records as an attacker
// with write access to the database would.
func jsonSet(t *testing.T, pairs ...any) string {
	t.Helper()
	expr := "record"
	if pgtest.OnPostgres(t) {
		expr = "record::jsonb"
		for i := 0; i < len(pairs); i += 2 {
			expr = fmt.Sprintf("jsonb_set(%s, '{%d}', to_jsonb((%s)::text))", expr, pairs[i], pairs[i+1])
		}
		return expr + "::text"
	}
	for i := 0; i < len(pairs); i += 2 {
		expr = fmt.Sprintf("json_set(%s, '$[%d]', %s)", expr, pairs[i], pairs[i+1])
	}
	return expr
}
