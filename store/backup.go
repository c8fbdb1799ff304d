package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"os"

	"github.com/pressly/goose/v3"

	"github.com/tapdesk/tapdesk/migrations"
)

// BackupReport is what checking a fresh backup found.
type BackupReport struct {
	Path          string
	Bytes         int64
	SchemaVersion int64
	Events        int64 // audit events in the copy
	// Chain is the copy's audit trail walked with the audit key; nil when
	// no key was set, so the chain was not checked.
	Chain *VerifyReport
}

// Backup writes a consistent copy of the live database to the new file to
// and checks the copy: SQLite's integrity check, the schema version, and,
// when the audit key is set, the audit chain. VACUUM INTO reads one
// snapshot, so writers carry on while it runs and the copy holds exactly
// the transactions committed before it started. The copy is one file (no
// -wal), owner-only like the database, and an existing file is never
// overwritten. A copy that fails the integrity or schema check is removed;
// one whose audit trail does not check out is kept (it is as good as the live
// database, which has the same fault) and the error says so.
func (db *DB) Backup(ctx context.Context, to string) (BackupReport, error) {
	rep := BackupReport{Path: to}
	f, err := os.OpenFile(to, os.O_WRONLY|os.O_CREATE|os.O_EXCL, ownerOnly)
	switch {
	case errors.Is(err, fs.ErrExist):
		return rep, fmt.Errorf("%s already exists: a backup never overwrites a file; name a new one", to)
	case err != nil:
		return rep, fmt.Errorf("cannot create the backup %s: %w", to, pathReason(err))
	}
	f.Close()
	keep := false
	defer func() {
		if !keep {
			os.Remove(to)
		}
	}()
	// VACUUM INTO accepts an existing empty file, so the copy keeps the
	// owner-only mode it was created with.
	if _, err := db.db.ExecContext(ctx, `VACUUM INTO ?`, to); err != nil {
		return rep, fmt.Errorf("copy the database to %s: %w", to, err)
	}
	ro, err := checkBackup(ctx, db, to, &rep)
	if err != nil {
		return rep, err
	}
	defer ro.Close()
	// SQLite does not sync the file VACUUM INTO writes.
	if err := syncFile(to); err != nil {
		return rep, fmt.Errorf("write the backup %s to disk: %w", to, err)
	}
	fi, err := os.Stat(to)
	if err != nil {
		return rep, err
	}
	rep.Bytes = fi.Size()
	keep = true
	if db.keys == nil {
		return rep, nil
	}
	backup := &DB{db: ro, path: to, Now: db.Now, keys: db.keys}
	chain, err := backup.VerifyChain(ctx)
	if err != nil {
		return rep, fmt.Errorf("verify the backup's audit trail: %w", err)
	}
	rep.Chain = &chain
	if chain.Break != nil {
		return rep, fmt.Errorf("the backup's audit trail does not check out at event %d (%s): %s; the live trail has the same fault (run tapdesk audit verify); the copy is kept", chain.Break.Seq, chain.Break.Kind, chain.Break.Detail)
	}
	return rep, nil
}

// checkBackup checks the copy against db and returns it opened read-only.
func checkBackup(ctx context.Context, db *DB, path string, rep *BackupReport) (*sql.DB, error) {
	// VACUUM INTO writes a rollback-journal database: one file, restored
	// by putting it in place (tapdesk switches it to WAL when it opens it).
	ro, err := sql.Open("sqlite", "file:"+path+"?mode=ro")
	if err != nil {
		return nil, err
	}
	ok := false
	defer func() {
		if !ok {
			ro.Close()
		}
	}()
	var integrity string
	if err := ro.QueryRowContext(ctx, `PRAGMA integrity_check`).Scan(&integrity); err != nil {
		return nil, fmt.Errorf("the backup %s cannot be checked: %w", path, err)
	}
	if integrity != "ok" {
		return nil, fmt.Errorf("the backup %s fails SQLite's integrity check: %s", path, integrity)
	}
	p, err := goose.NewProvider(goose.DialectSQLite3, ro, migrations.FS)
	if err != nil {
		return nil, err
	}
	copyVersion, _, err := p.GetVersions(ctx)
	if err != nil {
		return nil, fmt.Errorf("read the backup's schema version: %w", err)
	}
	liveVersion, _, err := db.SchemaVersion(ctx)
	if err != nil {
		return nil, err
	}
	// The live database cannot migrate while tapdesk holds it open, so a
	// difference means the copy is not of this database.
	if copyVersion != liveVersion {
		return nil, fmt.Errorf("the backup %s is at schema version %d, the database at %d", path, copyVersion, liveVersion)
	}
	rep.SchemaVersion = copyVersion
	if err := ro.QueryRowContext(ctx, `SELECT COUNT(*) FROM audit_events`).Scan(&rep.Events); err != nil {
		return nil, fmt.Errorf("count the backup's audit events: %w", err)
	}
	ok = true
	return ro, nil
}

func syncFile(path string) error {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// pathReason is an os error without the path the caller already names
// ("permission denied", "no such file or directory").
func pathReason(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}
