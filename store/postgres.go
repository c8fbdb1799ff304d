package store

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
)

// IsPostgresURL reports whether dsn names a PostgreSQL database rather
// than a SQLite file.
func IsPostgresURL(dsn string) bool {
	return strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://")
}

// defaultConnectTimeout bounds each connection attempt when the URL sets
// no connect_timeout.
const defaultConnectTimeout = 15 * time.Second

// openPostgres opens a pool on the PostgreSQL database at url through pgx's
// database/sql driver, behind a connector that rebinds the store's ?
// placeholders to PostgreSQL's $1, $2, ... (the one place the two SQL
// texts differ in form).
func openPostgres(url string) (*sql.DB, error) {
	cfg, err := pgx.ParseConfig(url)
	if err != nil {
		// pgx's parse errors leave the password out.
		return nil, fmt.Errorf("the PostgreSQL URL does not parse: %w", err)
	}
	// Without a connect_timeout in the URL, pgx waits on a host that drops
	// packets for as long as the kernel does: minutes of a start that says
	// nothing.
	if cfg.ConnectTimeout == 0 {
		cfg.ConnectTimeout = defaultConnectTimeout
	}
	// A write transaction holds the lock all instances' writes take turns
	// on: one stalled inside it (a frozen VM, a partitioned node) must not
	// stop every instance's writes until TCP gives up on it, hours later.
	// The server ends a session idle in a transaction, and a writer gives
	// up waiting for the lock, after these (unless the URL sets them).
	for k, v := range map[string]string{"idle_in_transaction_session_timeout": "60s", "lock_timeout": "30s"} {
		if _, set := cfg.RuntimeParams[k]; !set {
			cfg.RuntimeParams[k] = v
		}
	}
	return sql.OpenDB(rebindConnector{stdlib.GetConnector(*cfg), &rebound{}}), nil
}

type rebindConnector struct {
	driver.Connector
	rebound *rebound
}

func (c rebindConnector) Connect(ctx context.Context) (driver.Conn, error) {
	conn, err := c.Connector.Connect(ctx)
	if err != nil {
		return nil, err
	}
	return rebindConn{conn.(*stdlib.Conn), c.rebound}, nil
}

// rebindConn is pgx's connection with each query's placeholders rebound.
type rebindConn struct {
	*stdlib.Conn
	rebound *rebound
}

// rebound caches rebind's answers: the store's SQL is a small fixed set
// (values are always arguments), so this stays small.
type rebound struct{ sync.Map } // string -> string

func (r *rebound) of(query string) string {
	if !strings.Contains(query, "?") {
		return query
	}
	if q, ok := r.Load(query); ok {
		return q.(string)
	}
	q := rebind(query)
	r.Store(query, q)
	return q
}

func (c rebindConn) Prepare(query string) (driver.Stmt, error) {
	return c.Conn.Prepare(c.rebound.of(query))
}

func (c rebindConn) PrepareContext(ctx context.Context, query string) (driver.Stmt, error) {
	return c.Conn.PrepareContext(ctx, c.rebound.of(query))
}

func (c rebindConn) ExecContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Result, error) {
	return c.Conn.ExecContext(ctx, c.rebound.of(query), args)
}

func (c rebindConn) QueryContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Rows, error) {
	return c.Conn.QueryContext(ctx, c.rebound.of(query), args)
}

// rebind turns each ? outside string literals (also E” with backslash
// escapes and $tag$ bodies), quoted identifiers and comments into $1, $2,
// ... in order. PostgreSQL's jsonb operators ?, ?| and ?& cannot be told
// from a placeholder: the store's SQL uses jsonb_exists and its kin
// instead.
func rebind(query string) string {
	var b strings.Builder
	b.Grow(len(query) + 16)
	n := 0
	for i := 0; i < len(query); {
		if j := skipLiteral(query, i); j > i {
			b.WriteString(query[i:j])
			i = j
			continue
		}
		if query[i] == '?' {
			n++
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(n))
		} else {
			b.WriteByte(query[i])
		}
		i++
	}
	return b.String()
}

// skipLiteral returns the end of the literal, quoted identifier or comment
// that starts at i, or i when none does. An unterminated one runs to the
// end of the query.
func skipLiteral(q string, i int) int {
	end := func(j int) int {
		if j < 0 {
			return len(q)
		}
		return j
	}
	switch c := q[i]; {
	case c == '\'':
		escapes := i > 0 && (q[i-1] == 'E' || q[i-1] == 'e') && (i == 1 || !isIdentByte(q[i-2]))
		for j := i + 1; j < len(q); j++ {
			switch {
			case escapes && q[j] == '\\':
				j++
			case q[j] == '\'' && j+1 < len(q) && q[j+1] == '\'':
				j++
			case q[j] == '\'':
				return j + 1
			}
		}
		return len(q)
	case c == '"':
		if j := strings.IndexByte(q[i+1:], '"'); j >= 0 {
			return i + 1 + j + 1
		}
		return len(q)
	case c == '-' && strings.HasPrefix(q[i:], "--"):
		return end(strings.IndexByte(q[i:], '\n') + i)
	case c == '/' && strings.HasPrefix(q[i:], "/*"):
		depth := 0
		for j := i; j < len(q)-1; j++ {
			switch q[j : j+2] {
			case "/*":
				depth++
				j++
			case "*/":
				depth--
				j++
				if depth == 0 {
					return j + 1
				}
			}
		}
		return len(q)
	case c == '$' && (i == 0 || !isIdentByte(q[i-1])):
		// $tag$ ... $tag$ (a tag does not start with a digit: $1 is a
		// parameter).
		j := i + 1
		for j < len(q) && isIdentByte(q[j]) && !(j == i+1 && q[j] >= '0' && q[j] <= '9') {
			j++
		}
		if j < len(q) && q[j] == '$' {
			tag := q[i : j+1]
			if k := strings.Index(q[j+1:], tag); k >= 0 {
				return j + 1 + k + len(tag)
			}
			return len(q)
		}
	}
	return i
}

func isIdentByte(c byte) bool {
	return c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c >= 0x80
}
