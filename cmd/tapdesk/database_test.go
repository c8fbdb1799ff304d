package main

import (
	"bufio"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/tapdesk/tapdesk/migrations"
	"io"
	"io/fs"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgproto3"

	"github.com/tapdesk/tapdesk/internal/freeport"
	"github.com/tapdesk/tapdesk/internal/pgtest"
	"github.com/tapdesk/tapdesk/store"
)

// postgresHolds returns the first table of the PostgreSQL database at dsn
// whose rows, as text, contain needle ("" when none does): what someone
// holding a dump of the database would find.
func postgresHolds(t *testing.T, dsn, needle string) string {
	t.Helper()
	raw, err := sql.Open("pgx", dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	tables := postgresTables(t, raw)
	if len(tables) < 5 {
		t.Fatalf("only %d tables in the database: the search proves nothing", len(tables))
	}
	for _, table := range tables {
		// Each row as text, bytea columns as hex: decode those too.
		var n int
		q := fmt.Sprintf(`SELECT count(*) FROM %s AS r WHERE strpos(r::text, $1) > 0 OR strpos(r::text, encode(convert_to($1, 'UTF8'), 'hex')) > 0`, pgx.Identifier{table}.Sanitize())
		if err := raw.QueryRow(q, needle).Scan(&n); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		if n > 0 {
			return "table " + table
		}
	}
	return ""
}

// postgresTables names the tables of the database raw is open on, in order.
func postgresTables(t *testing.T, raw *sql.DB) []string {
	t.Helper()
	rows, err := raw.Query(`SELECT table_name FROM information_schema.tables
		WHERE table_schema = current_schema() AND table_type = 'BASE TABLE' ORDER BY table_name`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var tables []string
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			t.Fatal(err)
		}
		tables = append(tables, name)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return tables
}

// withPassword is the database URL dsn with password set on its user. The
// test cluster trusts local connections, so any password gets in and the
// commands run all the way with it in their settings.
func withPassword(t *testing.T, dsn, password string) string {
	t.Helper()
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	u.User = url.UserPassword(u.User.Username(), password)
	return u.String()
}

// A database URL's password is shown nowhere: not in what migrate, audit,
// db backup, serve or demo print or log, not in /readyz or /metrics, not
// in the start-up audit event or anywhere else in the database.
func TestDatabasePasswordNeverShown(t *testing.T) {
	const password = "pw-Sekr1t-7f3a9c"
	dsn := withPassword(t, pgtest.URL(t), password)
	auditKey := validServeEnv(t)["TAPDESK_AUDIT_KEY"] // serve runs on this database later
	mustNotShow := func(t *testing.T, what, text string) {
		t.Helper()
		if strings.Contains(text, password) {
			t.Errorf("%s shows the database password:\n%s", what, text)
		}
	}

	t.Run("migrate", func(t *testing.T) {
		out, errOut, err := runCLI(t, nil, "migrate", "--db", dsn)
		if err != nil || !strings.Contains(out, "PostgreSQL database postgres://tapdesk:xxxxx@") || !strings.Contains(out, fmt.Sprintf("schema version %d", knownSchema(t))) {
			t.Fatalf("migrate: %v\n%s%s", err, out, errOut)
		}
		mustNotShow(t, "migrate", out+errOut)
	})

	t.Run("audit", func(t *testing.T) {
		env := map[string]string{"TAPDESK_DB": dsn, "TAPDESK_AUDIT_KEY": auditKey}
		for _, args := range [][]string{{"audit", "seed", "--events", "20"}, {"audit", "verify"}, {"audit", "export", "--format", "jsonl"}} {
			out, errOut, err := runCLI(t, env, args...)
			if err != nil {
				t.Fatalf("%s: %v\n%s%s", strings.Join(args, " "), err, out, errOut)
			}
			mustNotShow(t, strings.Join(args, " "), out+errOut)
		}
		out, errOut, err := runCLI(t, env, "db", "backup", "--to", filepath.Join(t.TempDir(), "b.db"))
		if err == nil {
			t.Fatal("db backup of PostgreSQL succeeded")
		}
		mustNotShow(t, "db backup", out+errOut+err.Error())
	})

	t.Run("serve", func(t *testing.T) {
		env := validServeEnv(t)
		env["TAPDESK_DB"] = dsn
		env["TAPDESK_LOG_LEVEL"] = "debug"
		env["TAPDESK_METRICS_ADDR"] = "127.0.0.1:0"
		env["TAPDESK_AUTHORITY_HOST"] = "https://127.0.0.1:1"
		logs, addr, metricsAddr := startServeLogged(t, env)
		var seen strings.Builder
		for _, u := range []string{"http://" + addr + "/readyz", "http://" + metricsAddr + "/metrics"} {
			res, err := http.Get(u)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(res.Body)
			res.Body.Close()
			seen.Write(body)
			mustNotShow(t, u, string(body))
		}
		if !strings.Contains(seen.String(), fmt.Sprintf("database: ok (schema %d)", knownSchema(t))) {
			t.Errorf("readyz does not say the database is fine:\n%s", seen.String())
		}
		if !strings.Contains(logs.String(), `"database":"PostgreSQL"`) || !strings.Contains(logs.String(), "tapdesk:xxxxx@") {
			t.Errorf("the start-up log does not name the database:\n%s", logs)
		}
		mustNotShow(t, "serve's log", logs.String())
	})

	demoDSN := withPassword(t, pgtest.URL(t), password) // the demo's audit key is its own
	t.Run("demo", func(t *testing.T) {
		d := startTestDemoWith(t, func(o *demoOptions) { o.DBPath = demoDSN; o.MetricsAddr = "127.0.0.1:0" })
		var welcome strings.Builder
		d.printWelcome(&welcome)
		if !strings.Contains(welcome.String(), "tapdesk:xxxxx@") || !strings.Contains(welcome.String(), "(PostgreSQL)") {
			t.Errorf("the welcome does not name the database:\n%s", welcome.String())
		}
		mustNotShow(t, "demo's welcome", welcome.String())
		agent := d.browser(t)
		agent.signIn("/", "agent")
		fileRequestFor(t, agent, "nina.newhire@contoso.example", "New starter, first day, no methods yet")
		_, body := readyz(t, d, "")
		mustNotShow(t, "demo's readyz", body)
		res, err := http.Get(d.metricsURL)
		if err != nil {
			t.Fatal(err)
		}
		m, _ := io.ReadAll(res.Body)
		res.Body.Close()
		mustNotShow(t, "demo's metrics", string(m))
		mustNotShow(t, "demo's log", d.logs.String())
	})

	// Serve and demo each wrote their settings into the start-up event.
	for _, db := range []string{dsn, demoDSN} {
		if where := postgresHolds(t, db, password); where != "" {
			t.Errorf("the database password is stored in %s", where)
		}
		if where := postgresHolds(t, db, "tapdesk:xxxxx@"); where == "" {
			t.Error("no start-up event names the database: the search above proves nothing")
		}
	}
}

// startServeLogged runs serve with env, its log kept whole, until the test
// ends; it returns the log and the portal's and metrics' addresses.
func startServeLogged(t *testing.T, env map[string]string) (logs *syncBuffer, addr, metricsAddr string) {
	t.Helper()
	logs = &syncBuffer{}
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() { done <- run(ctx, []string{"serve"}, envFrom(env), io.Discard, pw); pw.Close() }()
	started := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			logs.Write(append(sc.Bytes(), '\n'))
			var line map[string]any
			if json.Unmarshal(sc.Bytes(), &line) != nil {
				continue
			}
			switch line["msg"] {
			case "metrics serving":
				metricsAddr, _ = line["addr"].(string)
			case "tapdesk serving":
				addr, _ = line["addr"].(string)
				close(started)
			}
		}
	}()
	select {
	case <-started:
	case err := <-done:
		cancel()
		t.Fatalf("serve did not start: %v\n%s", err, logs)
	case <-time.After(60 * time.Second):
		cancel()
		t.Fatalf("serve did not start in a minute:\n%s", logs)
	}
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve stopped with: %v", err)
		}
	})
	return logs, addr, metricsAddr
}

