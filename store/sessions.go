package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"time"
)

// SessionRows is the server-side session store (handlers.SessionRows) on the
// sessions table; on SQLite in scs's sqlite3store layout, so the rows it
// wrote stay readable, and back. Unlike sqlite3store it runs prepared
// statements, which spares the parse of its query on every request. Its
// SQL differs between the databases, so it is in the dialect.
type SessionRows struct{ db *DB }

// SessionRows returns the session store on db.
func (db *DB) SessionRows() *SessionRows { return &SessionRows{db: db} }

// FindCtx returns the data of an unexpired session row.
func (s *SessionRows) FindCtx(ctx context.Context, key string) ([]byte, bool, error) {
	st, err := s.db.prepared(ctx, s.db.dialect.sessionFind)
	if err != nil {
		return nil, false, err
	}
	var b []byte
	err = st.QueryRowContext(ctx, key).Scan(&b)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	return b, true, nil
}

// FindExpiryCtx is FindCtx that also returns when the row expires, so a
// cache of the row can stop using it then, as the query would.
func (s *SessionRows) FindExpiryCtx(ctx context.Context, key string) ([]byte, time.Time, bool, error) {
	st, err := s.db.prepared(ctx, s.db.dialect.sessionFindExpiry)
	if err != nil {
		return nil, time.Time{}, false, err
	}
	var b []byte
	var expiry any
	err = st.QueryRowContext(ctx, key).Scan(&b, &expiry)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, time.Time{}, false, nil
	}
	if err != nil {
		return nil, time.Time{}, false, err
	}
	switch e := expiry.(type) {
	case float64: // SQLite: a julian day number
		return b, julianTime(e), true, nil
	case time.Time: // PostgreSQL: a timestamp
		return b, e.UTC(), true, nil
	}
	return nil, time.Time{}, false, fmt.Errorf("session expiry: unexpected %T", expiry)
}

// julianTime is the time of a julian day number, rounded down to the
// millisecond the expiry was written with.
func julianTime(jd float64) time.Time {
	const unixEpoch = 2440587.5 // julian day of 1970-01-01T00:00Z
	ms := math.Floor((jd - unixEpoch) * 86400 * 1000)
	return time.UnixMilli(int64(ms)).UTC()
}

// Generation is the count of session rows written (DB.Generation's for
// sessions), which every session write advances and other writes leave
// alone.
func (s *SessionRows) Generation() (uint64, bool) { return s.db.sessionGeneration() }

// CommitCtx writes a session row, replacing the one under key.
func (s *SessionRows) CommitCtx(ctx context.Context, key string, b []byte, expiry time.Time) error {
	return s.write(ctx, s.db.dialect.sessionCommit, key, b, s.db.dialect.sessionExpiry(expiry))
}

// DeleteCtx removes a session row.
func (s *SessionRows) DeleteCtx(ctx context.Context, key string) error {
	return s.write(ctx, s.db.dialect.sessionDelete, key)
}

// DeleteExpired removes the rows whose session has expired.
func (s *SessionRows) DeleteExpired(ctx context.Context) error {
	return s.write(ctx, s.db.dialect.sessionDeleteExpired)
}

// write runs one of the session statements (prepared once) in this
// process's turn to write, and advances the sessions' change count, also
// after a failure: the write may have landed.
func (s *SessionRows) write(ctx context.Context, query string, args ...any) error {
	st, err := s.db.prepared(ctx, query)
	if err != nil {
		return err
	}
	if err := s.db.lockWrites(ctx); err != nil {
		return err
	}
	defer s.db.unlockWrites()
	_, err = st.ExecContext(ctx, args...)
	s.db.sessionChanged()
	return err
}

func (s *SessionRows) Find(key string) ([]byte, bool, error) {
	return s.FindCtx(context.Background(), key)
}

func (s *SessionRows) Commit(key string, b []byte, expiry time.Time) error {
	return s.CommitCtx(context.Background(), key, b, expiry)
}

func (s *SessionRows) Delete(key string) error { return s.DeleteCtx(context.Background(), key) }
