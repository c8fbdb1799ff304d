package store_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"os"
	osexec "os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tapdesk/tapdesk"
	"github.com/tapdesk/tapdesk/store"
)

// TestBackupWhileWriting backs up while another goroutine keeps appending
// audit events: the copy opens, passes the checks, and holds a prefix of the
// trail (events 1..N with nothing missing) that its chain verifies.
func TestBackupWhileWriting(t *testing.T) {
	ctx := context.Background()
	db, _ := openDB(t)
	seed(t, db, 50)

	stop := make(chan struct{})
	var wg sync.WaitGroup
	var appended int
	var appendErr error
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			ev := tapdesk.Event{Activity: tapdesk.ActUserLookup, Category: tapdesk.CatRequest, Actor: agent,
				TargetUPN: fmt.Sprintf("during%d@x", i)}
			if err := db.AppendEvent(ctx, ev); err != nil {
				appendErr = err
				return
			}
			appended++
		}
	}()
	// Let the writer get going so the backup overlaps live appends.
	for range 20 {
		seed(t, db, 1)
	}
	to := filepath.Join(t.TempDir(), "backup.db")
	rep, err := db.Backup(ctx, to)
	close(stop)
	wg.Wait()
	if err != nil {
		t.Fatal(err)
	}
	if appendErr != nil {
		t.Fatalf("a write during the backup failed: %v", appendErr)
	}
	if appended == 0 {
		t.Fatal("the writer appended nothing: the test did not overlap the backup with writes")
	}
	if rep.Chain == nil || rep.Chain.Break != nil {
		t.Fatalf("the copy's chain: %+v", rep.Chain)
	}
	if rep.Events < 70 || rep.Chain.Checked != rep.Events || rep.Chain.LastSeq != rep.Events || rep.SchemaVersion == 0 || rep.Bytes == 0 {
		t.Fatalf("report %+v, chain %+v", rep, *rep.Chain)
	}
	if runtime.GOOS != "windows" {
		if fi, err := os.Stat(to); err != nil || fi.Mode().Perm() != 0o600 {
			t.Fatalf("backup mode %v, %v: want 0600", fi.Mode(), err)
		}
	}
	// One self-contained file in rollback-journal mode (header bytes 18
	// and 19 are 1; WAL would be 2), so nothing beside it to copy along.
	if b, err := os.ReadFile(to); err != nil || len(b) < 20 || b[18] != 1 || b[19] != 1 {
		t.Fatalf("backup header: %v (read/write versions %v)", err, b[18:20])
	}
	for _, side := range []string{"-wal", "-shm", "-journal"} {
		if _, err := os.Stat(to + side); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s%s exists beside the backup", to, side)
		}
	}

	// The copy is a database tapdesk opens and verifies on its own, and
	// its events are exactly the live trail's first ones.
	restored, err := store.Open(ctx, to)
	if err != nil {
		t.Fatal(err)
	}
	defer restored.Close()
	if err := restored.SetAuditKey(testAuditKey); err != nil {
		t.Fatal(err)
	}
	if r := verify(t, restored); r.Break != nil || r.Checked != rep.Events {
		t.Fatalf("restored copy verifies %+v, want %d events", r, rep.Events)
	}
	live := verify(t, db)
	if live.LastSeq <= rep.Events {
		t.Fatalf("live trail ends at %d, the copy at %d: the writer did not outlast the backup", live.LastSeq, rep.Events)
	}
	var copyMAC, liveMAC string
	if err := restored.SQL().QueryRow(`SELECT mac FROM audit_events WHERE seq = ?`, rep.Events).Scan(&copyMAC); err != nil {
		t.Fatal(err)
	}
	if err := db.SQL().QueryRow(`SELECT mac FROM audit_events WHERE seq = ?`, rep.Events).Scan(&liveMAC); err != nil {
		t.Fatal(err)
	}
	if copyMAC != liveMAC {
		t.Fatalf("event %d differs between the copy and the live trail", rep.Events)
	}
}

func TestBackupWithoutKeyDoesNotCheckChain(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "tapdesk.db")
	db, err := store.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rep, err := db.Backup(ctx, filepath.Join(t.TempDir(), "b.db"))
	if err != nil {
		t.Fatal(err)
	}
	if rep.Chain != nil {
		t.Fatalf("the chain was walked without a key: %+v", rep.Chain)
	}
}

