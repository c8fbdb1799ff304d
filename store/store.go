// Package store keeps tapdesk's data in SQL: requests, approvals, approval
// links, the mail outbox, audit events and sessions. SQLite (modernc, no cgo)
// is the embedded default; PostgreSQL (pgx) serves several instances at
// once. The queries are shared; what differs sits in dialect.go.
//
// Public methods open the transaction; private (ctx, tx, ...) functions do
// the work, so a state change, its audit event and its mail commit together.
package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"
	_ "modernc.org/sqlite" // registers the "sqlite" driver

	"github.com/tapdesk/tapdesk"
)

// MaxWALBytes is the size the write-ahead log is cut back to when a
// checkpoint resets it (journal_size_limit), and the most it should hold
// between checkpoints under load.
const MaxWALBytes = 64 << 20

// busyTimeout is how long a statement waits for a lock another connection
// holds (the one writer) before it fails.
const busyTimeout = 10 * time.Second

// IdleConns is how many connections the pool keeps open between queries:
// enough for the page views one instance serves at once (SQLite reads in
// WAL mode run in parallel), each holding its own page cache.
const IdleConns = 16

// DB is tapdesk's database.
type DB struct {
	db      *sql.DB
	dialect *dialect
	path    string // a file path, or a PostgreSQL URL without its password
	url     string // the PostgreSQL URL as given, for connections of its own
	Now     tapdesk.Clock

	// writeTurn lets this process's writers take turns on SQLite (see
	// lockWrites); nil (PostgreSQL, OpenExisting) leaves the waiting to
	// the database.
	writeTurn chan struct{}
	// txTurn lets this process's write transactions take turns before
	// they begin on PostgreSQL, where each then waits on the advisory
	// write lock (see inTx); nil on SQLite, where writeTurn covers them.
	txTurn chan struct{}

	keys *auditKeys // nil until SetAuditKey

	tightened []FileTightened // files Open restricted to their owner

	// seenHead is the newest audit event this process has seen committed.
	// The trail only grows (a prune keeps its checkpoint as the head), so a
	// head below it means events were cut off the end, which leaves no gap
	// for a walk to see.
	seenHead atomic.Int64

	// AuditCommitted, when set, hears how many audit events of each
	// category a transaction committed (the metrics count them); events a
	// rollback took back are not reported.
	AuditCommitted func(category tapdesk.Category, n int)

	// txs holds what each write transaction in progress noted (*sql.Tx ->
	// *txNotes), acted on once it commits.
	txs sync.Map

	// statements holds the prepared statements of the hot read paths, by
	// their SQL (a fixed, small set: the SQL comes from code, values are
	// arguments). SQLite's parser costs a page view about as much as
	// running its query does.
	statements sync.Map // string -> *sql.Stmt

	changes changeCount // committed writes, for caches (changes.go)

	threat threatCache // heightened-threat mode as last read (threat.go)
	// writes counts the turns to write taken on SQLite, and
	// stopCheckpointer stops the background checkpointer (checkpoint.go)
	// that copies what they wrote back into the database file.
	writes           atomic.Uint64
	stopCheckpointer func()
	// checkpointing is held by the checkpoint being run (checkpoint.go):
	// SQLite runs one at a time and fails another at once.
	checkpointing sync.Mutex
}

// prepared returns the statement for query, prepared once for the pool
// (database/sql prepares it again on each connection as it is used there).
func (db *DB) prepared(ctx context.Context, query string) (*sql.Stmt, error) {
	if st, ok := db.statements.Load(query); ok {
		return st.(*sql.Stmt), nil
	}
	st, err := db.db.PrepareContext(ctx, query)
	if err != nil {
		return nil, err
	}
	if prev, loaded := db.statements.LoadOrStore(query, st); loaded {
		st.Close()
		return prev.(*sql.Stmt), nil
	}
	return st, nil
}

// statement is prepared(query) bound to tx (nil: the statement itself).
// The transaction's connection prepares it once and keeps it, so a write
// transaction does not parse its SQL again while it holds the write lock.
func (db *DB) statement(ctx context.Context, tx *sql.Tx, query string) (*sql.Stmt, error) {
	st, err := db.prepared(ctx, query)
	if err != nil || tx == nil {
		return st, err
	}
	return tx.StmtContext(ctx, st), nil
}

