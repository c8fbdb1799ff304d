package main

import (
	"database/sql"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// The backup command: with the audit key the copy's chain is walked and its
// head is the live trail's; without it the output says the chain was not
// checked; it never overwrites; it reads a database as it is, without
// migrating it (a newer tapdesk backs up before an upgrade).
func TestDBBackupCLI(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "tapdesk.db")
	env := map[string]string{"TAPDESK_AUDIT_KEY": cliKey}
	if _, err := runMigrateFor(t, db); err != nil {
		t.Fatal(err)
	}
	if _, _, err := runCLI(t, env, "audit", "seed", "--db", db, "--events", "200"); err != nil {
		t.Fatal(err)
	}
	live, _, err := runCLI(t, env, "audit", "verify", "--db", db)
	if err != nil {
		t.Fatal(err)
	}
	head := regexp.MustCompile(`Head: (200:[0-9a-f]{64})`).FindStringSubmatch(live)
	if head == nil {
		t.Fatalf("verify printed no head: %q", live)
	}

	to := filepath.Join(dir, "backup.db")
	out, _, err := runCLI(t, env, "db", "backup", "--db", db, "--to", to)
	if err != nil || !strings.Contains(out, "integrity check passes") || !strings.Contains(out, "200 events checked, head "+head[1]) {
		t.Fatalf("backup with the key: %q %v", out, err)
	}
	// The copy verifies on its own, as a restored database would.
	if out, _, err := runCLI(t, env, "audit", "verify", "--db", to, "--head", head[1]); exitCode(err) != 0 {
		t.Fatalf("verify the copy: %q %v", out, err)
	}

	out, _, err = runCLI(t, nil, "db", "backup", "--db", db, "--to", filepath.Join(dir, "nokey.db"))
	if err != nil || !strings.Contains(out, "audit chain was not checked") {
		t.Fatalf("backup without the key: %q %v", out, err)
	}
	if _, _, err := runCLI(t, env, "db", "backup", "--db", db, "--to", to); exitCode(err) != 1 || !strings.Contains(err.Error(), "already exists") {
		t.Fatalf("backup over an existing file: %v", err)
	}
	if _, _, err := runCLI(t, env, "db", "backup", "--db", db); err == nil || !strings.Contains(err.Error(), "--to is not set") {
		t.Fatalf("backup without --to: %v", err)
	}
	if _, _, err := runCLI(t, env, "db", "backup", "--db", filepath.Join(dir, "missing.db"), "--to", filepath.Join(dir, "x.db")); err == nil || !strings.Contains(err.Error(), "no database at") {
		t.Fatalf("backup of a missing database: %v", err)
	}

	// Make the live database one migration behind: a backup must copy it
	// as it is, not bring it up to date first.
	raw, err := sql.Open("sqlite", db)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	var newest int64
	if err := raw.QueryRow(`SELECT MAX(version_id) FROM goose_db_version`).Scan(&newest); err != nil {
		t.Fatal(err)
	}
	if _, err := raw.Exec(`DELETE FROM goose_db_version WHERE version_id = ?`, newest); err != nil {
		t.Fatal(err)
	}
	older := filepath.Join(dir, "older.db")
	out, _, err = runCLI(t, env, "db", "backup", "--db", db, "--to", older)
	if want := "schema version " + strconv.FormatInt(newest-1, 10); err != nil || !strings.Contains(out, want) {
		t.Fatalf("backup of a database one migration behind: %q %v, want %q", out, err, want)
	}
	var after int64
	if err := raw.QueryRow(`SELECT MAX(version_id) FROM goose_db_version`).Scan(&after); err != nil || after != newest-1 {
		t.Fatalf("the backup migrated the live database to %d (%v)", after, err)
	}
}
