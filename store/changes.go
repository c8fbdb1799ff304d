package store

import "sync/atomic"

// changeCount counts the writes committed to the database, so that caches
// of what was read from it (the dashboard's lists, decoded sessions) can
// tell at once whether anything may have changed since they read it: a
// cache entry remembers the count it was built under and is used only
// while the count is still the same.
//
// Every write this process commits advances it (inTx; the session rows
// advance their own, below). Writes by another process do not pass through here: on a database
// that several instances share, each must hear of the others' commits (the
// PostgreSQL change feed, LISTEN/NOTIFY) and call NoteExternalChange for
// each, and must say through SetChangeFeed whether that feed is up. Until
// it says so, the count is not trusted and the caches read through.
//
// Session rows have a count of their own (sessions): a page view that
// records activity writes its session row, and with one count for both,
// every such write emptied the dashboard's caches, and every request
// filed or decided made each signed-in person's next request read and
// unseal their session row again. Another instance's commit advances
// both: its change notice does not say what it wrote.
type changeCount struct {
	n        atomic.Uint64 // requests, approvals, links: everything but sessions
	sessions atomic.Uint64 // session rows
	// sole: no other process writes this database (SQLite, one instance),
	// so the count sees every write.
	sole bool
	// feed: another process may write, and the change feed that reports
	// its commits is connected.
	feed atomic.Bool
}

// Generation is the count of committed writes of data other than
// sessions, and whether it can be trusted to move on every write that may
// change what a reader sees (true for a database only this process writes,
// or one whose change feed is up). A cache keyed by it is stale as soon as
// the count differs.
func (db *DB) Generation() (n uint64, trusted bool) {
	return db.changes.n.Load(), db.trustChanges()
}

// sessionGeneration is Generation for the session rows.
func (db *DB) sessionGeneration() (n uint64, trusted bool) {
	return db.changes.sessions.Load(), db.trustChanges()
}

func (db *DB) trustChanges() bool { return db.changes.sole || db.changes.feed.Load() }

// NoteExternalChange advances the counts for a write another instance
// committed (as its change notice arrives), so caches read again.
func (db *DB) NoteExternalChange() {
	db.changes.n.Add(1)
	db.changes.sessions.Add(1)
}

// SetChangeFeed says whether the feed of other instances' commits is up.
// While it is down the count misses writes and caches must not trust it;
// on reconnecting, call NoteExternalChange as well: commits made while it
// was down were not heard.
func (db *DB) SetChangeFeed(up bool) {
	db.changes.n.Add(1)
	db.changes.sessions.Add(1)
	db.changes.feed.Store(up)
}

// changed notes a write this process committed.
func (db *DB) changed() { db.changes.n.Add(1) }

// sessionChanged notes a session row this process wrote or deleted.
func (db *DB) sessionChanged() { db.changes.sessions.Add(1) }
