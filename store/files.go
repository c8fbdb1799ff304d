package store

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"runtime"
)

// ownerOnly is the mode of every database file: they hold the audit trail,
// the requests and the sealed sessions, which no other local user should read.
const ownerOnly fs.FileMode = 0o600

// FileTightened is a database file that was open to other users when tapdesk
// opened it, and that tapdesk restricted to its owner.
type FileTightened struct {
	Path string
	Was  fs.FileMode
}

func (f FileTightened) String() string {
	return fmt.Sprintf("%s was mode %04o (readable by other users); tapdesk set it to %04o", f.Path, f.Was, ownerOnly)
}

// restrictFiles makes the database and its -wal and -shm files owner-only.
// A new database is created 0600 before SQLite opens it: SQLite gives -wal
// and -shm the database's permission bits, so they follow whatever the umask.
// Files left open to group or others (by an older tapdesk, or a copy) are
// tightened rather than refused, so an upgrade starts; the caller logs what
// was changed. A file tapdesk cannot restrict (owned by another user) stops
// the start: running on with a readable database would hide the exposure.
func restrictFiles(path string) ([]FileTightened, error) {
	if runtime.GOOS == "windows" {
		return nil, nil // no Unix permission bits; the folder's ACL decides
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, ownerOnly)
	switch {
	case err == nil:
		f.Close()
	case !errors.Is(err, fs.ErrExist):
		return nil, fmt.Errorf("create database %s: %w", path, err)
	}
	var tightened []FileTightened
	for _, p := range []string{path, path + "-wal", path + "-shm"} {
		fi, err := os.Stat(p)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("check database file %s: %w", p, err)
		}
		if fi.Mode().Perm()&^ownerOnly == 0 {
			continue
		}
		if err := os.Chmod(p, ownerOnly); err != nil {
			return nil, fmt.Errorf("database file %s is readable by other users (mode %04o) and tapdesk cannot restrict it (%v): make it owned by the user tapdesk runs as, then chmod 600 %s", p, fi.Mode().Perm(), err, p)
		}
		tightened = append(tightened, FileTightened{Path: p, Was: fi.Mode().Perm()})
	}
	return tightened, nil
}

// FilesTightened lists the database files Open found open to other users
// and restricted to their owner, for the caller to log.
func (db *DB) FilesTightened() []FileTightened { return db.tightened }
