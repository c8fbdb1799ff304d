package store

import (
	"context"
	"fmt"
	"io/fs"
	"strings"
	"time"

	"github.com/pressly/goose/v3"

	"github.com/tapdesk/tapdesk/migrations"
)

// dialect is everything that differs between the two databases tapdesk
// runs on. The queries themselves are shared: they are written with ?
// placeholders (the PostgreSQL connector rebinds them, see postgres.go),
// TEXT timestamps and standard SQL.
type dialect struct {
	name       string // "SQLite" or "PostgreSQL", as people read it
	goose      goose.Dialect
	migrations fs.FS

	// writeLock runs first in every write transaction. SQLite has one
	// writer per database and takes it at BEGIN (_txlock=immediate), so it
	// needs nothing. On PostgreSQL, several instances write at once: a
	// transaction-scoped advisory lock makes their write transactions take
	// turns, as SQLite's do. That is what keeps the audit chain whole
	// (each transaction's first append reads the head, or checks the one it
	// guessed, and writes head+1 inside the caller's transaction, so the
	// state change and its event commit together) and
	// what keeps a transaction's reads (has this approver approved? how
	// many approvals are there?) true until it commits.
	writeLock string

	// notifyChange tells the other instances that a write transaction
	// changed what caches hold (see ListenForChanges; PostgreSQL delivers
	// it on commit and drops it on rollback, wherever in the transaction
	// it ran). Empty on SQLite: one instance, whose own writes advance its
	// change count.
	notifyChange string

	// writeLockNotify is writeLock and notifyChange in one statement: the
	// first of a write transaction that is not quiet, one round trip
	// rather than two.
	writeLockNotify string

	// guessHead: an append chains onto the event this process committed
	// last and checks, as it inserts, that the trail still ends there (see
	// appender), rather than read the head first. On PostgreSQL that read
	// is a round trip while the write lock is held; SQLite reads it
	// in-process for less than the guarded insert costs it.
	guessHead bool

	// snapshot begins a read-only transaction on a dedicated connection
	// that sees one consistent state for all its statements, without
	// blocking writers: verify, export and the evidence replay read in it.
	snapshot string

	// skipLocked ends the subquery that picks mail to claim: on
	// PostgreSQL, rows another instance's claim has locked are passed over
	// rather than waited for. SQLite has one writer and no row locks.
	skipLocked string

	// The session store's statements (see SessionRows).
	sessionFind, sessionFindExpiry, sessionCommit, sessionDelete, sessionDeleteExpired string
	sessionExpiry                                                                      func(time.Time) any

	// recordField is the SQL for field i of an audit record (a JSON array
	// kept as the exact signed text).
	recordField func(i int) string

	// auditTable returns the definition of the audit_events table as the
	// database reports it, for verify to compare with auditTableSQL.
	auditTable     func(ctx context.Context, q querier) ([]tableObject, error)
	auditTableWant string
	// auditTableSource names the migrations that define it, for the
	// sentence verify prints when the definition differs.
	auditTableSource string
}

// tableObject is one thing a database says defines or hooks a table.
type tableObject struct{ kind, name, definition string }

// notifyChange is the statement that notifies the other instances.
const notifyChange = "SELECT pg_notify('" + changesChannel + "', '')"

// writeLockKey is the advisory lock all of tapdesk's write transactions
// take on PostgreSQL ("tapdesk" in ASCII, so another application sharing
// the database is unlikely to pick it by chance).
const writeLockKey = 0x74617064657368

var sqliteDialect = &dialect{
	name:       "SQLite",
	goose:      goose.DialectSQLite3,
	migrations: migrations.SQLite,
	snapshot:   "BEGIN", // deferred: a read snapshot, no write lock
	// scs's sqlite3store layout: expiry is a julian day number.
	sessionFind:          `SELECT data FROM sessions WHERE token = ? AND julianday('now') < expiry`,
	sessionFindExpiry:    `SELECT data, expiry FROM sessions WHERE token = ? AND julianday('now') < expiry`,
	sessionCommit:        `REPLACE INTO sessions (token, data, expiry) VALUES (?, ?, julianday(?))`,
	sessionDelete:        `DELETE FROM sessions WHERE token = ?`,
	sessionDeleteExpired: `DELETE FROM sessions WHERE expiry < julianday('now')`,
	sessionExpiry:        func(t time.Time) any { return t.UTC().Format("2006-01-02T15:04:05.999") },
	recordField:          func(i int) string { return fmt.Sprintf("record ->> %d", i) },
	auditTable:           sqliteAuditTable,
	auditTableWant:       sqliteAuditTableSQL,
	auditTableSource:     "sqlite/00003_audit_record.sql, 00007_audit_key_id.sql and 00010_audit_http_request_id.sql",
}