// wrongPasswordServer is a PostgreSQL server on loopback that asks for a
// password and refuses it, as a server with password authentication does
// (the test cluster trusts every local connection). It returns the
// server's address.
func wrongPasswordServer(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	serveConns(t, ln, func(conn net.Conn) {
		conn.SetDeadline(time.Now().Add(10 * time.Second))
		be := pgproto3.NewBackend(conn, conn)
		for {
			msg, err := be.ReceiveStartupMessage()
			if err != nil {
				return
			}
			if _, ok := msg.(*pgproto3.SSLRequest); ok {
				conn.Write([]byte("N")) // no TLS: the client goes on in plain text
				continue
			}
			if _, ok := msg.(*pgproto3.GSSEncRequest); ok {
				conn.Write([]byte("N"))
				continue
			}
			break
		}
		be.Send(&pgproto3.AuthenticationCleartextPassword{})
		if be.Flush() != nil || be.SetAuthType(pgproto3.AuthTypeCleartextPassword) != nil {
			return
		}
		if _, err := be.Receive(); err != nil {
			return
		}
		be.Send(&pgproto3.ErrorResponse{Severity: "FATAL", SeverityUnlocalized: "FATAL", Code: "28P01",
			Message: `password authentication failed for user "tapdesk"`})
		be.Flush()
	})
	return ln.Addr().String()
}

