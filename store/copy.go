package store

import (
	"context"
	"database/sql"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tapdesk/tapdesk"
)

// copiedTables are the tables of tapdesk's schema, in the order a copy
// writes them: requests before the rows that refer to them. A table the
// source has and this list lacks (a later migration's) stops the copy, so
// nothing is left behind unnoticed.
var copiedTables = []string{
	"requests", "approvals", "approval_links", "dispute_links", "outbox", "audit_events", "sessions", "published_checkpoints",
	"outside_pass_cursor", "directory_audits_examined", "outside_passes",
	"alerts", "alert_mail", "alert_cursor",
	// Where each SIEM sink has got to: without it, the copy would stream
	// the whole trail again from seq 1.
	"siem_cursors",
}

// uncopiedTables are tables of the schema a copy leaves behind on purpose:
// rate_limits holds only the pace of the last few minutes' limited actions
// (a SQLite installation keeps those in memory and never writes the table).
// threat_mode is one row the copy's migrations create; copyThreatMode
// carries the source's mode into it.
var uncopiedTables = []string{"rate_limits", "threat_mode"}

// CopyReport is what a copy wrote and found.
type CopyReport struct {
	From, To      string // the source file and the target (without its password)
	SchemaVersion int64
	Tables        []TableRows // in copy order
	// Chain is the copy's audit trail walked with the audit key inside the
	// copy's transaction, before it committed.
	Chain VerifyReport
}

// TableRows is how many rows a table holds in the source and the copy.
type TableRows struct {
	Table string
	Rows  int64
}

// Copy copies the SQLite database from into the PostgreSQL database to,
// which must hold no tapdesk data: it is migrated to the schema if blank,
// and a copy never merges. The source is read in one snapshot (a live
// tapdesk keeps serving on it and is not changed); the target is written
// in one transaction that also checks it (the row count of every table,
// and the audit chain walked with to's audit keys) before it commits, so
// the target ends up with a checked copy or with nothing. Sessions are
// copied too (their julian-day expiry becomes a timestamp), so people
// signed in stay signed in; sessions begun after the snapshot are not.
func Copy(ctx context.Context, from, to *DB) (CopyReport, error) {
	rep := CopyReport{From: from.path, To: to.path}
	if from.dialect != sqliteDialect {
		return rep, fmt.Errorf("the copy reads a SQLite database, and %s is %s", from.path, from.dialect.name)
	}
	if to.dialect != postgresDialect {
		return rep, fmt.Errorf("the copy writes into a PostgreSQL database, and %s is %s", to.path, to.dialect.name)
	}
	if to.keys == nil {
		return rep, fmt.Errorf("the copy's audit chain is checked before it commits: %w", ErrNoAuditKey)
	}

	src, err := from.db.Conn(ctx)
	if err != nil {
		return rep, fmt.Errorf("open %s: %w", from.path, err)
	}
	defer src.Close()
	// A plain BEGIN is deferred: one read snapshot, no write lock, so a
	// tapdesk serving on the file carries on.
	if _, err := src.ExecContext(ctx, sqliteDialect.snapshot); err != nil {
		return rep, fmt.Errorf("begin reading %s: %w", from.path, err)
	}
	defer src.ExecContext(context.WithoutCancel(ctx), "ROLLBACK")
	source, err := readCopySource(ctx, src, from.path)
	if err != nil {
		return rep, err
	}
	_, known, err := from.SchemaVersion(ctx)
	if err != nil {
		return rep, fmt.Errorf("read the schema version of %s: %w", from.path, err)
	}
	switch {
	case source.version < known:
		return rep, fmt.Errorf("%s is at schema version %d and this tapdesk's schema is version %d: bring it up to date first "+
			"(tapdesk migrate --db %s, with the tapdesk that serves it stopped), then copy it", from.path, source.version, known, from.path)
	case source.version > known:
		return rep, fmt.Errorf("%s is at schema version %d, written by a newer tapdesk (this one knows up to %d): copy it with that version",
			from.path, source.version, known)
	}
	rep.SchemaVersion = source.version

	if err := to.migrate(ctx); err != nil {
		return rep, err
	}
	if current, _, err := to.SchemaVersion(ctx); err != nil {
		return rep, fmt.Errorf("read the schema version of %s: %w", to.path, err)
	} else if current != source.version {
		return rep, fmt.Errorf("%s is at schema version %d and %s at %d: the copy needs both at the same version", to.path, current, from.path, source.version)
	}

	dst, err := to.db.Conn(ctx)
	if err != nil {
		return rep, fmt.Errorf("connect to %s: %w", to.path, err)
	}
	defer dst.Close()
	if _, err := dst.ExecContext(ctx, "BEGIN"); err != nil {
		return rep, fmt.Errorf("begin writing %s: %w", to.path, err)
	}
	committed := false
	defer func() {
		if !committed {
			dst.ExecContext(context.WithoutCancel(ctx), "ROLLBACK")
		}
	}()
	if err := to.copyInto(ctx, dst, src, source, &rep); err != nil {
		return rep, err
	}
	if rep.Chain.Break != nil {
		return rep, copyChainError(ctx, from, to, src, rep.Chain.Break)
	}
	if err := copyThreatMode(ctx, src, dst); err != nil {
		return rep, err
	}
	// Fresh statistics, committed with the rows, so the first queries on
	// the copy are planned for its real size rather than for empty tables.
	if _, err := dst.ExecContext(ctx, "ANALYZE "+quoteTables(copiedTables)); err != nil {
		return rep, fmt.Errorf("analyse the copied tables: %w; nothing was copied", err)
	}
	// A tapdesk already serving on the target hears of the rows, so its
	// caches do not keep showing the empty database.
	if _, err := dst.ExecContext(ctx, to.dialect.notifyChange); err != nil {
		return rep, fmt.Errorf("notify instances on %s: %w; nothing was copied", to.path, err)
	}
	if _, err := dst.ExecContext(ctx, "COMMIT"); err != nil {
		return rep, fmt.Errorf("commit the copy into %s: %w", to.path, err)
	}
	committed = true
	to.sawHead(rep.Chain.LastSeq)
	return rep, nil
}

