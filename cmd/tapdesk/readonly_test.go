package main

import (
	"context"
	"database/sql"
	"fmt"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tapdesk/tapdesk/internal/pgtest"
)

// dataVersion reads SQLite's data_version for the demo's database on a
// connection of its own: it changes when any other connection commits.
func dataVersion(t *testing.T, d *testDemo) func() int64 {
	t.Helper()
	db := openRaw(t, d.dbPath)
	conn, err := db.Conn(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return func() int64 {
		t.Helper()
		var v int64
		if err := conn.QueryRowContext(context.Background(), "PRAGMA data_version").Scan(&v); err != nil {
			t.Fatal(err)
		}
		return v
	}
}

// writeMark returns a function whose answer changes when anything is
// written to the demo's database: on SQLite its data_version; on
// PostgreSQL, for every table, the row count, the newest row version's
// transaction (xmin: an insert or update, even to the same values, gives
// the row the writer's) and a hash of the rows (a delete). PostgreSQL has
// no per-database write counter that is read at once: its statistics reach
// other sessions up to seconds late, and the next transaction id is shared
// by every database on the server, which other tests write to meanwhile.
func writeMark(t *testing.T, d *testDemo) func() string {
	t.Helper()
	if !pgtest.OnPostgres(t) {
		version := dataVersion(t, d)
		return func() string { return strconv.FormatInt(version(), 10) }
	}
	raw, err := sql.Open("pgx", d.dbPath)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { raw.Close() })
	tables := postgresTables(t, raw)
	if !slices.Contains(tables, "sessions") || !slices.Contains(tables, "audit_events") {
		t.Fatalf("the tables read are not tapdesk's: %v", tables)
	}
	parts := make([]string, len(tables))
	for i, name := range tables {
		parts[i] = fmt.Sprintf(`(SELECT '%s:' || count(*) || ':' || coalesce(max(xmin::text::bigint), 0) || ':' || coalesce(sum(hashtext(t::text)::bigint), 0) FROM %s t)`,
			strings.ReplaceAll(name, "'", "''"), pgx.Identifier{name}.Sanitize())
	}
	query := "SELECT " + strings.Join(parts, " || ' ' || ")
	return func() string {
		t.Helper()
		var mark string
		if err := raw.QueryRow(query).Scan(&mark); err != nil {
			t.Fatal(err)
		}
		return mark
	}
}

// Pages that only read write nothing to the database, however often a
// signed-in person loads them: the session's last activity is written
// again only once it is a step old (tapdesk.SessionActivityStep), so
// pages do not queue behind SQLite's one writer.
func TestReadOnlyPagesWriteNothing(t *testing.T) { pgtest.Backends(t, testReadOnlyPagesWriteNothing) }

func testReadOnlyPagesWriteNothing(t *testing.T) {
	clock := &testClock{now: time.Now()}
	d := startTestDemoWith(t, func(o *demoOptions) {
		o.Now = clock.Now
		o.SweepInterval = time.Hour // the first sweep runs at start, the next not during the test
	})
	agent := d.browser(t)
	agent.signIn("/", "agent")
	req := fileRequestFor(t, agent, "nina.newhire@contoso.example", "New starter, first day, no methods yet")
	outboxDrained(t, d)
	agent.get("/").status(http.StatusOK) // shows (and so removes) any flash left

	version := writeMark(t, d)
	before := version()
	for range 50 {
		clock.advance(time.Second)
		agent.get("/").status(http.StatusOK)
		if agent.doc().Find(`form[action="/auth/logout"]`).Length() != 1 {
			t.Fatalf("the agent is not signed in on the dashboard:\n%s", agent.body)
		}
		agent.get(req).status(http.StatusOK)
	}
	if after := version(); after != before {
		t.Fatal("100 page views within a minute wrote to the database")
	}

	// A minute on, the next request records the activity (one write), so
	// the session's idle timeout counts from it.
	clock.advance(20 * time.Second)
	v := version()
	agent.get("/").status(http.StatusOK)
	if version() == v {
		t.Fatal("a request a minute after the last recorded activity did not record it")
	}
	v = version()
	agent.get(req).status(http.StatusOK)
	if version() != v {
		t.Fatal("the request right after recording the activity wrote again")
	}
	clock.advance(29*time.Minute + 59*time.Second)
	agent.get("/").status(http.StatusOK)
	if agent.doc().Find(`form[action="/auth/logout"]`).Length() != 1 {
		t.Fatal("signed out 29m59s after the activity was recorded")
	}
}

// The sweep gives the write-ahead log's space back when the portal is
// quiet.
func TestSweepTruncatesWAL(t *testing.T) {
	d := startTestDemoWith(t, func(o *demoOptions) { o.SweepInterval = time.Hour })
	agent := d.browser(t)
	agent.signIn("/", "agent")
	fileRequestFor(t, agent, "nina.newhire@contoso.example", "New starter, first day, no methods yet")
	outboxDrained(t, d)
	wal := func() int64 {
		fi, err := os.Stat(d.dbPath + "-wal")
		if err != nil {
			t.Fatal(err)
		}
		return fi.Size()
	}
	if wal() == 0 {
		t.Fatal("filing a request left the write-ahead log empty")
	}
	// The mail worker may be reading just then; the checkpoint gives way
	// to it and the next sweep tries again.
	for range 5 {
		d.app.sweepOnce(context.Background(), nil)
		if wal() == 0 {
			return
		}
	}
	t.Fatalf("the write-ahead log is %d bytes after five sweeps of a quiet portal", wal())
}