// execIn runs query in tx as a statement prepared once (statement): the
// write paths of a page run under the one write lock, and SQLite's parser
// costs about as much as running their small statements.
func (db *DB) execIn(ctx context.Context, tx *sql.Tx, query string, args ...any) (sql.Result, error) {
	st, err := db.statement(ctx, tx, query)
	if err != nil {
		return nil, err
	}
	return st.ExecContext(ctx, args...)
}

// countIn is execIn for a query that counts rows.
func (db *DB) countIn(ctx context.Context, tx *sql.Tx, query string, args ...any) (int, error) {
	st, err := db.statement(ctx, tx, query)
	if err != nil {
		return 0, err
	}
	var n int
	err = st.QueryRowContext(ctx, args...).Scan(&n)
	return n, err
}

// sawHead notes a committed audit head.
func (db *DB) sawHead(seq int64) {
	for {
		cur := db.seenHead.Load()
		if seq <= cur || db.seenHead.CompareAndSwap(cur, seq) {
			return
		}
	}
}

// SetAuditKey sets the secret that keys the audit trail's hash chain, and
// the older keys it was keyed with before a rotation: new events are signed
// with key, and each event is verified with the key it names. Keys are never
// stored; without them no event can be written or verified.
func (db *DB) SetAuditKey(key string, old ...string) error {
	for _, k := range append([]string{key}, old...) {
		if len(k) < MinAuditKeyLength {
			return fmt.Errorf("the audit key must be at least %d characters", MinAuditKeyLength)
		}
	}
	db.keys = newAuditKeys(key, old)
	return nil
}

// Open opens the database at dsn, a SQLite file path (created if needed)
// or a postgres:// URL, and applies the embedded migrations. It refuses a
// database written by a newer tapdesk. SQLite's files are made owner-only
// (see restrictFiles).
func Open(ctx context.Context, path string) (*DB, error) {
	if p := dsnProblem(path); p != "" {
		return nil, errors.New(p)
	}
	if IsPostgresURL(path) {
		return openPostgresDB(ctx, path, true)
	}
	// Pragmas go in the DSN so every pooled connection gets them.
	// _txlock=immediate takes the write lock at BEGIN, so concurrent writers
	// queue on busy_timeout instead of failing on lock upgrade.
	if p := sqliteFolderProblem(path); p != "" {
		return nil, errors.New(p)
	}
	tightened, err := restrictFiles(path)
	if err != nil {
		return nil, err
	}
	unlock, err := lockForMigration(ctx, path)
	if err != nil {
		return nil, fmt.Errorf("open database %s: %w", path, pathReason(err))
	}
	defer unlock()
	if err := createFile(ctx, path); err != nil {
		return nil, err
	}
	// SQLite's own checkpoints run inside the commit that fills the log
	// past 1000 pages, holding up that writer and every one queued behind
	// it: this process's checkpointer does them instead (checkpoint.go).
	// SQLite's stay as a backstop far above that (walBackstopPages), so a
	// write the checkpointer is not told of still cannot grow the log
	// without bound.
	sqldb, err := sql.Open("sqlite", dsn(path)+fmt.Sprintf("&_pragma=wal_autocheckpoint(%d)", walBackstopPages))
	if err != nil {
		return nil, fmt.Errorf("open database %s: %w", path, err)
	}
	// database/sql keeps 2 idle connections by default: under concurrent
	// page views the rest were closed after each query and opened again
	// for the next, each opening running the pragmas, parsing the schema
	// and starting with a cold page cache (a sixth of a page view's time
	// under load). Open connections are not capped: a transaction may
	// query outside itself, and a cap could leave it waiting on itself.
	sqldb.SetMaxIdleConns(IdleConns)
	db := &DB{db: sqldb, dialect: sqliteDialect, path: path, Now: time.Now, tightened: tightened, writeTurn: make(chan struct{}, 1)}
	db.changes.sole = true // one instance per SQLite file: its writes all pass here
	db.startCheckpointer()
	if err := db.migrate(ctx); err != nil {
		db.stopCheckpointer()
		sqldb.Close()
		return nil, err
	}
	return db, nil
}