// copySource is what the copy read of the source before copying.
type copySource struct {
	version int64
	columns map[string][]string // stored (not generated) columns by table
	rows    map[string]int64
}

// readCopySource reads the source's schema version, tables, columns and
// row counts in its snapshot, refusing a database that is not tapdesk's
// or holds a table the copy does not know.
func readCopySource(ctx context.Context, q querier, path string) (*copySource, error) {
	tables, err := queryStrings(ctx, q, `SELECT name FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite\_%' ESCAPE '\'`)
	if err != nil {
		return nil, fmt.Errorf("%s is not a SQLite database tapdesk can read: %w", path, err)
	}
	if !slices.Contains(tables, "goose_db_version") || !slices.Contains(tables, "audit_events") {
		return nil, fmt.Errorf("%s is not a tapdesk database: it has no tapdesk schema", path)
	}
	s := &copySource{columns: map[string][]string{}, rows: map[string]int64{}}
	if err := q.QueryRowContext(ctx, `SELECT COALESCE(MAX(version_id), 0) FROM goose_db_version`).Scan(&s.version); err != nil {
		return nil, fmt.Errorf("read the schema version of %s: %w", path, err)
	}
	for _, t := range tables {
		if t != "goose_db_version" && !slices.Contains(copiedTables, t) && !slices.Contains(uncopiedTables, t) {
			return nil, fmt.Errorf("%s holds a table %q that this copy does not know: copying without it would lose its rows, so nothing was copied. "+
				"Copy with the tapdesk whose migrations made it", path, t)
		}
	}
	for _, t := range copiedTables {
		if !slices.Contains(tables, t) {
			return nil, fmt.Errorf("%s has no %s table: it is not a tapdesk database at schema version %d", path, t, s.version)
		}
		// hidden 0 is a stored column; 2 and 3 are generated from others.
		cols, err := queryStrings(ctx, q, `SELECT name FROM pragma_table_xinfo(?) WHERE hidden = 0 ORDER BY cid`, t)
		if err != nil {
			return nil, fmt.Errorf("read the columns of %s in %s: %w", t, path, err)
		}
		s.columns[t] = cols
		var n int64
		if err := q.QueryRowContext(ctx, `SELECT COUNT(*) FROM `+quoteIdent(t)).Scan(&n); err != nil {
			return nil, fmt.Errorf("count the rows of %s in %s: %w", t, path, err)
		}
		s.rows[t] = n
	}
	return s, nil
}

