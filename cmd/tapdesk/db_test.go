package main

import (
	"bytes"
	"database/sql"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tapdesk/tapdesk/internal/pgtest"
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

// The copy command moves a SQLite installation into PostgreSQL: it prints
// the counts and the head, which audit verify then finds on the copy, and
// tapdesk carries on there; it never prints the URL's password, and it
// refuses what it cannot copy whole, each with a sentence saying why.
func TestDBCopyCLI(t *testing.T) {
	pgtest.Require(t)
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

	// The test cluster trusts local connections, so a password in the URL
	// is accepted and ignored: enough to see it is never printed.
	u, err := url.Parse(pgtest.URL(t))
	if err != nil {
		t.Fatal(err)
	}
	u.User = url.UserPassword(u.User.Username(), "pw-never-printed")
	target := u.String()
	out, errOut, err := runCLI(t, env, "db", "copy", "--from", db, "--to", target)
	if err != nil || !strings.Contains(out, "head "+head[1]) || !regexp.MustCompile(`audit_events +200 rows`).MatchString(out) {
		t.Fatalf("copy: %q %q %v", out, errOut, err)
	}
	if strings.Contains(out+errOut, "pw-never-printed") {
		t.Fatalf("the copy printed the URL's password: %q %q", out, errOut)
	}
	t.Log(out)
	if out, _, err := runCLI(t, env, "audit", "verify", "--db", target, "--head", head[1]); exitCode(err) != 0 || !strings.Contains(out, "200 events checked") {
		t.Fatalf("verify the copy: %q %v", out, err)
	}
	if _, _, err := runCLI(t, env, "audit", "seed", "--db", target, "--events", "5"); err != nil {
		t.Fatalf("carry on on the copy: %v", err)
	}
	if out, _, err := runCLI(t, env, "audit", "verify", "--db", target, "--head", head[1]); exitCode(err) != 0 || !strings.Contains(out, "205 events checked") {
		t.Fatalf("verify the copy after carrying on: %q %v", out, err)
	}

	other := filepath.Join(dir, "notes.db")
	raw, err := sql.Open("sqlite", other)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := raw.Exec(`CREATE TABLE notes (body TEXT)`); err != nil {
		t.Fatal(err)
	}
	raw.Close()
	older := filepath.Join(dir, "older.db")
	if _, err := runMigrateFor(t, older); err != nil {
		t.Fatal(err)
	}
	raw, err = sql.Open("sqlite", older)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := raw.Exec(`DELETE FROM goose_db_version WHERE version_id = (SELECT MAX(version_id) FROM goose_db_version)`); err != nil {
		t.Fatal(err)
	}
	raw.Close()
	unreachable := "postgres://tapdesk:pw-never-printed@127.0.0.1:1/tapdesk?connect_timeout=5"
	for _, tc := range []struct {
		name string
		env  map[string]string
		args []string
		want string
	}{
		{"no key", nil, []string{"--from", db, "--to", pgtest.URL(t)}, "TAPDESK_AUDIT_KEY (--audit-key or TAPDESK_AUDIT_KEY_FILE) is not set"},
		{"no --to", env, []string{"--from", db}, "--to is not set"},
		{"--to a file", env, []string{"--from", db, "--to", filepath.Join(dir, "x.db")}, "--to is not a PostgreSQL URL"},
		{"--from a URL", env, []string{"--from", target, "--to", pgtest.URL(t)}, "--from is a URL"},
		{"the source missing", env, []string{"--from", filepath.Join(dir, "missing.db"), "--to", pgtest.URL(t)}, "no database at"},
		{"the source not tapdesk's", env, []string{"--from", other, "--to", pgtest.URL(t)}, "is not a tapdesk database"},
		{"the source's schema older", env, []string{"--from", older, "--to", pgtest.URL(t)}, "bring it up to date first (tapdesk migrate --db"},
		{"the target holding data", env, []string{"--from", db, "--to", target}, "already holds tapdesk data"},
		{"the target unreachable", env, []string{"--from", db, "--to", unreachable}, "cannot reach the PostgreSQL database"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, errOut, err := runCLI(t, tc.env, append([]string{"db", "copy"}, tc.args...)...)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("db copy %v: %v, want %q", tc.args, err, tc.want)
			}
			if strings.Contains(out+errOut+err.Error(), "pw-never-printed") {
				t.Fatalf("the password was printed: %v", err)
			}
			t.Log(err)
		})
	}
}

// TestDBBackupWhileAnotherProcessWrites: the backup of a database another
// process is writing to (as serve does, the one it is made for) is a
// consistent copy: each copy verifies, and the writer never fails for it.
func TestDBBackupWhileAnotherProcessWrites(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "tapdesk.db")
	env := map[string]string{"TAPDESK_AUDIT_KEY": cliKey}
	if _, err := runMigrateFor(t, db); err != nil {
		t.Fatal(err)
	}
	// The writer: tapdesk itself in a child process, appending events in
	// transactions of 10,000 for a few seconds.
	writer := exec.Command(os.Args[0], "audit", "seed", "--db", db, "--events", "200000")
	writer.Env = append(os.Environ(), crashChildEnv+"=1", "TAPDESK_AUDIT_KEY="+cliKey)
	var writerOut bytes.Buffer
	writer.Stdout, writer.Stderr = &writerOut, &writerOut
	if err := writer.Start(); err != nil {
		t.Fatal(err)
	}
	var writerErr error
	exited := make(chan struct{})
	go func() { writerErr = writer.Wait(); close(exited) }()
	t.Cleanup(func() {
		_ = writer.Process.Kill()
		<-exited
	})

	// Wait for its first transaction, so the copies have events to check.
	raw := openRaw(t, db)
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		var n int
		if err := raw.QueryRow(`SELECT COUNT(*) FROM audit_events`).Scan(&n); err == nil && n > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the writer appended nothing in 60s:\n%s", writerOut.String())
		}
	}

	var overlapped int
	running := true
	for i := 0; running; i++ {
		to := filepath.Join(dir, "backup"+strconv.Itoa(i)+".db")
		out, _, err := runCLI(t, env, "db", "backup", "--db", db, "--to", to)
		select {
		case <-exited:
			running = false
		default:
			overlapped++ // the writer was still at work when this copy was done
		}
		if err != nil || !strings.Contains(out, "integrity check passes") || !strings.Contains(out, "events checked, head ") {
			t.Fatalf("backup %d while the other process writes: %v\n%s", i, err, out)
		}
		// The copy stands on its own, as a restored database would.
		if out, _, err := runCLI(t, env, "audit", "verify", "--db", to); exitCode(err) != 0 {
			t.Fatalf("verify backup %d: %v\n%s", i, err, out)
		}
	}
	if writerErr != nil {
		t.Fatalf("the writer failed while backups were taken: %v\n%s", writerErr, writerOut.String())
	}
	if overlapped == 0 {
		t.Fatal("the writer was done before the first backup ended: nothing was backed up live")
	}
	t.Logf("%d backups taken while the other process wrote; it: %s", overlapped, strings.TrimSpace(writerOut.String()))
}
