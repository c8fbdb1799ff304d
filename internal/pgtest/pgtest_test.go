package pgtest_test

import (
	"context"
	"database/sql"
	"errors"
	"net/url"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/tapdesk/tapdesk/internal/pgtest"
)

func open(t *testing.T, dsn string) *sql.DB {
	t.Helper()
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		t.Fatalf("open %s: %v", dsn, err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func databaseName(t *testing.T, dsn string) string {
	t.Helper()
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatalf("parse %s: %v", dsn, err)
	}
	return strings.TrimPrefix(u.Path, "/")
}

func TestURLGivesDistinctEmptyWritableDatabases(t *testing.T) {
	ctx := context.Background()
	first, second := pgtest.URL(t), pgtest.URL(t)
	if databaseName(t, first) == databaseName(t, second) {
		t.Fatalf("both tests got database %q", databaseName(t, first))
	}
	for _, dsn := range []string{first, second} {
		db := open(t, dsn)
		var current string
		if err := db.QueryRowContext(ctx, "SELECT current_database()").Scan(&current); err != nil {
			t.Fatalf("connect to %s: %v", dsn, err)
		}
		if current != databaseName(t, dsn) {
			t.Errorf("connected to %q through %s", current, dsn)
		}
		var tables int
		if err := db.QueryRowContext(ctx, `SELECT count(*) FROM information_schema.tables
			WHERE table_schema NOT IN ('pg_catalog', 'information_schema')`).Scan(&tables); err != nil {
			t.Fatal(err)
		}
		if tables != 0 {
			t.Errorf("%s holds %d tables, want an empty database", current, tables)
		}
	}

	// A row written in one is there, and not in the other.
	a, b := open(t, first), open(t, second)
	for _, db := range []*sql.DB{a, b} {
		if _, err := db.ExecContext(ctx, "CREATE TABLE note (body text NOT NULL)"); err != nil {
			t.Fatalf("create table: %v", err)
		}
	}
	if _, err := a.ExecContext(ctx, "INSERT INTO note (body) VALUES ($1)", "written in the first"); err != nil {
		t.Fatalf("insert: %v", err)
	}
	var body string
	if err := a.QueryRowContext(ctx, "SELECT body FROM note").Scan(&body); err != nil || body != "written in the first" {
		t.Errorf("first database reads back %q, %v", body, err)
	}
	var rows int
	if err := b.QueryRowContext(ctx, "SELECT count(*) FROM note").Scan(&rows); err != nil || rows != 0 {
		t.Errorf("second database holds %d notes (%v), want 0", rows, err)
	}
}

func TestDatabaseIsDroppedWhenItsTestEnds(t *testing.T) {
	ctx := context.Background()
	admin := open(t, pgtest.Require(t))
	exists := func(name string) bool {
		var n int
		if err := admin.QueryRowContext(ctx, "SELECT count(*) FROM pg_database WHERE datname = $1", name).Scan(&n); err != nil {
			t.Fatalf("look up database %s: %v", name, err)
		}
		return n == 1
	}

	var name string
	var leftOpen *sql.DB
	t.Run("uses a database", func(t *testing.T) {
		dsn := pgtest.URL(t)
		name = databaseName(t, dsn)
		if !exists(name) {
			t.Fatalf("database %s does not exist during its test", name)
		}
		// A connection the test forgot to close must not keep the
		// database from being dropped.
		var err error
		if leftOpen, err = sql.Open("pgx", dsn); err != nil {
			t.Fatal(err)
		}
		if err := leftOpen.PingContext(ctx); err != nil {
			t.Fatalf("connect: %v", err)
		}
	})
	if leftOpen != nil {
		defer leftOpen.Close()
	}
	if name == "" {
		t.Fatal("the subtest made no database")
	}
	if exists(name) {
		t.Errorf("database %s still exists after its test ended", name)
	}
}

// childEnv marks the test binary run by TestRequireWithoutServer.
const childEnv = "PGTEST_REQUIRE_CHILD"

func TestRequireChild(t *testing.T) {
	if os.Getenv(childEnv) == "" {
		t.Skip("runs only as the child of TestRequireWithoutServer")
	}
	pgtest.Require(t)
	t.Log("past Require")
}

// TestRequireWithoutServer runs Require in a child test binary with and
// without the variable and CI=true: skip outside CI, fail inside it, carry
// on when a server is named.
func TestRequireWithoutServer(t *testing.T) {
	for _, tc := range []struct {
		name     string
		env      []string
		wantFail bool
		want     string
	}{
		{"skips outside CI", nil, false, "PostgreSQL tests skipped"},
		{"fails under CI=true", []string{"CI=true"}, true, pgtest.Env + " is not set"},
		{"carries on when named", []string{"CI=true", pgtest.Env + "=postgres://nobody@/postgres?host=/nonexistent"}, false, "past Require"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cmd := exec.Command(os.Args[0], "-test.run=^TestRequireChild$", "-test.v", "-test.count=1")
			for _, kv := range os.Environ() {
				if !strings.HasPrefix(kv, pgtest.Env+"=") && !strings.HasPrefix(kv, "CI=") {
					cmd.Env = append(cmd.Env, kv)
				}
			}
			cmd.Env = append(append(cmd.Env, childEnv+"=1"), tc.env...)
			out, err := cmd.CombinedOutput()
			var exit *exec.ExitError
			if err != nil && !errors.As(err, &exit) {
				t.Fatalf("run child: %v", err)
			}
			if failed := err != nil; failed != tc.wantFail {
				t.Errorf("child failed = %v, want %v; output:\n%s", failed, tc.wantFail, out)
			}
			if !strings.Contains(string(out), tc.want) {
				t.Errorf("child output lacks %q:\n%s", tc.want, out)
			}
			if tc.want != "past Require" && strings.Contains(string(out), "past Require") {
				t.Errorf("child went past Require:\n%s", out)
			}
		})
	}
}
