package store

import (
	"context"
	"errors"
	"os"
	"syscall"
	"time"
)

// lockForMigration makes processes that open one SQLite file at once take
// turns creating and migrating it, as the advisory lock does on
// PostgreSQL: goose reads the schema version before its migration's
// transaction, so a second process would otherwise apply version 1 again
// and fail ("table requests already exists"). It holds flock(2) on the
// database file (creating it owner-only if needed), which SQLite's own
// (fcntl) locks do not see. The returned function lets go.
func lockForMigration(ctx context.Context, path string) (func(), error) {
	f, err := os.OpenFile(path, os.O_RDONLY|os.O_CREATE, 0o600)
	if err != nil {
		return nil, err
	}
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			return func() { f.Close() }, nil // closing lets go of the lock
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) {
			f.Close()
			return nil, err
		}
		select {
		case <-ctx.Done():
			f.Close()
			return nil, ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
}