// A database setting that cannot work gets a sentence saying what to fix,
// from every command that takes one, and never the password in it.
func TestDatabaseMistakesSaidPlainly(t *testing.T) {
	const password = "pw-Sekr1t-7f3a9c"
	refusedAddr := freeport.MustAddr(t) // nothing listens there

	cases := []struct{ name, dsn, want string }{
		{"server unreachable", "postgres://tapdesk:" + password + "@" + refusedAddr + "/tapdesk?sslmode=disable",
			"nothing answers at " + refusedAddr + ": is PostgreSQL running there"},
		{"wrong password", "postgres://tapdesk:" + password + "@" + wrongPasswordServer(t) + "/tapdesk?sslmode=disable",
			`refused user "tapdesk": the password is wrong`},
		{"database missing", "", `has no database "tapdesk_no_such_database": create it`}, // on the test server
		{"scheme typo'd", "postgress://tapdesk:" + password + "@db.example/tapdesk", "is not a PostgreSQL URL tapdesk reads"},
		{"another scheme", "mysql://tapdesk:" + password + "@db.example/tapdesk", "is neither a SQLite file nor a PostgreSQL URL"},
		{"one slash", "postgres:/tapdesk:" + password + "@db.example/tapdesk", "is not a PostgreSQL URL tapdesk reads"},
		{"capitals", "POSTGRES://tapdesk:" + password + "@db.example/tapdesk", "in lower case"},
		{"unparsable URL", "postgres://tapdesk:" + password + "@db.example:port/tapdesk", "the PostgreSQL URL does not parse"},
		{"sqlite folder missing", filepath.Join(t.TempDir(), "no", "such", "folder", "tapdesk.db"), "does not exist: create it"},
	}
	key := strings.Repeat("k", 32)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if c.dsn == "" {
				admin, err := url.Parse(pgtest.Require(t))
				if err != nil {
					t.Fatal(err)
				}
				admin.Path = "/tapdesk_no_such_database"
				admin.User = url.UserPassword(admin.User.Username(), password)
				c.dsn = admin.String()
			}
			commands := [][]string{{"migrate"}, {"audit", "verify"}, {"db", "backup", "--to", filepath.Join(t.TempDir(), "b.db")}, {"demo", "--addr", "127.0.0.1:0"}}
			for _, args := range commands {
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				var out, errOut strings.Builder
				env := map[string]string{"TAPDESK_AUDIT_KEY": key}
				err := run(ctx, append(args, "--db", c.dsn), envFrom(env), &out, &errOut)
				cancel()
				what := strings.Join(args[:min(2, len(args))], " ")
				if err == nil {
					t.Errorf("%s: ran with %s", what, c.name)
					continue
				}
				msg := err.Error()
				t.Logf("%s: %s", what, msg)
				want := c.want
				if (what == "audit verify" || what == "db backup") && c.name == "sqlite folder missing" {
					want = "no database at" // these read an installation, they never create one
				}
				if !strings.Contains(msg, want) {
					t.Errorf("%s says %q, want %q", what, msg, want)
				}
				if all := msg + out.String() + errOut.String(); strings.Contains(all, password) || strings.Contains(all, "goroutine ") {
					t.Errorf("%s shows the password or a stack:\n%s", what, all)
				}
				if strings.Count(strings.TrimSpace(msg), "\n") > 0 {
					t.Errorf("%s: the sentence runs over several lines:\n%s", what, msg)
				}
			}
		})
	}
}

