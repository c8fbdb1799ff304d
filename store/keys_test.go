package store_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"github.com/tapdesk/tapdesk/internal/pgtest"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tapdesk/tapdesk"
	"github.com/tapdesk/tapdesk/store"
)

const (
	keyA = "rotation-test-key-A-0123456789abcdef"
	keyB = "rotation-test-key-B-0123456789abcdef"
	keyC = "rotation-test-key-C-0123456789abcdef"
)

// reopen opens the database at path again with the given keys.
func reopen(t *testing.T, path, key string, old ...string) *store.DB {
	t.Helper()
	db, err := store.Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	db.Now = func() time.Time { return t0 }
	if err := db.SetAuditKey(key, old...); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// keyIDs lists each event's stored key id, in seq order.
func keyIDs(t *testing.T, db *store.DB) []string {
	t.Helper()
	rows, err := db.SQL().Query(`SELECT key_id FROM audit_events ORDER BY seq`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			t.Fatal(err)
		}
		out = append(out, id)
	}
	return out
}

// rotated is a trail of 5 events under key A, then 5 under key B (A kept
// as an old key), as after a rotation.
func rotated(t *testing.T) (path string, db *store.DB) {
	t.Helper()
	path = pgtest.DSN(t, filepath.Join(t.TempDir(), "tapdesk.db"))
	a := reopen(t, path, keyA)
	seed(t, a, 5)
	a.Close()
	db = reopen(t, path, keyB, keyA)
	if err := db.CheckAuditKey(context.Background()); err != nil {
		t.Fatalf("the first start after a rotation: %v", err)
	}
	seed(t, db, 5)
	return path, db
}

func TestKeyRotation(t *testing.T) {
	pgtest.Backends(t, func(t *testing.T) {
		_, db := rotated(t)
		ids := keyIDs(t, db)
		idA, idB := store.AuditKeyID(keyA), store.AuditKeyID(keyB)
		if want := []string{idA, idA, idA, idA, idA, idB, idB, idB, idB, idB}; strings.Join(ids, ",") != strings.Join(want, ",") {
			t.Fatalf("key ids %v, want %v", ids, want)
		}
		if len(idA) != 16 || idA == idB || strings.Contains(keyA, idA) {
			t.Fatalf("key id %q", idA)
		}
		if rep := verify(t, db); rep.Break != nil || rep.Checked != 10 {
			t.Fatalf("rotated trail: %+v %+v", rep, rep.Break)
		}
		if err := db.CheckAuditKey(context.Background()); err != nil {
			t.Fatal(err)
		}
		var out strings.Builder
		if _, err := db.ExportEvents(context.Background(), &out, store.FormatJSONL, store.EventFilter{}); err != nil {
			t.Fatal(err)
		}
		if lines := strings.Split(strings.TrimSpace(out.String()), "\n"); len(lines) != 10 ||
			!strings.Contains(lines[0], `"macKeyId":"`+idA+`"`) || !strings.Contains(lines[9], `"macKeyId":"`+idB+`"`) {
			t.Fatalf("export lacks the key ids: %s", out.String())
		}
		res, err := db.PruneEvents(context.Background(), t0.Add(3*time.Minute), agent)
		if err != nil || res.Removed != 3 {
			t.Fatalf("prune over a rotated trail: %+v %v", res, err)
		}
		if rep := verify(t, db); rep.Break != nil {
			t.Fatalf("rotated and pruned: %+v", rep.Break)
		}
	})
}

// Without the old key, verify names the key id it lacks instead of calling
// the events changed.
func TestVerifyNamesUnknownKey(t *testing.T) {
	pgtest.Backends(t, func(t *testing.T) {
		path, db := rotated(t)
		db.Close()
		rep := verify(t, reopen(t, path, keyB))
		if rep.Break == nil || rep.Break.Seq != 1 || rep.Break.Kind != store.BreakUnknownKey ||
			!strings.Contains(rep.Break.Detail, "key id "+store.AuditKeyID(keyA)+", which is not configured") {
			t.Fatalf("old key missing: %+v", rep.Break)
		}
	})
}

// An event's key id is covered by its mac: pointing it at another
// configured key is tampering.
func TestKeyIDSwitched(t *testing.T) {
	pgtest.Backends(t, func(t *testing.T) {
		for _, tc := range []struct {
			seq int64
			to  string
		}{{3, keyB}, {8, keyA}, {10, keyA}} {
			t.Run(strconv.FormatInt(tc.seq, 10), func(t *testing.T) {
				_, db := rotated(t)
				exec(t, db, `UPDATE audit_events SET key_id = ? WHERE seq = ?`, store.AuditKeyID(tc.to), tc.seq)
				rep := verify(t, db)
				if rep.Break == nil || rep.Break.Seq != tc.seq || rep.Break.Kind != store.BreakChanged {
					t.Fatalf("key id of event %d switched: %+v", tc.seq, rep.Break)
				}
			})
		}
		t.Run("removed", func(t *testing.T) {
			_, db := rotated(t)
			exec(t, db, `UPDATE audit_events SET key_id = '' WHERE seq = 7`)
			if rep := verify(t, db); rep.Break == nil || rep.Break.Seq != 7 || rep.Break.Kind != store.BreakChanged {
				t.Fatalf("key id removed: %+v", rep.Break)
			}
		})
	})
}

