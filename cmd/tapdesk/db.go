package main

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/tapdesk/tapdesk"
	"github.com/tapdesk/tapdesk/store"
)

const dbUsage = `Usage:
  tapdesk db backup --to FILE [--db PATH]   a consistent copy of the live SQLite database, then checked

The copy is taken while tapdesk runs (VACUUM INTO reads one snapshot; nobody
waits), written owner-only to a file that must not exist yet, and checked:
SQLite's integrity check, the schema version and, when TAPDESK_AUDIT_KEY (or
_FILE) is set, the audit trail's hash chain. The database is not migrated,
so a newer tapdesk can take the backup before an upgrade.

On PostgreSQL, back up with pg_dump (or base backups with WAL archiving) and
check a restored copy with tapdesk audit verify; see PostgreSQL in the README.
`

func runDB(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, dbUsage)
		return errors.New("tapdesk db: name a command: backup")
	}
	switch args[0] {
	case "backup":
		return dbBackup(ctx, args[1:], getenv, stdout, stderr)
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
