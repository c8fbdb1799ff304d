package store

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"github.com/tapdesk/tapdesk"
	"io/fs"
	"os"
	"path/filepath"

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
// overwritten. The copy is written and checked under a partial name beside
// to (to + ".partial-" and random hex) and linked to its name only once it
// is checked and on disk, so a backup killed part-way (SIGKILL, out of
// memory, power loss) leaves no truncated file that looks like a good
// backup; the leftover partial is what the backup timer's cleanup deletes.
// A copy that fails the integrity or schema check is removed; one whose
// audit trail does not check out is kept at to (it is as good as the live
// database, which has the same fault) and the error says so.
func (db *DB) Backup(ctx context.Context, to string) (BackupReport, error) {
	rep := BackupReport{Path: to}
	if db.dialect != sqliteDialect {
		return rep, tapdesk.Titledf(tapdesk.EINVALID, "Not a SQLite database", "tapdesk db backup copies a SQLite database; back up PostgreSQL with its own tools (pg_dump, or base backups with WAL archiving), then check a restored copy with tapdesk audit verify")
	}
	exists := fmt.Errorf("%s already exists: a backup never overwrites a file; name a new one", to)
	if _, err := os.Lstat(to); err == nil {
		return rep, exists
	}
	partial, err := createPartial(to)
	if err != nil {
		return rep, fmt.Errorf("cannot create the backup %s: %w", to, pathReason(err))
	}
	defer os.Remove(partial)
	// VACUUM INTO accepts an existing empty file, so the copy keeps the
	// owner-only mode it was created with.
	if _, err := db.db.ExecContext(ctx, `VACUUM INTO ?`, partial); err != nil {
		return rep, fmt.Errorf("copy the database to %s: %w", partial, err)
	}
	ro, err := checkBackup(ctx, db, partial, &rep)
	if err != nil {
		return rep, err
	}
	defer ro.Close()
	// SQLite does not sync the file VACUUM INTO writes.
	if err := syncFile(partial); err != nil {
		return rep, fmt.Errorf("write the backup %s to disk: %w", partial, err)
	}
	fi, err := os.Stat(partial)
	if err != nil {
		return rep, err
	}
	rep.Bytes = fi.Size()
	var chainErr error
	if db.keys != nil {
		backup := &DB{db: ro, dialect: sqliteDialect, path: partial, Now: db.Now, keys: db.keys}
		chain, err := backup.VerifyChain(ctx)
		if err != nil {
			return rep, fmt.Errorf("verify the backup's audit trail: %w", err)
		}
		rep.Chain = &chain
		if chain.Break != nil {
			chainErr = fmt.Errorf("the backup's audit trail does not check out at event %d (%s): %s; the live trail has the same fault (run tapdesk audit verify); the copy is kept", chain.Break.Seq, chain.Break.Kind, chain.Break.Detail)
		}
	}
	// A link never replaces an existing file, so a file that appeared at
	// to meanwhile is kept.
	if err := os.Link(partial, to); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return rep, exists
		}
		return rep, fmt.Errorf("name the backup %s: %w", to, pathReason(err))
	}
	if err := os.Remove(partial); err != nil {
		return rep, fmt.Errorf("remove the partial backup %s: %w", partial, err)
	}
	if err := syncDir(filepath.Dir(to)); err != nil {
		return rep, fmt.Errorf("write the backup's name %s to disk: %w", to, err)
	}
	return rep, chainErr
}

// createPartial creates an empty owner-only file with a new name beside to.
func createPartial(to string) (string, error) {
	for {
		var b [8]byte
		if _, err := rand.Read(b[:]); err != nil {
			return "", err
		}
		name := to + ".partial-" + hex.EncodeToString(b[:])
		f, err := os.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, ownerOnly)
		if errors.Is(err, fs.ErrExist) {
			continue
		}
		if err != nil {
			return "", err
		}
		return name, f.Close()
	}
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	if err := d.Sync(); err != nil {
		d.Close()
		return err
	}
	return d.Close()
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
	p, err := goose.NewProvider(goose.DialectSQLite3, ro, migrations.SQLite)
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
