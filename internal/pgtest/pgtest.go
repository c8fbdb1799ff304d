// Package pgtest gives tests a fresh, empty PostgreSQL database on the
// server named by TAPDESK_TEST_POSTGRES (an admin URL such as
// postgres://tapdesk@/postgres?host=/tmp/pg). Without it, tests that need
// PostgreSQL skip, saying so; under CI=true they fail instead, so a CI run
// never passes with the PostgreSQL half of the suite left out.
package pgtest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" driver
)

// Env names the variable holding the admin URL.
const Env = "TAPDESK_TEST_POSTGRES"

// Available reports whether a PostgreSQL server was named.
func Available() bool { return os.Getenv(Env) != "" }

// Require skips t when no server was named (fails it under CI=true) and
// returns the admin URL otherwise.
func Require(t testing.TB) string {
	t.Helper()
	admin := os.Getenv(Env)
	if admin == "" {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s is not set: CI must run the PostgreSQL tests (.ci/run starts a throwaway cluster)", Env)
		}
		t.Skipf("PostgreSQL tests skipped: set %s to an admin URL (eval \"$(scripts/pg-dev env)\" starts one)", Env)
	}
	return admin
}

// URL creates a fresh empty database for t and returns its URL; the
// database is dropped when t ends.
func URL(t testing.TB) string {
	t.Helper()
	admin := Require(t)
	u, err := url.Parse(admin)
	if err != nil {
		t.Fatalf("%s: %v", Env, err)
	}
	var b [6]byte
	rand.Read(b[:])
	name := "tapdesk_test_" + hex.EncodeToString(b[:])
	db, err := sql.Open("pgx", admin)
	if err != nil {
		t.Fatalf("open %s: %v", Env, err)
	}
	defer db.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := db.ExecContext(ctx, "CREATE DATABASE "+name+" TEMPLATE template0 ENCODING 'UTF8'"); err != nil {
		t.Fatalf("create test database: %v", err)
	}
	t.Cleanup(func() {
		db, err := sql.Open("pgx", admin)
		if err != nil {
			return
		}
		defer db.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if _, err := db.ExecContext(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			t.Logf("drop test database %s: %v", name, err)
		}
	})
	u.Path = "/" + name
	return u.String()
}

// Backends runs fn as two subtests, "sqlite" and "postgres", so one test
// body covers both databases; inside, DSN (or OnPostgres) tells which one
// the subtest is for. The postgres subtest skips (fails under CI=true)
// without a server.
func Backends(t *testing.T, fn func(t *testing.T)) {
	t.Helper()
	t.Run("sqlite", fn)
	t.Run("postgres", func(t *testing.T) {
		Require(t)
		fn(t)
	})
}

// OnPostgres reports whether t runs under Backends' postgres subtest.
func OnPostgres(t testing.TB) bool {
	return strings.Contains(t.Name()+"/", "/postgres/")
}

// DSN is where t's database goes: a fresh PostgreSQL database under
// Backends' postgres subtest, the SQLite file sqlitePath otherwise.
func DSN(t testing.TB, sqlitePath string) string {
	t.Helper()
	if OnPostgres(t) {
		return URL(t)
	}
	return sqlitePath
}

// BenchBackends is Backends for benchmarks.
func BenchBackends(b *testing.B, fn func(b *testing.B)) {
	b.Helper()
	b.Run("sqlite", fn)
	b.Run("postgres", func(b *testing.B) {
		Require(b)
		fn(b)
	})
}
