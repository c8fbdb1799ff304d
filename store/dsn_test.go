package store_test

import (
	"strings"
	"testing"

	"github.com/tapdesk/tapdesk/store"
)

// A database setting is shown without any password, however it is
// written, and a path stays as it is.
func TestDisplayDSN(t *testing.T) {
	const pw = "pw-Sekr1t"
	for dsn, want := range map[string]string{
		"/var/lib/tapdesk/tapdesk.db":                                "/var/lib/tapdesk/tapdesk.db",
		"data/tapdesk.db":                                            "data/tapdesk.db",
		"postgres://tapdesk:" + pw + "@db:5432/tapdesk":              "postgres://tapdesk:xxxxx@db:5432/tapdesk",
		"postgresql://tapdesk:" + pw + "@db/tapdesk?sslmode=require": "postgresql://tapdesk:xxxxx@db/tapdesk?sslmode=require",
		"postgres://tapdesk@/tapdesk?host=/var/run/postgresql":       "postgres://tapdesk@/tapdesk?host=/var/run/postgresql",
		"postgres://tapdesk:" + pw + "@db:port/tapdesk":              "(a database URL that does not parse)",
		"postgres:/tapdesk:" + pw + "@db/tapdesk":                    "(a database URL that is not shown: it may hold a password)",
		"POSTGRES://tapdesk:" + pw + "@db/tapdesk":                   "(a database URL that is not shown: it may hold a password)",
		"mysql://tapdesk:" + pw + "@db/tapdesk":                      "mysql://tapdesk:xxxxx@db/tapdesk",
		// pgx takes the password from the query string too.
		"postgres://tapdesk@db/tapdesk?password=" + pw + "&sslmode=verify-full": "postgres://tapdesk@db/tapdesk?password=xxxxx&sslmode=verify-full",
		"postgres://db/tapdesk?user=tapdesk&Password=" + pw:                     "postgres://db/tapdesk?Password=xxxxx&user=tapdesk",
		"postgres://db/tapdesk?sslpassword=" + pw:                               "postgres://db/tapdesk?sslpassword=xxxxx",
	} {
		got := store.DisplayDSN(dsn)
		if got != want || strings.Contains(got, pw) {
			t.Errorf("DisplayDSN(%q) = %q, want %q", dsn, got, want)
		}
		if err := store.CheckDSN(dsn); err != nil && strings.Contains(err.Error(), pw) {
			t.Errorf("CheckDSN(%q) shows the password: %v", dsn, err)
		}
	}
	for _, ok := range []string{"tapdesk.db", "/var/lib/tapdesk/tapdesk.db", "postgres.db", "./postgres:old/tapdesk.db",
		"postgres://tapdesk@db/tapdesk", "postgresql://tapdesk@/tapdesk?host=/run/postgresql"} {
		if err := store.CheckDSN(ok); err != nil {
			t.Errorf("CheckDSN(%q): %v", ok, err)
		}
	}
	for _, bad := range []string{"", " ", "postgress://db/tapdesk", "postgres:/db/tapdesk", "Postgres://db/tapdesk", "postgres:db", "mysql://db/tapdesk"} {
		if err := store.CheckDSN(bad); err == nil {
			t.Errorf("CheckDSN(%q) accepted it", bad)
		}
	}
}