// OpenExisting opens the database at path as it is: no migrations, no
// change to its files. It is for tools that must not alter a database a
// running tapdesk holds, such as a backup taken with a newer binary
// before an upgrade.
func OpenExisting(ctx context.Context, path string) (*DB, error) {
	if p := dsnProblem(path); p != "" {
		return nil, errors.New(p)
	}
	if IsPostgresURL(path) {
		return openPostgresDB(ctx, path, false)
	}
	if _, err := os.Stat(path); err != nil {
		return nil, fmt.Errorf("no database at %s: %w", path, pathReason(err))
	}
	sqldb, err := sql.Open("sqlite", dsn(path))
	if err != nil {
		return nil, fmt.Errorf("open database %s: %w", path, err)
	}
	if err := sqldb.PingContext(ctx); err != nil {
		sqldb.Close()
		return nil, fmt.Errorf("open database %s: %w", path, err)
	}
	return &DB{db: sqldb, dialect: sqliteDialect, path: path, Now: time.Now}, nil
}

// openPostgresDB opens the PostgreSQL database at url and, when migrate is
// set, applies the migrations.
func openPostgresDB(ctx context.Context, url string, migrate bool) (*DB, error) {
	sqldb, err := openPostgres(url)
	if err != nil {
		return nil, err
	}
	sqldb.SetMaxIdleConns(IdleConns)
	db := &DB{db: sqldb, dialect: postgresDialect, path: DisplayDSN(url), url: url, Now: time.Now, txTurn: make(chan struct{}, 1)}
	if err := sqldb.PingContext(ctx); err != nil {
		sqldb.Close()
		return nil, postgresOpenError(db.path, err)
	}
	if migrate {
		if err := db.migrate(ctx); err != nil {
			sqldb.Close()
			return nil, err
		}
	}
	return db, nil
}

// Backend names the database kind, as people read it: SQLite or PostgreSQL.
func (db *DB) Backend() string { return db.dialect.name }

func dsn(path string) string {
	q := url.Values{}
	q.Add("_pragma", "foreign_keys(1)")
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", fmt.Sprintf("busy_timeout(%d)", busyTimeout.Milliseconds()))
	q.Add("_pragma", "synchronous(NORMAL)")
	// A checkpoint that resets the write-ahead log cuts its file back to
	// this size, so one burst of writes does not leave it large for good.
	q.Add("_pragma", fmt.Sprintf("journal_size_limit(%d)", MaxWALBytes))
	q.Set("_txlock", "immediate")
	return "file:" + path + "?" + q.Encode()
}

// createFile gives a new database 16 KiB pages. The audit trail is read in
// long sequential scans where each page read is a system call, so bigger
// pages make verify and export markedly faster. The page size must be set
// before WAL mode is, and the driver sorts DSN pragmas alphabetically
// (journal_mode first), hence this separate first connection. An existing
// database keeps its page size.
func createFile(ctx context.Context, path string) error {
	if fi, err := os.Stat(path); err == nil && fi.Size() > 0 {
		return nil
	}
	db, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		return fmt.Errorf("create database %s: %w", path, err)
	}
	defer db.Close()
	for _, p := range []string{"PRAGMA page_size = 16384", "PRAGMA journal_mode = WAL"} {
		if _, err := db.ExecContext(ctx, p); err != nil {
			return fmt.Errorf("create database %s: %w", path, err)
		}
	}
	return nil
}

// Close closes the database.
func (db *DB) Close() error {
	if db.stopCheckpointer != nil {
		db.stopCheckpointer()
	}
	db.statements.Range(func(_, st any) bool {
		st.(*sql.Stmt).Close()
		return true
	})
	return db.db.Close()
}

// SQL is the underlying handle, for the session store.
func (db *DB) SQL() *sql.DB { return db.db }

// Ping checks the database answers (readiness).
func (db *DB) Ping(ctx context.Context) error { return db.db.PingContext(ctx) }

