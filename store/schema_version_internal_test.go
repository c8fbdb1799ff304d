package store

import (
	"context"
	"database/sql"
	"io/fs"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/tapdesk/tapdesk"
	"github.com/tapdesk/tapdesk/migrations"
)

// recordFieldsVersion is the last schema version whose binaries read audit
// records as exactly 17 fields.
const recordFieldsVersion = 9

// migrationsUpTo is the migration set of an older tapdesk.
func migrationsUpTo(t *testing.T, last int) fs.FS {
	t.Helper()
	old := fstest.MapFS{}
	names, err := fs.Glob(migrations.SQLite, "*.sql")
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range names {
		v, err := strconv.Atoi(strings.SplitN(name, "_", 2)[0])
		if err != nil {
			t.Fatal(err)
		}
		if v > last {
			continue
		}
		b, err := fs.ReadFile(migrations.SQLite, name)
		if err != nil {
			t.Fatal(err)
		}
		old[name] = &fstest.MapFile{Data: b}
	}
	return old
}

// Records gained an 18th field (the web request id), which a tapdesk that
// reads 17 would call tampering: the schema version moved past the one
// those binaries know, so after a rollback they refuse the database
// instead of opening it.
func TestOlderTapdeskRefusesEighteenFieldRecords(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "tapdesk.db")
	db, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	current, _, err := db.SchemaVersion(ctx)
	if err != nil || current <= recordFieldsVersion {
		t.Fatalf("schema version %d (%v): a database with 18-field records must be newer than %d", current, err, recordFieldsVersion)
	}
	err = db.migrateWith(ctx, migrationsUpTo(t, recordFieldsVersion))
	if err == nil || !strings.Contains(err.Error(), "newer tapdesk") {
		t.Fatalf("a tapdesk knowing only up to version %d opened it: %v", recordFieldsVersion, err)
	}
}

// The http_request_id column reads the record's 18th field: the id for an
// event that has one, NULL for a 17-field record written before.
func TestHTTPRequestIDColumn(t *testing.T) {
	ctx := context.Background()
	db := keyedTestDB(t)
	ev := tapdesk.Event{Activity: tapdesk.ActSignIn, Category: tapdesk.CatSignIn, Actor: tapdesk.Actor{UPN: "new@x"}}
	if err := db.AppendEvent(tapdesk.WithRequestID(ctx, "req-Q7"), ev); err != nil {
		t.Fatal(err)
	}
	appendOlderRecords(t, db, 1)
	rows, err := db.db.QueryContext(ctx, `SELECT actor_upn, http_request_id FROM audit_events ORDER BY seq`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var got []string
	for rows.Next() {
		var upn string
		var id sql.NullString
		if err := rows.Scan(&upn, &id); err != nil {
			t.Fatal(err)
		}
		if id.Valid {
			got = append(got, upn+"="+id.String)
		} else {
			got = append(got, upn+"=NULL")
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if strings.Join(got, " ") != "new@x=req-Q7 older@x=NULL" {
		t.Fatalf("http_request_id by event: %v", got)
	}
}

// The migration goes down too (to restore an older binary's schema on a
// database with no 18-field records).
func TestHTTPRequestIDMigrationDown(t *testing.T) {
	ctx := context.Background()
	db, err := Open(ctx, filepath.Join(t.TempDir(), "tapdesk.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	p, err := db.provider()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.DownTo(ctx, recordFieldsVersion); err != nil {
		t.Fatal(err)
	}
	if err := db.migrateWith(ctx, migrationsUpTo(t, recordFieldsVersion)); err != nil {
		t.Fatalf("an older tapdesk refused the migrated-down database: %v", err)
	}
}