func TestBackupRefusesToOverwrite(t *testing.T) {
	db, _ := openDB(t)
	seed(t, db, 3)
	to := filepath.Join(t.TempDir(), "backup.db")
	if err := os.WriteFile(to, []byte("yesterday's backup"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := db.Backup(context.Background(), to)
	if err == nil || !strings.Contains(err.Error(), "already exists") {
		t.Fatalf("backup over an existing file: %v", err)
	}
	if b, _ := os.ReadFile(to); string(b) != "yesterday's backup" {
		t.Fatalf("the existing file was changed: %q", b)
	}
}

func TestBackupToUnwritablePlace(t *testing.T) {
	db, _ := openDB(t)
	dir := filepath.Join(t.TempDir(), "no-such-folder")
	_, err := db.Backup(context.Background(), filepath.Join(dir, "backup.db"))
	if err == nil {
		t.Fatal("backup into a missing folder succeeded")
	}
	want := "cannot create the backup " + filepath.Join(dir, "backup.db") + ": no such file or directory"
	if err.Error() != want {
		t.Fatalf("error %q, want %q", err, want)
	}
}

// TestBackupKeepsCopyOfBrokenTrail: a live trail with a fault gives a copy
// with the same fault; the copy is kept (it is still the data) and the
// error names the event.
func TestBackupKeepsCopyOfBrokenTrail(t *testing.T) {
	db, _ := openDB(t)
	seed(t, db, 5)
	exec(t, db, `UPDATE audit_events SET record = json_set(record, '$[7]', 'mallory@x') WHERE seq = 3`)
	to := filepath.Join(t.TempDir(), "backup.db")
	_, err := db.Backup(context.Background(), to)
	if err == nil || !strings.Contains(err.Error(), "event 3") {
		t.Fatalf("backup of a broken trail: %v", err)
	}
	c, err := sql.Open("sqlite", "file:"+to+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var n int
	if err := c.QueryRow(`SELECT COUNT(*) FROM audit_events`).Scan(&n); err != nil || n != 5 {
		t.Fatalf("kept copy holds %d events, %v", n, err)
	}
}

// TestBackupKilledMidwayLeavesNoBackup kills a process in the middle of a
// backup (as SIGKILL, the OOM killer or a power cut would): nothing is left
// under the backup's name, so no truncated file passes for a good backup.
func TestBackupKilledMidwayLeavesNoBackup(t *testing.T) {
	if env := os.Getenv("TAPDESK_TEST_BACKUP_CHILD"); env != "" {
		from, to, _ := strings.Cut(env, "|")
		db, err := store.Open(context.Background(), from)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
		_, err = db.Backup(context.Background(), to)
		fmt.Fprintln(os.Stderr, "backup finished:", err)
		os.Exit(3)
	}
	ctx := context.Background()
	from := filepath.Join(t.TempDir(), "tapdesk.db")
	db, err := store.Open(ctx, from)
	if err != nil {
		t.Fatal(err)
	}
	// Enough data that copying and checking it takes a while.
	exec(t, db, `CREATE TABLE ballast (b BLOB)`)
	exec(t, db, `WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 500)
		INSERT INTO ballast SELECT randomblob(16384) FROM n`)
	db.Close()
	dir := t.TempDir()
	to := filepath.Join(dir, "backup.db")
	cmd := osexec.Command(os.Args[0], "-test.run=^TestBackupKilledMidwayLeavesNoBackup$")
	cmd.Env = append(os.Environ(), "TAPDESK_TEST_BACKUP_CHILD="+from+"|"+to)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// Kill it as soon as the backup has started writing.
	for {
		entries, err := os.ReadDir(dir)
		if err != nil {
			t.Fatal(err)
		}
		if len(entries) > 0 {
			break
		}
		if cmd.ProcessState != nil {
			break
		}
		time.Sleep(time.Millisecond)
	}
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()
	if strings.Contains(stderr.String(), "backup finished") {
		t.Fatalf("the backup finished before it was killed: %s", stderr.String())
	}
	if _, err := os.Lstat(to); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("a killed backup left %s (%v)", to, err)
	}
}
