package store_test

import (
	"context"
	"database/sql"
	"os"
	"testing"

	"github.com/tapdesk/tapdesk"
	"github.com/tapdesk/tapdesk/store"
)

func walSize(t *testing.T, path string) int64 {
	t.Helper()
	fi, err := os.Stat(path + "-wal")
	if err != nil {
		t.Fatal(err)
	}
	return fi.Size()
}

// The sweep's checkpoint gives the write-ahead log's space back once no
// reader is in the way, and gives up at once, without an error, while one
// is.
func TestCheckpointWALTruncates(t *testing.T) {
	ctx := context.Background()
	db, path := openDB(t)
	if err := db.AppendEvents(ctx, 2000, 500, func(i int) tapdesk.Event { return benchEvent(i) }); err != nil {
		t.Fatal(err)
	}
	if walSize(t, path) == 0 {
		t.Fatal("2000 events left the write-ahead log empty")
	}
	var limit int64
	if err := db.SQL().QueryRowContext(ctx, "PRAGMA journal_size_limit").Scan(&limit); err != nil || limit != store.MaxWALBytes {
		t.Fatalf("journal_size_limit is %d (err %v), want %d", limit, err, store.MaxWALBytes)
	}

	// A reader in the middle of a transaction on its own connection holds
	// a snapshot the log must keep.
	other, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	tx, err := other.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	var n int
	if err := tx.QueryRowContext(ctx, "SELECT COUNT(*) FROM audit_events").Scan(&n); err != nil {
		t.Fatal(err)
	}
	if err := db.AppendEvent(ctx, benchEvent(n)); err != nil {
		t.Fatal(err)
	}
	truncated, err := db.CheckpointWAL(ctx)
	if err != nil || truncated {
		t.Fatalf("checkpoint under an open reader: truncated %v, err %v; want false, nil", truncated, err)
	}
	if walSize(t, path) == 0 {
		t.Fatal("the log was cut under a reader that needs it")
	}
	tx.Rollback()

	truncated, err = db.CheckpointWAL(ctx)
	if err != nil || !truncated {
		t.Fatalf("checkpoint when quiet: truncated %v, err %v; want true, nil", truncated, err)
	}
	if s := walSize(t, path); s != 0 {
		t.Fatalf("the write-ahead log is %d bytes after a truncating checkpoint", s)
	}
	// The connection it used waits for locks as long as before: a write
	// right after succeeds.
	if err := db.AppendEvent(ctx, benchEvent(n+1)); err != nil {
		t.Fatal(err)
	}
}
