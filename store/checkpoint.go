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
//
// It takes this process's turn to write first: the checkpoint holds
// SQLite's write lock while it waits, and writers that meet the lock in
// SQLite's busy handler sleep past the moment it frees; queued for the
// turn, they go as soon as it does.
func (db *DB) CheckpointWAL(ctx context.Context) (truncated bool, err error) {
	if db.dialect != sqliteDialect {
		return false, nil // PostgreSQL manages its own write-ahead log
	}
	if err := db.lockWrites(ctx); err != nil {
		return false, fmt.Errorf("checkpoint the write-ahead log: %w", err)
	}
	defer db.unlockWrites()
	conn, err := db.db.Conn(ctx)
	if err != nil {
		return false, fmt.Errorf("checkpoint the write-ahead log: %w", err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, fmt.Sprintf("PRAGMA busy_timeout = %d", checkpointWait.Milliseconds())); err != nil {
		return false, fmt.Errorf("checkpoint the write-ahead log: %w", err)
	}
	var busy, logFrames, checkpointed int
	// The background checkpointer's passive run would make this one fail
	// at once (SQLite runs one checkpoint at a time): wait for it.
	db.checkpointing.Lock()
	cerr := conn.QueryRowContext(ctx, "PRAGMA wal_checkpoint(TRUNCATE)").Scan(&busy, &logFrames, &checkpointed)
	db.checkpointing.Unlock()
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

// checkpointEvery is how often the background checkpointer copies the
// write-ahead log back into the database file while writes come in.
const checkpointEvery = time.Second

// walBackstopPages is where SQLite's own automatic checkpoint still runs
// (pages of 16 KiB, store.go: 32 MiB of log), well under issue 10's 64 MB
// bound: the checkpointer normally copies the log back long before, so it
// runs only if writes outpace it or were made without telling it
// (db.writes).
const walBackstopPages = 2048

// startCheckpointer starts the background checkpointer of a SQLite
// database this process opened (Open turns SQLite's automatic
// checkpoints off). SQLite's own ran inside the commit that filled the
// log past 1000 pages: that commit, a page's write, waited for the copy,
// and every writer queued behind it too, tens of milliseconds at the tail
// of each step under load. This one runs a passive checkpoint each
// second in which something was written: passive, it takes no lock that
// writers or readers wait on, and once it has copied the whole log the
// next writer starts the log over (journal_size_limit cuts its file back).
func (db *DB) startCheckpointer() {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	db.stopCheckpointer = func() {
		cancel()
		<-done
	}
	go func() {
		defer close(done)
		tick := time.NewTicker(checkpointEvery)
		defer tick.Stop()
		var seen uint64
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			if n := db.writes.Load(); n != seen {
				seen = n
				// A failure (another checkpoint under way, a database
				// closing) leaves the log to the next tick or the sweep.
				db.checkpointing.Lock()
				_, _ = db.db.ExecContext(ctx, "PRAGMA wal_checkpoint(PASSIVE)")
				db.checkpointing.Unlock()
			}
		}
	}()
}
