package store

import (
	"context"
	"database/sql"
	"github.com/tapdesk/tapdesk/internal/pgtest"
	"path/filepath"
	"strings"
	"testing"
)

// keyedTestDB opens a fresh migrated database in a temp folder with an
// audit key set, for the package's internal tests.
func keyedTestDB(t *testing.T) *DB {
	t.Helper()
	db, err := Open(context.Background(), pgtest.DSN(t, filepath.Join(t.TempDir(), "tapdesk.db")))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if err := db.SetAuditKey(strings.Repeat("k", 32)); err != nil {
		t.Fatal(err)
	}
	return db
}

// olderRecord is a sign-in as a tapdesk before request ids wrote it: 17
// fields, no http_request_id.
const olderRecord = `["2026-11-20T10:00:00.000000Z","Sign in","SignIn","success","","","","older@x","","","","","","","","","{}"]`

// appendOlderRecords chains n copies of olderRecord onto the trail, signed
// with the current key as that tapdesk signed them.
func appendOlderRecords(t *testing.T, db *DB, n int) {
	t.Helper()
	ctx := context.Background()
	var head int64
	err := db.inTx(ctx, func(tx *sql.Tx) error {
		a, err := db.newAppender(ctx, tx)
		if err != nil {
			return err
		}
		defer a.close()
		for range n {
			r := chainRow{record: olderRecord, keyID: a.h.id}
			if err := a.insert(ctx, &r); err != nil {
				return err
			}
			a.head, a.prev = r.seq, r.mac
		}
		head = a.head
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	db.sawHead(head) // seen committed, not remembered: an older tapdesk wrote them
}

// WALBackstopPages is walBackstopPages, for the checkpoint tests.
const WALBackstopPages = walBackstopPages
