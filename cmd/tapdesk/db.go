package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/tapdesk/tapdesk"
	"github.com/tapdesk/tapdesk/store"
)

const dbUsage = `Usage:
  tapdesk db backup --to FILE [--db PATH]   a consistent copy of the live SQLite database, then checked
  tapdesk db copy --from FILE --to URL      move a SQLite installation into an empty PostgreSQL database

backup: the copy is taken while tapdesk runs (VACUUM INTO reads one snapshot;
nobody waits), written owner-only to a file that must not exist yet, and
checked: SQLite's integrity check, the schema version and, when
TAPDESK_AUDIT_KEY (or _FILE) is set, the audit trail's hash chain. The
database is not migrated, so a newer tapdesk can take the backup before an
upgrade.

copy: every table of the SQLite file (--from, default TAPDESK_DB) goes into
the PostgreSQL database at --to (postgres://USER@HOST/DB; put the password in
PGPASSWORD or ~/.pgpass rather than on the command line), which must hold no
tapdesk data: it is given the schema, written in one transaction and checked
before it commits (row counts, and the audit chain walked with
TAPDESK_AUDIT_KEY and TAPDESK_AUDIT_OLD_KEYS), so it ends up with a checked
copy or with nothing. The file is read in one snapshot and not changed; it
must be at this tapdesk's schema (tapdesk migrate first). Sessions are
copied, so people stay signed in. Stop tapdesk on the file before copying:
what it writes after the snapshot stays in the file only.

On PostgreSQL, back up with pg_dump (or base backups with WAL archiving) and
check a restored copy with tapdesk audit verify; see PostgreSQL in the README.
`

func runDB(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, dbUsage)
		return errors.New("tapdesk db: name a command: backup or copy")
	}
	switch args[0] {
	case "backup":
		return dbBackup(ctx, args[1:], getenv, stdout, stderr)
	case "copy":
		return dbCopy(ctx, args[1:], getenv, stdout, stderr)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, dbUsage)
		return nil
	}
	fmt.Fprint(stderr, dbUsage)
	return fmt.Errorf("tapdesk db: unknown command %q", args[0])
}

func dbBackup(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	s := newSettings("db backup")
	s.fs.SetOutput(stderr)
	s.database()
	s.secret("audit-key", "the audit trail's key; when set, the copy's hash chain is verified", false)
	s.secret("audit-old-keys", "comma-separated audit keys used before a rotation", false)
	to := s.fs.String("to", "", "the backup file to write; it must not exist [required]")
	problems, err := s.load(args, getenv)
	if err != nil {
		return err
	}
	if *to == "" {
		problems = append(problems, "--to is not set: the file to write the backup to, e.g. --to /var/backups/tapdesk/tapdesk-2026-11-28.db")
	}
	if k := s.get("audit-key"); k != "" && len(k) < store.MinAuditKeyLength {
		problems = append(problems, fmt.Sprintf("TAPDESK_AUDIT_KEY: must be at least %d characters", store.MinAuditKeyLength))
	}
	problems = append(problems, oldAuditKeyProblems(s)...)
	if len(problems) > 0 {
		return &configError{problems}
	}
	db, err := store.OpenExisting(ctx, s.get("db"))
	if err != nil {
		return fmt.Errorf("tapdesk db backup: %w (use --db or TAPDESK_DB)", err)
	}
	defer db.Close()
	if k := s.get("audit-key"); k != "" {
		if err := db.SetAuditKey(k, s.listOf("audit-old-keys")...); err != nil {
			return err
		}
	}
	rep, err := db.Backup(ctx, *to)
	if err != nil {
		msg := err.Error()
		if tapdesk.ErrorCode(err) != tapdesk.EINTERNAL {
			msg = tapdesk.ErrorMessage(err) // the sentence, without "tapdesk: invalid:"
		}
		return &exitError{code: 1, msg: "tapdesk db backup: " + msg}
	}
	fmt.Fprintf(stdout, "Backed up %s to %s: %d bytes, schema version %d, %d audit events; SQLite's integrity check passes.\n",
		store.DisplayDSN(s.get("db")), rep.Path, rep.Bytes, rep.SchemaVersion, rep.Events)
	switch {
	case rep.Chain == nil:
		fmt.Fprintln(stdout, "  The audit chain was not checked: TAPDESK_AUDIT_KEY is not set.")
	case rep.Chain.Checked == 0:
		fmt.Fprintln(stdout, "  The audit trail is empty.")
	default:
		fmt.Fprintf(stdout, "  The copy's audit trail holds: %d events checked, head %d:%s.\n", rep.Chain.Checked, rep.Chain.LastSeq, rep.Chain.HeadMAC)
		if n := len(rep.Chain.Unexplained); n > 0 {
			fmt.Fprintf(stdout, "  But %d request(s) are not what their events say (changed outside tapdesk); run tapdesk audit verify on the live database.\n", n)
			return &exitError{code: 1, msg: fmt.Sprintf("tapdesk db backup: the copy was written, but %d request(s) do not match the audit trail", n)}
		}
	}
	return nil
}