func (db *DB) provider() (*goose.Provider, error) {
	return db.providerOf(db.dialect.migrations)
}

// providerOf applies the migrations in fsys. On PostgreSQL it holds a
// session advisory lock while it does, so instances starting together
// take turns: the first migrates, the others find nothing left to do. On
// SQLite, Open holds a lock on the file for the same (lockForMigration).
func (db *DB) providerOf(fsys fs.FS) (*goose.Provider, error) {
	var opts []goose.ProviderOption
	if db.dialect == postgresDialect {
		locker, err := lock.NewPostgresSessionLocker()
		if err != nil {
			return nil, err
		}
		opts = append(opts, goose.WithSessionLocker(locker))
	}
	return goose.NewProvider(db.dialect.goose, db.db, fsys, opts...)
}

func (db *DB) migrate(ctx context.Context) error {
	return db.migrateWith(ctx, db.dialect.migrations)
}

// migrateWith applies the migrations in fsys; tests pass an older set to
// act as an older tapdesk.
func (db *DB) migrateWith(ctx context.Context, fsys fs.FS) error {
	p, err := db.providerOf(fsys)
	if err != nil {
		return fmt.Errorf("load migrations: %w", err)
	}
	current, target, err := p.GetVersions(ctx)
	if err != nil {
		return fmt.Errorf("read schema version: %w", err)
	}
	if current > target {
		return fmt.Errorf("the database schema is version %d but this tapdesk knows only up to %d: it was written by a newer tapdesk; run that version or restore a backup", current, target)
	}
	if _, err := p.Up(ctx); err != nil {
		return fmt.Errorf("apply migrations: %w", err)
	}
	return nil
}

// SchemaVersion returns the applied and the newest known schema versions.
func (db *DB) SchemaVersion(ctx context.Context) (current, known int64, err error) {
	p, err := db.provider()
	if err != nil {
		return 0, 0, err
	}
	return p.GetVersions(ctx)
}

// inTx runs fn in one transaction, committing if it returns nil.
//
// On PostgreSQL every write transaction takes the advisory write lock, so
// only one of all instances' runs at a time anyway. The transactions of
// this process queue in order here first: otherwise each waiting one held
// a pooled connection (50 at a time under load, beyond the pool's idle
// ones, so connections were opened and closed, each a new server
// process) and the database woke them in turn. Now at most one per
// instance waits on the lock.
func (db *DB) inTx(ctx context.Context, fn func(tx *sql.Tx) error) error {
	return db.writeTx(ctx, false, fn)
}

// inQuietTx is inTx for a transaction that writes nothing the caches hold:
// no request, approval or session; only the outbox, links, cursors and
// audit events. Every other write advances the change count (and on
// PostgreSQL tells the other instances), so a new kind of write is safe by
// default. The mail worker writes every few seconds, and would otherwise
// empty every cache each time.
func (db *DB) inQuietTx(ctx context.Context, fn func(tx *sql.Tx) error) error {
	return db.writeTx(ctx, true, fn)
}

func (db *DB) writeTx(ctx context.Context, quiet bool, fn func(tx *sql.Tx) error) error {
	if err := db.lockWrites(ctx); err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	defer db.unlockWrites()
	if db.txTurn != nil {
		select {
		case db.txTurn <- struct{}{}:
			defer func() { <-db.txTurn }()
		case <-ctx.Done():
			return fmt.Errorf("begin: %w", ctx.Err())
		}
	}
	tx, err := db.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	defer tx.Rollback()
	notes := &txNotes{}
	db.txs.Store(tx, notes)
	defer db.txs.Delete(tx)
	defer func() {
		if notes.app != nil {
			notes.app.close()
		}
	}()
	// The other instances are told in the statement that takes the lock:
	// the notice goes out only if this transaction commits.
	if lock := db.dialect.writeLock; lock != "" {
		if !quiet {
			lock = db.dialect.writeLockNotify
		}
		if _, err := tx.ExecContext(ctx, lock); err != nil {
			return fmt.Errorf("begin: take the write lock: %w", err)
		}
	}
	if err := fn(tx); err != nil {
		return err
	}
	err = tx.Commit()
	if !quiet {
		db.changed() // caches read again (changes.go); also after a failure: it may have landed
	}
	if err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	for _, r := range notes.signed {
		db.keys.verified.note(r)
	}
	if n := len(notes.signed); n > 0 {
		// The newest event it appended; the next transaction's appender
		// guesses the trail ends there (guessedHead).
		db.sawHead(notes.signed[n-1].seq)
	}
	for c, n := range notes.appended {
		db.AuditCommitted(c, n)
	}
	return nil
}

