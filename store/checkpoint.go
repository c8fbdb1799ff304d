package store

import (
	"context"
	"database/sql/driver"
	"errors"
	"fmt"
	"time"
)

// checkpointWait is how long a truncating checkpoint waits for readers and
// the writer to let go. It holds the write lock while it waits, so it is
// short: a busy database is left to SQLite's own checkpoints (every 1000
// pages written) and the next sweep tries again.
const checkpointWait = 100 * time.Millisecond

// CheckpointWAL copies the write-ahead log into the database and cuts the
// log file to nothing, if the database is quiet enough to let it within
// checkpointWait. SQLite's automatic checkpoints copy pages back but leave
// the file at its largest size (journal_size_limit bounds that), and a
// reader always busy can starve them; this gives the space back once the
// load has passed. truncated is false when readers or a writer were in the
// way (not an error: the sweep will try again).
func (db *DB) CheckpointWAL(ctx context.Context) (truncated bool, err error) {
	if db.dialect != sqliteDialect {
		return false, nil // PostgreSQL manages its own write-ahead log
	}
	conn, err := db.db.Conn(ctx)
	if err != nil {
		return false, fmt.Errorf("checkpoint the write-ahead log: %w", err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, fmt.Sprintf("PRAGMA busy_timeout = %d", checkpointWait.Milliseconds())); err != nil {
		return false, fmt.Errorf("checkpoint the write-ahead log: %w", err)
	}
	var busy, logFrames, checkpointed int
	cerr := conn.QueryRowContext(ctx, "PRAGMA wal_checkpoint(TRUNCATE)").Scan(&busy, &logFrames, &checkpointed)
	// The connection goes back to the pool: it must wait as long as the
	// others again, or be dropped.
	if _, err := conn.ExecContext(context.WithoutCancel(ctx), fmt.Sprintf("PRAGMA busy_timeout = %d", busyTimeout.Milliseconds())); err != nil {
		_ = conn.Raw(func(any) error { return driver.ErrBadConn })
		return false, errors.Join(cerr, fmt.Errorf("restore the busy timeout after a checkpoint: %w", err))
	}
	if cerr != nil {
		return false, fmt.Errorf("checkpoint the write-ahead log: %w", cerr)
	}
	return busy == 0, nil
}