func dbCopy(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	s := newSettings("db copy")
	s.fs.SetOutput(stderr)
	s.secret("audit-key", "at least 32 characters; the audit trail's key: the copy's hash chain is verified with it before it commits", true)
	s.secret("audit-old-keys", "comma-separated audit keys used before a rotation, to verify the events they signed", false)
	from := s.fs.String("from", getenv("TAPDESK_DB"), "the SQLite file to copy (default TAPDESK_DB) [required]")
	to := s.fs.String("to", "", "the PostgreSQL database to copy into, postgres://USER@HOST/DB; it must hold no tapdesk data [required]")
	problems, err := s.load(args, getenv)
	if err != nil {
		return err
	}
	switch {
	case *from == "":
		problems = append(problems, "--from is not set: the SQLite file to copy, e.g. --from /var/lib/tapdesk/tapdesk.db")
	case strings.Contains(*from, "://"):
		problems = append(problems, "--from is a URL: it names the SQLite file to copy (e.g. /var/lib/tapdesk/tapdesk.db); the copy goes from SQLite into PostgreSQL")
	}
	// The URL is never repeated: it may carry a password.
	switch {
	case *to == "":
		problems = append(problems, "--to is not set: the PostgreSQL database to copy into, e.g. --to postgres://tapdesk@db.example.internal/tapdesk")
	case !store.IsPostgresURL(*to):
		problems = append(problems, "--to is not a PostgreSQL URL: it must start with postgres:// or postgresql:// (to copy a SQLite file to another file, use tapdesk db backup)")
	}
	if k := s.get("audit-key"); k != "" && len(k) < store.MinAuditKeyLength {
		problems = append(problems, fmt.Sprintf("TAPDESK_AUDIT_KEY: must be at least %d characters", store.MinAuditKeyLength))
	}
	problems = append(problems, oldAuditKeyProblems(s)...)
	if len(problems) > 0 {
		return &configError{problems}
	}
	src, err := store.OpenExisting(ctx, *from)
	if err != nil {
		return &exitError{code: 1, msg: fmt.Sprintf("tapdesk db copy: %v (--from names the SQLite file to copy)", err)}
	}
	defer src.Close()
	dst, err := store.OpenExisting(ctx, *to)
	if err != nil {
		// store names the database without its password.
		return &exitError{code: 1, msg: fmt.Sprintf("tapdesk db copy: cannot reach the PostgreSQL database: %v", err)}
	}
	defer dst.Close()
	if err := dst.SetAuditKey(s.get("audit-key"), s.listOf("audit-old-keys")...); err != nil {
		return err
	}
	rep, err := store.Copy(ctx, src, dst)
	if err != nil {
		return &exitError{code: 1, msg: "tapdesk db copy: " + err.Error()}
	}
	fmt.Fprintf(stdout, "Copied %s into %s (schema version %d), in one transaction:\n", rep.From, rep.To, rep.SchemaVersion)
	for _, t := range rep.Tables {
		note := ""
		if t.Table == "sessions" {
			note = " (people signed in stay signed in)"
		}
		fmt.Fprintf(stdout, "  %-15s %9d rows%s\n", t.Table, t.Rows, note)
	}
	if rep.Chain.Checked == 0 {
		fmt.Fprintln(stdout, "The audit trail is empty.")
	} else {
		fmt.Fprintf(stdout, "The copy's audit trail holds: %d events checked, head %d:%s (the source's head).\n", rep.Chain.Checked, rep.Chain.LastSeq, rep.Chain.HeadMAC)
	}
	fmt.Fprintln(stdout, "The SQLite file was not changed. Start tapdesk with TAPDESK_DB set to the PostgreSQL URL and the same audit and session keys.")
	if n := len(rep.Chain.Unexplained); n > 0 {
		fmt.Fprintf(stdout, "But %d request(s) are not what their events say (changed outside tapdesk, in the source as in the copy); run tapdesk audit verify.\n", n)
		return &exitError{code: 1, msg: fmt.Sprintf("tapdesk db copy: the copy was written, but %d request(s) do not match the audit trail", n)}
	}
	return nil
}
