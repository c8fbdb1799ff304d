package store

import (
	"context"
	"database/sql"
)

// queryAll runs query on q (the pool, a transaction or a snapshot's
// connection) and scans every row it returns with scan, in order. Callers
// wrap the error once, saying what they were reading.
func queryAll[T any](ctx context.Context, q querier, scan func(rowScanner) (T, error), query string, args ...any) ([]T, error) {
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	return scanAll(rows, scan)
}

// scanAll scans every one of rows with scan and closes them: queryAll's
// loop, for rows from a prepared statement.
func scanAll[T any](rows *sql.Rows, scan func(rowScanner) (T, error)) ([]T, error) {
	defer rows.Close()
	var out []T
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}

// auditHead is the seq of the newest audit event (0: the trail is empty):
// where the readers that follow the trail (alerts, SIEM) compare their
// cursors to.
func auditHead(ctx context.Context, q querier) (int64, error) {
	var head int64
	err := q.QueryRowContext(ctx, `SELECT COALESCE(MAX(seq), 0) FROM audit_events`).Scan(&head)
	return head, err
}

// macAtSeq is the SQL for the mac of the event at the seq bound to its one
// placeholder (empty when the trail holds none there): a cursor stores it
// with its seq, so a cut in the trail's tail below the cursor shows later.
const macAtSeq = `COALESCE((SELECT mac FROM audit_events WHERE seq = ?), '')`