// Two migrations at once on a fresh PostgreSQL database (two instances
// starting together) both succeed and apply each migration once: the
// advisory lock lets one migrate while the other waits, then finds
// nothing left to do.
func TestMigrateConcurrentlyOnPostgres(t *testing.T) {
	for round := range 3 {
		dsn := pgtest.URL(t)
		var wg sync.WaitGroup
		errs := make([]error, 4)
		outs := make([]string, 4)
		for i := range errs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if i%2 == 0 {
					var out strings.Builder
					errs[i] = run(context.Background(), []string{"migrate", "--db", dsn}, envFrom(nil), &out, io.Discard)
					outs[i] = out.String()
					return
				}
				db, err := store.Open(context.Background(), dsn)
				if err == nil {
					db.Close()
				}
				errs[i] = err
			}()
		}
		wg.Wait()
		for i, err := range errs {
			if err != nil {
				t.Fatalf("round %d, opener %d: %v", round, i, err)
			}
		}
		for i := 0; i < len(outs); i += 2 {
			if !strings.Contains(outs[i], fmt.Sprintf("schema version %d", knownSchema(t))) {
				t.Errorf("round %d: migrate said %q", round, outs[i])
			}
		}
		raw, err := sql.Open("pgx", dsn)
		if err != nil {
			t.Fatal(err)
		}
		// The baseline (10) and each migration after it, once each, and
		// goose's row for version 0.
		var applied, rows int
		err = raw.QueryRow(`SELECT count(DISTINCT version_id) FILTER (WHERE version_id >= 10), count(*) FROM goose_db_version`).Scan(&applied, &rows)
		raw.Close()
		if err != nil {
			t.Fatal(err)
		}
		want := knownSchema(t) - 10 + 1
		if applied != want || rows != want+1 {
			t.Errorf("round %d: %d distinct versions from 10 recorded, %d version rows in all; want %d and %d", round, applied, rows, want, want+1)
		}
	}
}

// db backup copies SQLite; on PostgreSQL it refuses with the sentence
// that says what to use instead, writes nothing, and exits 1.
func TestDBBackupRefusesPostgres(t *testing.T) {
	dsn := pgtest.URL(t)
	if _, _, err := runCLI(t, nil, "migrate", "--db", dsn); err != nil {
		t.Fatal(err)
	}
	to := filepath.Join(t.TempDir(), "backup.db")
	out, errOut, err := runCLI(t, map[string]string{"TAPDESK_DB": dsn}, "db", "backup", "--to", to)
	var exit *exitError
	if !errors.As(err, &exit) || exit.code != 1 {
		t.Fatalf("db backup on PostgreSQL: %v (want exit 1)\n%s%s", err, out, errOut)
	}
	if want := "tapdesk db backup: tapdesk db backup copies a SQLite database; back up PostgreSQL with its own tools (pg_dump"; !strings.HasPrefix(err.Error(), want) {
		t.Errorf("db backup says %q, want it to start %q", err, want)
	}
	if !strings.Contains(err.Error(), "tapdesk audit verify") || strings.Contains(err.Error(), "invalid:") {
		t.Errorf("db backup says %q", err)
	}
	if _, statErr := os.Stat(to); !errors.Is(statErr, os.ErrNotExist) {
		t.Errorf("db backup left %s behind: %v", to, statErr)
	}
}

// knownSchema is the newest schema version this tapdesk knows (both
// databases' migrations carry the same numbers).
func knownSchema(t *testing.T) int {
	t.Helper()
	names, err := fs.Glob(migrations.Postgres, "*.sql")
	if err != nil || len(names) == 0 {
		t.Fatalf("no PostgreSQL migrations: %v", err)
	}
	slices.Sort(names)
	n, err := strconv.Atoi(strings.SplitN(names[len(names)-1], "_", 2)[0])
	if err != nil {
		t.Fatal(err)
	}
	return n
}