var postgresDialect = &dialect{
	name:              "PostgreSQL",
	goose:             goose.DialectPostgres,
	migrations:        migrations.Postgres,
	writeLock:         fmt.Sprintf("SELECT pg_advisory_xact_lock(%d)", writeLockKey),
	notifyChange:      notifyChange,
	writeLockNotify:   fmt.Sprintf("SELECT pg_advisory_xact_lock(%d), pg_notify('%s', '')", writeLockKey, changesChannel),
	guessHead:         true,
	snapshot:          "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY",
	skipLocked:        "FOR UPDATE SKIP LOCKED",
	sessionFind:       `SELECT data FROM sessions WHERE token = ? AND expiry > now()`,
	sessionFindExpiry: `SELECT data, expiry FROM sessions WHERE token = ? AND expiry > now()`,
	// Session writes happen outside write transactions; each also tells
	// the other instances, whose session caches must not keep a row that
	// was signed out here.
	sessionCommit: `WITH w AS (INSERT INTO sessions (token, data, expiry) VALUES (?, ?, ?)
		ON CONFLICT (token) DO UPDATE SET data = excluded.data, expiry = excluded.expiry RETURNING 1) ` + notifyChange,
	sessionDelete:        `WITH w AS (DELETE FROM sessions WHERE token = ? RETURNING 1) ` + notifyChange,
	sessionDeleteExpired: `WITH w AS (DELETE FROM sessions WHERE expiry < now() RETURNING 1) ` + notifyChange,
	sessionExpiry:        func(t time.Time) any { return t.UTC() },
	recordField:          func(i int) string { return fmt.Sprintf("record::jsonb ->> %d", i) },
	auditTable:           postgresAuditTable,
	auditTableWant:       postgresAuditTableSQL,
	auditTableSource:     "postgres/00010_baseline.sql",
}

// sqliteAuditTable reads the audit table's entry, and any trigger or view
// on it, from SQLite's schema table.
func sqliteAuditTable(ctx context.Context, q querier) ([]tableObject, error) {
	return queryAll(ctx, q, func(s rowScanner) (tableObject, error) {
		var o tableObject
		err := s.Scan(&o.kind, &o.name, &o.definition)
		o.definition = strings.Join(strings.Fields(o.definition), " ")
		return o, err
	}, `SELECT type, name, COALESCE(sql, '') FROM sqlite_schema
		WHERE tbl_name = 'audit_events' AND type IN ('table', 'trigger', 'view')`)
}

// postgresAuditTable describes audit_events as PostgreSQL's catalog has it:
// the relation the store's queries resolve (a view or a table in another
// schema earlier in search_path would be what they read), its columns with
// their types, defaults and generation expressions, and anything that
// could change what a query of it returns or what a write leaves: triggers,
// rules and row-level security.
func postgresAuditTable(ctx context.Context, q querier) ([]tableObject, error) {
	var out []tableObject
	var kind, persistence, columns string
	var rowSecurity, partition, inherits bool
	err := q.QueryRowContext(ctx, `
		SELECT c.relkind::text, c.relrowsecurity, c.relpersistence::text, c.relispartition,
			EXISTS (SELECT 1 FROM pg_inherits i WHERE i.inhparent = c.oid OR i.inhrelid = c.oid),
			(SELECT string_agg(a.attname || ' ' || format_type(a.atttypid, a.atttypmod)
				|| CASE WHEN a.attnotnull THEN ' NOT NULL' ELSE '' END
				|| CASE a.attgenerated WHEN 's' THEN ' GENERATED ' ELSE '' END
				|| COALESCE(' ' || pg_get_expr(d.adbin, d.adrelid), ''), ', ' ORDER BY a.attnum)
			 FROM pg_attribute a LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
			 WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped)
		FROM pg_class c WHERE c.oid = to_regclass('audit_events')`).Scan(&kind, &rowSecurity, &persistence, &partition, &inherits, &columns)
	if err != nil {
		return nil, err
	}
	name := "audit_events"
	if kind != "r" {
		return []tableObject{{kind: "relation of kind " + kind, name: name}}, nil
	}
	out = append(out, tableObject{kind: "table", name: name, definition: columns})
	if rowSecurity {
		out = append(out, tableObject{kind: "row-level security", name: name})
	}
	// An unlogged table is emptied by crash recovery and not replicated:
	// one crash or failover would wipe the trail.
	if persistence != "p" {
		out = append(out, tableObject{kind: "unlogged or temporary table", name: name})
	}
	// A child table's rows show in every query of audit_events.
	if partition || inherits {
		out = append(out, tableObject{kind: "table with inheritance", name: name})
	}
	more, err := queryAll(ctx, q, func(s rowScanner) (tableObject, error) {
		var o tableObject
		err := s.Scan(&o.kind, &o.name)
		return o, err
	}, `
		SELECT 'trigger', tgname FROM pg_trigger WHERE tgrelid = to_regclass('audit_events') AND NOT tgisinternal
		UNION ALL SELECT 'rule', rulename FROM pg_rewrite WHERE ev_class = to_regclass('audit_events')
		UNION ALL SELECT 'policy', polname FROM pg_policy WHERE polrelid = to_regclass('audit_events')`)
	return append(out, more...), err
}