// Someone holding the retired key (leaked: why it was rotated) cannot add
// events with it after the trail moved on.
func TestRetiredKeyCannotSign(t *testing.T) {
	pgtest.Backends(t, func(t *testing.T) {
		path, db := rotated(t)
		db.Close()
		// Started with the retired key as the current one, it chains onto the
		// trail (it holds B as an old key) but verify notices.
		back := reopen(t, path, keyA, keyB)
		seed(t, back, 1)
		rep := verify(t, reopen(t, path, keyB, keyA))
		if rep.Break == nil || rep.Break.Seq != 11 || rep.Break.Kind != store.BreakRetiredKey {
			t.Fatalf("event under a retired key: %+v", rep.Break)
		}
	})
}

// A tapdesk with a key that did not write the trail does not start, and
// writes nothing onto it.
func TestCheckAuditKey(t *testing.T) {
	pgtest.Backends(t, func(t *testing.T) {
		ctx := context.Background()
		path := pgtest.DSN(t, filepath.Join(t.TempDir(), "tapdesk.db"))
		a := reopen(t, path, keyA)
		if err := a.CheckAuditKey(ctx); err != nil {
			t.Fatalf("empty trail: %v", err)
		}
		seed(t, a, 3)
		if err := a.CheckAuditKey(ctx); err != nil {
			t.Fatalf("own trail: %v", err)
		}
		c := reopen(t, path, keyC)
		err := c.CheckAuditKey(ctx)
		var mismatch *store.KeyMismatchError
		if !errors.As(err, &mismatch) || mismatch.Seq != 3 || mismatch.Changed ||
			!strings.Contains(err.Error(), "the audit key does not match the trail in "+path+": the newest event (seq 3) was signed with another key") ||
			!strings.Contains(err.Error(), "TAPDESK_AUDIT_OLD_KEYS") {
			t.Fatalf("wrong key: %v", err)
		}
		if err := c.AppendEvent(ctx, tapdesk.Event{Activity: tapdesk.ActSignIn}); !errors.As(err, &mismatch) {
			t.Fatalf("appended onto a trail of another key: %v", err)
		}
		if err := reopen(t, path, keyC, keyA).CheckAuditKey(ctx); err != nil {
			t.Fatalf("with the old key configured: %v", err)
		}
		exec(t, a, `UPDATE audit_events SET record = `+jsonSet(t, 7, `'mallory@x'`)+` WHERE seq = 3`)
		if err := a.CheckAuditKey(ctx); !errors.As(err, &mismatch) || !mismatch.Changed || !strings.Contains(err.Error(), "tapdesk audit verify") {
			t.Fatalf("changed newest event: %v", err)
		}
	})
}

// resignV2 turns the trail into one written before key ids: no key id,
// macs in the v2 encoding under key. It is written out from the format
// documented in chain.go, not with the store's code.
func resignV2(t *testing.T, db *store.DB, key string) {
	t.Helper()
	rows, err := db.SQL().Query(`SELECT seq, record FROM audit_events ORDER BY seq`)
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
	field := func(b []byte, s string) []byte { return append(binary.AppendUvarint(b, uint64(len(s))), s...) }
	prev := ""
	for _, r := range all {
		m := hmac.New(sha256.New, []byte(key))
		b := field(field(field([]byte("tapdesk-audit-v2"), prev), strconv.FormatInt(r.seq, 10)), r.record)
		m.Write(b)
		prev = hex.EncodeToString(m.Sum(nil))
		exec(t, db, `UPDATE audit_events SET mac = ?, key_id = '' WHERE seq = ?`, prev, r.seq)
	}
}

// Events from before key ids verify with the key of their time, also after
// a rotation.
func TestV2EventsAfterRotation(t *testing.T) {
	pgtest.Backends(t, func(t *testing.T) {
		path := pgtest.DSN(t, filepath.Join(t.TempDir(), "tapdesk.db"))
		a := reopen(t, path, keyA)
		seed(t, a, 4)
		resignV2(t, a, keyA)
		if rep := verify(t, a); rep.Break != nil || rep.Checked != 4 {
			t.Fatalf("v2 trail: %+v %+v", rep, rep.Break)
		}
		a.Close()
		if err := reopen(t, path, keyB).CheckAuditKey(context.Background()); err == nil || strings.Contains(err.Error(), "key id") {
			t.Fatalf("a v2 trail under another key: %v", err)
		}
		if rep := verify(t, reopen(t, path, keyB)); rep.Break == nil || rep.Break.Kind != store.BreakKey {
			t.Fatalf("v2 trail, wrong key: %+v", rep.Break)
		}
		b := reopen(t, path, keyB, keyA)
		if err := b.CheckAuditKey(context.Background()); err != nil {
			t.Fatal(err)
		}
		seed(t, b, 3)
		if ids := keyIDs(t, b); ids[3] != "" || ids[4] != store.AuditKeyID(keyB) {
			t.Fatalf("key ids %v", ids)
		}
		if rep := verify(t, b); rep.Break != nil || rep.Checked != 7 {
			t.Fatalf("v2 then v3: %+v %+v", rep, rep.Break)
		}
	})
}