// copyInto writes every table of source into dst, in dst's open
// transaction, then checks the result there: row counts, and the audit
// chain (rep.Chain).
func (db *DB) copyInto(ctx context.Context, dst *sql.Conn, src querier, source *copySource, rep *CopyReport) error {
	// The write lock makes a tapdesk already started on the target wait;
	// the table locks keep out anything else (sessions are written outside
	// write transactions) until the copy commits or rolls back.
	if _, err := dst.ExecContext(ctx, db.dialect.writeLock); err != nil {
		return fmt.Errorf("take the write lock on %s: %w", db.path, err)
	}
	if _, err := dst.ExecContext(ctx, "LOCK TABLE "+quoteTables(copiedTables)+" IN EXCLUSIVE MODE"); err != nil {
		return fmt.Errorf("lock the tables of %s: %w", db.path, err)
	}
	var holding []string
	for _, t := range copiedTables {
		var nonEmpty bool
		if err := dst.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM `+quoteIdent(t)+`)`).Scan(&nonEmpty); err != nil {
			return fmt.Errorf("check that %s is empty: %w", db.path, err)
		}
		if nonEmpty {
			holding = append(holding, t)
		}
	}
	if len(holding) > 0 {
		return fmt.Errorf("%s already holds tapdesk data (rows in %s): a copy goes into an empty database only and never merges; "+
			"create a new database for it (CREATE DATABASE … OWNER …)", db.path, strings.Join(holding, ", "))
	}

	for _, t := range copiedTables {
		types, err := targetColumns(ctx, dst, t)
		if err != nil {
			return fmt.Errorf("read the columns of %s in %s: %w", t, db.path, err)
		}
		cols := source.columns[t]
		if err := sameColumns(t, cols, types); err != nil {
			return err
		}
		n, err := copyTable(ctx, dst, src, t, cols, types)
		if err != nil {
			return fmt.Errorf("copy table %s: %w; nothing was copied", t, err)
		}
		if n != source.rows[t] {
			return fmt.Errorf("copy table %s: %d rows written, the source holds %d; nothing was copied", t, n, source.rows[t])
		}
		if err := setIdentities(ctx, dst, t); err != nil {
			return fmt.Errorf("copy table %s: %w", t, err)
		}
	}
	for _, t := range copiedTables {
		var n int64
		if err := dst.QueryRowContext(ctx, `SELECT COUNT(*) FROM `+quoteIdent(t)).Scan(&n); err != nil {
			return fmt.Errorf("count the copied rows of %s: %w", t, err)
		}
		if n != source.rows[t] {
			return fmt.Errorf("the copy's %s holds %d rows, the source %d; nothing was copied", t, n, source.rows[t])
		}
		rep.Tables = append(rep.Tables, TableRows{Table: t, Rows: n})
	}
	chain, err := db.verifyChain(ctx, dst, nil)
	if err != nil {
		return fmt.Errorf("verify the copy's audit trail: %w; nothing was copied", err)
	}
	rep.Chain = chain
	return nil
}

// copyChainError explains a copy whose chain broke: the source's own
// trail, walked in the same snapshot, says whether the fault came along
// from it or from the copy.
func copyChainError(ctx context.Context, from, to *DB, src querier, b *ChainBreak) error {
	source := &DB{db: from.db, dialect: from.dialect, path: from.path, Now: from.Now, keys: to.keys}
	srep, err := source.verifyChain(ctx, src, nil)
	switch {
	case err != nil:
		return fmt.Errorf("the copy's audit trail does not check out at event %d (%s): %s; nothing was copied (verifying the source failed too: %v)", b.Seq, b.Kind, b.Detail, err)
	case srep.Break != nil:
		return fmt.Errorf("the audit trail of %s does not check out at event %d (%s): %s. Nothing was copied: run tapdesk audit verify --db %s",
			from.path, srep.Break.Seq, srep.Break.Kind, srep.Break.Detail, from.path)
	}
	return fmt.Errorf("the copy's audit trail does not check out at event %d (%s) although the source's does: %s. Nothing was copied; this is a fault in tapdesk db copy",
		b.Seq, b.Kind, b.Detail)
}

// targetColumns maps the stored (not generated) columns of table in the
// target to their PostgreSQL types.
func targetColumns(ctx context.Context, q querier, table string) (map[string]string, error) {
	rows, err := q.QueryContext(ctx, `SELECT column_name, data_type FROM information_schema.columns
		WHERE table_schema = current_schema() AND table_name = ? AND is_generated = 'NEVER'`, table)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string]string{}
	for rows.Next() {
		var name, typ string
		if err := rows.Scan(&name, &typ); err != nil {
			return nil, err
		}
		out[name] = typ
	}
	return out, rows.Err()
}

// sameColumns refuses a table whose stored columns differ between source
// and target (a migration written for one database and not the other).
func sameColumns(table string, source []string, target map[string]string) error {
	var onlySource, onlyTarget []string
	for _, c := range source {
		if _, ok := target[c]; !ok {
			onlySource = append(onlySource, c)
		}
	}
	for c := range target {
		if !slices.Contains(source, c) {
			onlyTarget = append(onlyTarget, c)
		}
	}
	if len(onlySource)+len(onlyTarget) == 0 {
		return nil
	}
	slices.Sort(onlyTarget)
	return fmt.Errorf("the table %s differs between the two databases (only in SQLite: %s; only in PostgreSQL: %s): their schemas do not match, so nothing was copied",
		table, orNone(onlySource), orNone(onlyTarget))
}

func orNone(s []string) string {
	if len(s) == 0 {
		return "none"
	}
	return strings.Join(s, ", ")
}

// copyTable streams table's rows from the source into the target with
// PostgreSQL's COPY, a row at a time (the trail can be far larger than
// memory), and returns how many it wrote.
func copyTable(ctx context.Context, dst *sql.Conn, src querier, table string, cols []string, types map[string]string) (int64, error) {
	quoted := make([]string, len(cols))
	colTypes := make([]string, len(cols))
	for i, c := range cols {
		quoted[i], colTypes[i] = quoteIdent(c), types[c]
	}
	rows, err := src.QueryContext(ctx, `SELECT `+strings.Join(quoted, ", ")+` FROM `+quoteIdent(table))
	if err != nil {
		return 0, fmt.Errorf("read the source: %w", err)
	}
	defer rows.Close()
	in := &copyRows{rows: rows, table: table, cols: cols, types: colTypes,
		scanned: make([]any, len(cols)), dest: make([]any, len(cols)), out: make([]any, len(cols))}
	for i := range in.scanned {
		in.dest[i] = &in.scanned[i]
	}
	var n int64
	err = dst.Raw(func(dc any) error {
		conn, ok := dc.(rebindConn)
		if !ok {
			return fmt.Errorf("the target's connection is %T, not pgx's", dc)
		}
		n, err = conn.Conn.Conn().CopyFrom(ctx, pgx.Identifier{table}, cols, in)
		return err
	})
	return n, err
}

// copyRows feeds source rows to pgx's CopyFrom, converted to the target's
// column types.
type copyRows struct {
	rows    *sql.Rows
	table   string
	cols    []string
	types   []string
	scanned []any
	dest    []any
	out     []any
	err     error
}

func (c *copyRows) Next() bool {
	if !c.rows.Next() {
		return false
	}
	if c.err = c.rows.Scan(c.dest...); c.err != nil {
		return false
	}
	for i, v := range c.scanned {
		if c.out[i], c.err = copyValue(v, c.types[i]); c.err != nil {
			c.err = fmt.Errorf("column %s: %w", c.cols[i], c.err)
			return false
		}
	}
	return true
}

func (c *copyRows) Values() ([]any, error) { return c.out, nil }

func (c *copyRows) Err() error {
	if c.err != nil {
		return c.err
	}
	return c.rows.Err()
}

var _ pgx.CopyFromSource = (*copyRows)(nil)

// copyValue converts a value as SQLite stores it to the PostgreSQL type of
// its column. Text is passed on byte for byte (the audit record is the
// exact signed text).
func copyValue(v any, pgType string) (any, error) {
	if v == nil {
		return nil, nil
	}
	switch pgType {
	case "text":
		switch v := v.(type) {
		case string:
			return v, nil
		case []byte:
			return string(v), nil
		}
	case "bigint", "integer", "smallint":
		if v, ok := v.(int64); ok {
			return v, nil
		}
	case "boolean":
		switch v := v.(type) {
		case bool:
			return v, nil
		case int64:
			if v == 0 || v == 1 {
				return v == 1, nil
			}
		}
	case "bytea":
		switch v := v.(type) {
		case []byte:
			return v, nil
		case string:
			return []byte(v), nil
		}
	case "timestamp with time zone":
		// Session expiry: SQLite keeps a julian day number.
		switch v := v.(type) {
		case float64:
			return julianDayTime(v), nil
		case int64:
			return julianDayTime(float64(v)), nil
		}
	default:
		return nil, fmt.Errorf("PostgreSQL's type %s is one the copy does not know", pgType)
	}
	return nil, fmt.Errorf("the value %v (%T) does not fit PostgreSQL's %s", v, v, pgType)
}

// julianDayTime is the time a julian day number names, to the millisecond
// (the precision tapdesk writes session expiries with).
func julianDayTime(jd float64) time.Time {
	const unixEpochJD = 2440587.5
	ms := math.Round((jd - unixEpochJD) * 86400000)
	return time.UnixMilli(int64(ms)).UTC()
}

// setIdentities moves each identity column's sequence past the copied
// values, so the next row the target numbers itself does not collide.
func setIdentities(ctx context.Context, dst *sql.Conn, table string) error {
	cols, err := queryStrings(ctx, dst, `SELECT column_name FROM information_schema.columns
		WHERE table_schema = current_schema() AND table_name = ? AND is_identity = 'YES'`, table)
	if err != nil {
		return fmt.Errorf("read identity columns: %w", err)
	}
	for _, c := range cols {
		q := fmt.Sprintf(`SELECT setval(pg_get_serial_sequence(?, ?), COALESCE(MAX(%s), 0) + 1, false) FROM %s`, quoteIdent(c), quoteIdent(table))
		if _, err := dst.ExecContext(ctx, q, table, c); err != nil {
			return fmt.Errorf("move the sequence of %s past the copied rows: %w", c, err)
		}
	}
	return nil
}

func queryStrings(ctx context.Context, q querier, query string, args ...any) ([]string, error) {
	return queryAll(ctx, q, scanString, query, args...)
}

// scanString scans a row of one text column.
func scanString(s rowScanner) (string, error) {
	var v string
	err := s.Scan(&v)
	return v, err
}

// quoteIdent quotes a table or column name for both databases.
func quoteIdent(name string) string { return pgx.Identifier{name}.Sanitize() }

func quoteTables(tables []string) string {
	q := make([]string, len(tables))
	for i, t := range tables {
		q[i] = quoteIdent(t)
	}
	return strings.Join(q, ", ")
}

// copyThreatMode carries heightened-threat mode over, with who switched it
// and why: a copy made during an incident must not land with every guard
// the mode raised silently down (the target's migrations create it off).
func copyThreatMode(ctx context.Context, src querier, dst *sql.Conn) error {
	m, err := readThreatRow(ctx, src)
	if err != nil {
		return fmt.Errorf("read heightened-threat mode: %w; nothing was copied", err)
	}
	if err := tapdesk.CheckThreatModeCopy(m); err != nil {
		return err
	}
	var at sql.NullString
	if !m.Since.IsZero() {
		at = sql.NullString{String: ts(m.Since), Valid: true}
	}
	if _, err := dst.ExecContext(ctx, `UPDATE threat_mode SET switched_on = ?, changed_at = ?, changed_by_oid = ?, changed_by_name = ?, reason = ? WHERE id = 1`,
		m.On, at, m.By.ObjectID, m.By.Name, m.Reason); err != nil {
		return fmt.Errorf("copy heightened-threat mode: %w; nothing was copied", err)
	}
	return nil
}