// txNotes is what a write transaction noted while it ran. One transaction
// runs on one goroutine, so its notes need no lock.
type txNotes struct {
	appended map[tapdesk.Category]int // events by category, while AuditCommitted is set
	app      *appender                // its audit appender, from its first event on
	signed   []verifiedRow            // its newest events, remembered once it commits
}

// sign notes an event the transaction appended; a batch keeps its newest
// verifiedCap, all that verifiedRows holds.
func (n *txNotes) sign(r verifiedRow) {
	if len(n.signed) == 2*verifiedCap {
		n.signed = append(n.signed[:0], n.signed[verifiedCap:]...)
	}
	n.signed = append(n.signed, r)
}

// notesOf returns tx's notes, or a throwaway set for a transaction inTx
// did not begin.
func (db *DB) notesOf(tx *sql.Tx) *txNotes {
	if n, ok := db.txs.Load(tx); ok {
		return n.(*txNotes)
	}
	return &txNotes{}
}

// timeFormat is fixed-width so that string order is time order.
const timeFormat = "2006-01-02T15:04:05.000000Z"

func ts(t time.Time) string { return t.UTC().Format(timeFormat) }

func tsPtr(t *time.Time) any {
	if t == nil || t.IsZero() {
		return nil
	}
	return ts(*t)
}

func parseTS(s string) (time.Time, error) {
	t, err := time.Parse(timeFormat, s)
	if err != nil {
		// Accept any RFC 3339 form written by hand or by another tool.
		t, err = time.Parse(time.RFC3339Nano, s)
	}
	return t.UTC(), err
}

// nullTime scans an optional timestamp column.
type nullTime struct{ t *time.Time }

func (n *nullTime) Scan(v any) error {
	switch v := v.(type) {
	case nil:
		n.t = nil
		return nil
	case string:
		t, err := parseTS(v)
		n.t = &t
		return err
	case []byte:
		t, err := parseTS(string(v))
		n.t = &t
		return err
	case time.Time:
		t := v.UTC()
		n.t = &t
		return nil
	}
	return fmt.Errorf("timestamp: unexpected %T", v)
}

// timeCol scans a required timestamp column.
type timeCol struct{ t *time.Time }

func (c timeCol) Scan(v any) error {
	var n nullTime
	if err := n.Scan(v); err != nil {
		return err
	}
	if n.t == nil {
		return errors.New("timestamp: unexpected NULL")
	}
	*c.t = *n.t
	return nil
}

// conflict is the error when a conditional update found the row changed;
// title names the situation for the error page.
func conflict(title, format string, args ...any) error {
	return tapdesk.Titledf(tapdesk.ECONFLICT, title, format, args...)
}

// lockWrites waits for this process's turn to write on SQLite. SQLite lets
// one writer in at a time and makes the others poll: its busy handler
// sleeps 1, 2, 5 … up to 100 ms between tries, so under a burst a writer
// sleeps past the moment the lock frees, a newcomer may take it first, and
// an unlucky one ran past busy_timeout (10 s) into a 500. Queued here, the
// writers of one process go in order, each as soon as the previous one
// commits; SQLite's polling is left to writers of other processes
// (tapdesk CLI commands on the same file). PostgreSQL queues waiters on
// its advisory lock itself.
func (db *DB) lockWrites(ctx context.Context) error {
	countWriteTurn(ctx)
	if db.writeTurn == nil {
		return nil
	}
	select {
	case db.writeTurn <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (db *DB) unlockWrites() {
	if db.writeTurn != nil {
		db.writes.Add(1)
		<-db.writeTurn
	}
}
